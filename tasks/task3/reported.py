"""The course reports' task-3 figures (../shared/REPORTED.md), shown beside ours in report.md.

These are the published numbers, copied as they were printed; nothing here is a result of
this suite.
"""

# cnn-vs-mlp (MNIST): validation accuracy of the reports' CNNs and MLP, the big CNN's size.
CNN_50K_VAL = "98% (MNIST)"
MLP_VAL = "97.6% (MNIST)"
CNN_206K_VAL = "about 98% (MNIST)"
CNN_206K_PARAMS = "206,500"

# weight-decay: which model reached the lower test error.
LOWER_TEST_ERROR = "the model without weight decay"

# bn-vs-dropout: which variant learned faster.
LEARNS_FASTER = "batch norm"

# cifar10-cnn: the course's default ConvNet.
COURSE_CONVNET_TEST = "about 70% after 4,000 steps (CIFAR-10)"
