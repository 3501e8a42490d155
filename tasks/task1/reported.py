"""The course reports' task-1 figures (../shared/REPORTED.md), shown beside ours in report.md.

These are the published numbers, copied as they were printed; nothing here is a result of
this suite.
"""

# init, report A: 784-500-400-10 ReLU, lr 7e-4, batch 64; mean training loss per epoch.
INIT_LOSS = {
    "zero": [2.3026] * 10,
    "normal": [2.058, 1.644, 1.385, 1.209, 1.121, 1.023, 0.899, 0.835, 0.822, 0.773],
    "glorot": [1.935, 1.568, 1.237, 0.994, 0.832, 0.724, 0.649, 0.594, 0.552, 0.519],
}

# search, report A: best of a 72-point grid (15 epochs), and how many reached 98%.
SEARCH_BEST = {"lr": 0.1, "batch_size": 16, "hidden": "600-400", "activation": "relu",
               "params": 715_410, "val_accuracy": 0.9842, "at_least_98": "17 of 72"}

# gradcheck, report A: the smallest difference was near eps = 0.003.
GRADCHECK_BEST_EPS = 0.003

# tricks: (train, val, test) accuracy in % at each of TABLE_EPOCHS, cumulative.
TRICKS = {
    "base": [(85.9, 85.3, 86.0), (92.0, 91.6, 91.6), (93.8, 93.0, 92.8), (94.8, 93.4, 93.5)],
    "+ shuffle": [(85.6, 85.0, 86.1), (92.4, 91.0, 91.7), (94.2, 92.4, 93.0), (95.3, 93.6, 93.7)],
    "+ improved sigmoid": [(81.9, 81.3, 82.0), (91.8, 91.0, 91.3), (93.5, 92.1, 92.9),
                           (94.6, 93.5, 93.7)],
    "+ fan-in normal init": [(94.5, 94.3, 94.1), (97.3, 96.1, 96.5), (98.1, 96.4, 96.9),
                             (98.8, 96.7, 97.1)],
    "+ momentum 0.9": [(93.8, 93.2, 93.6), (96.9, 95.4, 96.0), (98.4, 96.4, 97.0),
                       (98.8, 96.4, 97.0)],
}
TRICKS_VALIDATION_SHARE = 0.10  # of the training set, held out for validation

# The epochs of the report's tables (tricks, topology): ours are tabulated at the same ones.
TABLE_EPOCHS = (1, 5, 10, 15)

# topology: (train, val, test) accuracy in % at epoch 15 (the last of TABLE_EPOCHS).
TOPOLOGY = {"5": (85.6, 84.1, 84.7), "10": (92.4, 91.6, 91.5), "20": (95.7, 95.0, 94.7),
            "32": (97.4, 95.2, 95.9), "64": (98.8, 96.7, 97.1), "128": (99.5, 97.3, 97.5),
            "60-60": (98.8, 97.0, 96.8)}

REGULARIZE = "about 98% validation and test accuracy (ReLU, Xavier, dropout, lr decay)"

CIFAR10_NUMPY_TEST = 0.46  # 1 hidden layer of 100, lr 0.002, batch 200, 1,500 steps

# Report B's rows: `init --hidden 24,12` quotes its losses; `python -m tasks report` judges
# both.
# init, report B (784-24-12-10, lr 0.01, batch 1000): mean training loss per epoch.
INIT_LOSS_B = {"zero": [2.3] * 10,
               "normal": [3.41, 2.25, 2.20, 2.18, 2.16, 2.15, 2.13, 2.11, 2.08, 2.03],
               "glorot": [1.55, 0.55, 0.40, 0.35, 0.32, 0.30, 0.29, 0.27, 0.26, 0.25]}
SEARCH_B_VAL = 0.972  # 64-32 ReLU, lr 0.01, batch 64, 50 epochs


def is_report_b_init(hidden) -> bool:
    """Whether `init --hidden` (parsed, or as a config.json holds it) names report B's net,
    784-24-12-10."""
    return _sizes(hidden) == [24, 12]


def is_report_b_search(hidden1, hidden2) -> bool:
    """Whether `search --hidden1 --hidden2` (parsed, or from a config.json) search report
    B's 64-32 net alone."""
    return _sizes(hidden1) == [64] and _sizes(hidden2) == [32]


def _sizes(values) -> list | None:
    """Layer sizes as a list; None for anything else (absent, or a garbled config)."""
    return list(values) if isinstance(values, (list, tuple)) else None
