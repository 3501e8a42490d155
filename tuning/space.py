"""What to try: the search space of the Dogs-vs-Cats VGG model, as a KerasTuner `HyperModel`.

`build(hp)` chooses the model's hyper-parameters (depth, kernel size, learning rate,
optimiser) and `fit(hp, model, ...)` chooses the batch size, KerasTuner's documented way to
tune an argument of `fit`. How to choose (the oracle) and how to run (the tuner) live in
`tuning/oracles.py` and `tuning/tuner.py`.

    space = SearchSpace(depths=(6, 13), batch_sizes=(16, 32))
    hypermodel = VGGHyperModel(space, width_scale=1 / 16, dense=(64, 64))
    model = hypermodel.build(keras_tuner.HyperParameters())
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras_tuner as kt

from models.vgg import VGG_DEPTHS
from tuning import OPTIMIZERS

# The report's final model (report B): 13 conv layers, 3x3 kernels, SGD lr 0.015, batch 16.
REPORT_HPARAMS = {"depth": 13, "kernel_size": 3, "learning_rate": 0.015, "batch_size": 16,
                  "optimizer": "sgd"}
DEPTHS = tuple(VGG_DEPTHS)
KERNEL_SIZES = (2, 3, 4, 5)
BATCH_SIZES = (16, 32, 64, 128)
LEARNING_RATE_RANGE = (1e-3, 3e-2)  # covers the report's table: 0.001, 0.003, 0.01, 0.03
HPARAMS = ("depth", "kernel_size", "learning_rate", "batch_size", "optimizer")


@dataclass(frozen=True)
class SearchSpace:
    """The values each hyper-parameter may take; the defaults are the whole space.

    Args:
        depths: conv layers (keys of `models.vgg.VGG_DEPTHS`).
        kernel_sizes: side of every conv kernel.
        batch_sizes: batch sizes `fit` may use.
        learning_rates: a list to choose from, or None for log-uniform over
            `LEARNING_RATE_RANGE`.
        optimizers: `"sgd"` and/or `"adam"`.
    """

    depths: tuple = DEPTHS
    kernel_sizes: tuple = KERNEL_SIZES
    batch_sizes: tuple = BATCH_SIZES
    learning_rates: tuple | None = None
    optimizers: tuple = OPTIMIZERS

    def declare(self, hp) -> dict:
        """Register every hyper-parameter on `hp` and return this trial's values."""
        return {
            "depth": hp.Choice("depth", list(self.depths), default=_default(self.depths, 13)),
            "kernel_size": hp.Choice("kernel_size", list(self.kernel_sizes),
                                     default=_default(self.kernel_sizes, 3)),
            "learning_rate": self._learning_rate(hp),
            "batch_size": self.batch_size(hp),
            "optimizer": hp.Choice("optimizer", list(self.optimizers),
                                   default=_default(self.optimizers, "sgd")),
        }

    def batch_size(self, hp) -> int:
        return hp.Choice("batch_size", list(self.batch_sizes),
                         default=_default(self.batch_sizes, 16))

    def _learning_rate(self, hp) -> float:
        if self.learning_rates:
            return hp.Choice("learning_rate", list(self.learning_rates),
                             default=_default(self.learning_rates, 0.015))
        low, high = LEARNING_RATE_RANGE
        return hp.Float("learning_rate", low, high, sampling="log", default=0.015)

    def combinations(self) -> list[dict] | None:
        """Every combination of values, or None when the learning rate is continuous."""
        if not self.learning_rates:
            return None
        axes = (self.depths, self.kernel_sizes, self.learning_rates, self.batch_sizes,
                self.optimizers)
        return [dict(zip(HPARAMS, values, strict=True)) for values in itertools.product(*axes)]


def one_at_a_time(tables: dict | None = None, base: dict = REPORT_HPARAMS) -> list[dict]:
    """The report's method: vary one hyper-parameter, hold the others at `base`.

    Args:
        tables: hyper-parameter -> the values its table tries (default: the report's
            Tables 1-4). A combination shared by several tables (the base itself) is listed
            once.

    Returns:
        The combinations to run, in table order.
    """
    tables = tables or REPORT_TABLES
    combos = []
    for name, values in tables.items():
        for value in values:
            combo = {**base, name: value}
            if combo not in combos:
                combos.append(combo)
    return combos


# The values of the report's Tables 1-4, in its order.
REPORT_TABLES = {
    "depth": (6, 10, 13, 16, 19),
    "kernel_size": (2, 3, 4, 5),
    "batch_size": (16, 32, 64, 128),
    "learning_rate": (0.03, 0.01, 0.003, 0.001),
}


def _default(values, preferred):
    return preferred if preferred in values else values[0]


class VGGHyperModel(kt.HyperModel):
    """The report's VGG, with depth, kernel size, optimiser, learning rate and batch size tuned.

    Args:
        space: the `SearchSpace`.
        input_shape: (height, width, channels) of the images.
        width_scale: multiply every conv layer's filters by this (1 = the report's widths;
            1/16 makes a trial take seconds on a CPU while depth still means depth).
        dense: hidden dense sizes (the report's 4096, 4096).
        momentum: SGD momentum (the report used plain SGD: 0).

    Example:
        hypermodel = VGGHyperModel(SearchSpace(), width_scale=1 / 16, dense=(64, 64))
        tuner = VGGTuner(oracle, hypermodel, directory="runs/x", project_name="keras_tuner")
        tuner.search(datasets, epochs=2)  # datasets(batch_size) -> (train, val)
    """

    def __init__(self, space: SearchSpace = SearchSpace(), input_shape=(64, 64, 3),
                 width_scale: float = 1.0, dense=(4096, 4096), momentum: float = 0.0):
        super().__init__(name="vgg")
        self.space = space
        self.input_shape = tuple(input_shape)
        self.width_scale = width_scale
        self.dense = tuple(dense)
        self.momentum = momentum

    def declare_hyperparameters(self, hp):
        self.space.declare(hp)

    def architecture(self, depth: int) -> dict:
        """`build_vgg`'s `filters` and `dense` for `depth`, as task 4's `--hparams` takes them."""
        from models.vgg import block_filters

        filters = [[max(1, round(n * self.width_scale)) for n in block]
                   for block in block_filters(depth)]
        return {"filters": filters, "dense": list(self.dense)}

    def build(self, hp):
        from models.vgg import build_vgg
        from training.optimizers import make_optimizer

        values = self.space.declare(hp)
        try:
            model = build_vgg(depth=values["depth"], kernel_size=values["kernel_size"],
                              input_shape=self.input_shape, num_classes=2,
                              **self.architecture(values["depth"]))
        except ValueError as error:
            # A combination the net cannot be built with (a kernel too large for the last
            # blocks' feature maps): the trial fails with this reason, the search goes on.
            raise kt.errors.FailedTrialError(str(error)) from None
        optimizer = make_optimizer(values["optimizer"], values["learning_rate"],
                                   momentum=self.momentum)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    def fit(self, hp, model, datasets, epochs=1, callbacks=(), verbose=2, **kwargs):
        """Train with the batch size this trial chose.

        Args:
            datasets: `datasets(batch_size) -> (train, val)`, two `tf.data.Dataset`s.
        """
        from training.callbacks import NaNLossError, nan_guard

        train, val = datasets(self.space.batch_size(hp))
        guard = nan_guard()
        # The pipeline shuffles; Keras would warn that its own `shuffle` does not apply.
        history = model.fit(train, validation_data=val, epochs=epochs, shuffle=False,
                            callbacks=[*callbacks, guard], verbose=verbose, **kwargs)
        try:
            guard.check()
        except NaNLossError as error:
            raise kt.errors.FailedTrialError(str(error)) from None
        return history
