"""Keras optimisers by name: the one factory every task and the tuner use."""

from __future__ import annotations

import math

OPTIMIZERS = ("sgd", "adadelta", "adagrad", "adam", "rmsprop")


# Never decayed by `weight_decay`: biases and batch norm's scale and shift. Only the conv
# and dense kernels shrink, the usual AdamW practice.
NOT_DECAYED = ("bias", "gamma", "beta")


def make_optimizer(name: str, learning_rate, momentum: float = 0.0, beta_1: float = 0.9,
                   beta_2: float = 0.999, epsilon: float = 1e-7, weight_decay: float = 0.0):
    """Keras's optimiser `name`.

    Args:
        name: one of `OPTIMIZERS`.
        learning_rate: a positive number, or a Keras learning-rate schedule.
        momentum: SGD's and RMSprop's momentum (the reports' SGD: 0).
        beta_1, beta_2, epsilon: Adam's (the task-2 report's Adam: 0.91, 0.999, 1e-4).
            Adadelta and Adagrad take only the learning rate.
        weight_decay: decoupled weight decay (Keras's, AdamW's for Adam): each step shrinks
            every kernel by `weight_decay * learning rate` of itself; `NOT_DECAYED` are
            left alone. 0: none.

    Example:
        optimizer = make_optimizer("sgd", 0.015)
    """
    import keras

    if isinstance(learning_rate, (int, float)) and not (
            learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning rate must be a positive number; got {learning_rate!r}.")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight decay must be a number >= 0; got {weight_decay!r}.")
    decay = {"weight_decay": weight_decay or None}
    makers = {
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=momentum, **decay),
        "adadelta": lambda: keras.optimizers.Adadelta(learning_rate, **decay),
        "adagrad": lambda: keras.optimizers.Adagrad(learning_rate, **decay),
        "adam": lambda: keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2,
                                              epsilon=epsilon, **decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, momentum=momentum,
                                                    **decay),
    }
    if name not in makers:
        raise ValueError(f"optimizer must be one of {', '.join(makers)}; got {name!r}.")
    optimizer = makers[name]()
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    return optimizer
