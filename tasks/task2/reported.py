"""The course report's task-2 figures (../shared/REPORTED.md), shown beside ours in report.md.

These are the published numbers, copied as they were printed (CIFAR-10); nothing here is a
result of this suite.
"""

# best: the report's best MLP (300 ReLU, L2 2.3, Adam lr 2e-5, 7,000 steps) on the test set.
BEST_TEST_ACCURACY = "about 54% (CIFAR-10)"

# analyze: the class the best MLP got right least and most often (of 1,000 test images each).
FEWEST_RIGHT = "dog: 403 of 1,000, 251 called cat (CIFAR-10)"
MOST_RIGHT = "automobile: 679 (CIFAR-10)"
