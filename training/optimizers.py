"""Keras optimisers by name: the one factory every task and the tuner use."""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "adadelta", "adagrad", "adam", "rmsprop")


def make_optimizer(name: str, learning_rate, momentum: float = 0.0, beta_1: float = 0.9,
                   beta_2: float = 0.999, epsilon: float = 1e-7):
    """Keras's optimiser `name`.

    Args:
        name: one of `OPTIMIZERS`.
        learning_rate: a positive number, or a Keras learning-rate schedule.
        momentum: SGD's and RMSprop's momentum (the reports' SGD: 0).
        beta_1, beta_2, epsilon: Adam's (the task-2 report's Adam: 0.91, 0.999, 1e-4).
            Adadelta and Adagrad take only the learning rate.

    Example:
        optimizer = make_optimizer("sgd", 0.015)
    """
    import keras

    if isinstance(learning_rate, (int, float)) and not (
            learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning rate must be a positive number; got {learning_rate!r}.")
    makers = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=momentum),
        "adadelta": lambda: keras.optimizers.Adadelta(learning_rate),
        "adagrad": lambda: keras.optimizers.Adagrad(learning_rate),
        "adam": lambda: keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2,
                                              epsilon=epsilon),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, momentum=momentum),
    }
    if name not in makers:
        raise ValueError(f"optimizer must be one of {', '.join(makers)}; got {name!r}.")
    return makers[name]()
