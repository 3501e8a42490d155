"""What to try: the search space of the Dogs-vs-Cats VGG model, as a KerasTuner `HyperModel`.

`build(hp)` chooses the model's hyper-parameters (depth, kernel size, learning rate,
optimiser) and `fit(hp, model, ...)` chooses the batch size, KerasTuner's documented way to
tune an argument of `fit`. How to choose (the oracle) and how to run (the tuner) live in
`tuning/oracles.py` and `tuning/tuner.py`.

Two sizes of net (`--size`): "cpu", the default, is task 4's `cpu_net` at the report's depths
(batch norm, a stride-2 stem, global average pooling instead of two 4096-wide dense layers),
so that a trial reaches a real accuracy in minutes on a laptop; "report" is the report's own
VGG (64 ... 640 filters, dense 4096, 4096; 45,238,466 parameters at depth 13), for a GPU.

    space = SearchSpace(depths=(6, 13), batch_sizes=(16, 32))
    hypermodel = VGGHyperModel(space, size="cpu")
    model = hypermodel.build(keras_tuner.HyperParameters())
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras_tuner as kt

from models.vgg import VGG_DEPTHS
from tasks.task4.train import RECIPES
from training.precision import compute_precision, resolve
from tuning import OPTIMIZERS

# The report's final model (report B): 13 conv layers, 3x3 kernels, SGD lr 0.015, batch 16.
REPORT_HPARAMS = {"depth": 13, "kernel_size": 3, "learning_rate": 0.015, "batch_size": 16,
                  "optimizer": "sgd"}
# The CPU-sized space's centre: cpu_net's own layout (6 conv layers, 3x3), SGD lr 0.03 with
# momentum 0.9 (the top of the report's learning-rate table), batch 64 (a batch of 16 leaves
# 2 cores half idle).
CPU_HPARAMS = {"depth": 6, "kernel_size": 3, "learning_rate": 0.03, "batch_size": 64,
               "optimizer": "sgd"}
CENTRES = {"cpu": CPU_HPARAMS, "report": REPORT_HPARAMS}
# Where a search (not the one-at-a-time tables) starts, its first trial: the recipe a search
# has to beat. For the CPU size that is task 4's `train` default: cpu_net's layout (the
# tables' centre) with its recipe's optimiser, lr and batch (Adam, 2e-3, 64), so a search's
# best is at least that recipe by the search's own measure.
SEARCH_CENTRES = {"cpu": {**CPU_HPARAMS, **{
    k: RECIPES["cpu_net"][k] for k in ("learning_rate", "batch_size", "optimizer")}},
    "report": REPORT_HPARAMS}
DEPTHS = tuple(VGG_DEPTHS)
KERNEL_SIZES = (2, 3, 4, 5)
BATCH_SIZES = (16, 32, 64, 128)
LEARNING_RATE_RANGE = (1e-3, 3e-2)  # covers the report's table: 0.001, 0.003, 0.01, 0.03
HPARAMS = ("depth", "kernel_size", "learning_rate", "batch_size", "optimizer")
SEED = "seed"  # a trial's seed: fixed in a search; the noise rows of --one-at-a-time vary it


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
        centre: each hyper-parameter's default (a random or Bayesian search's first trial).
        seeds: the seeds trials may use (one, fixed, unless --one-at-a-time measures noise).
    """

    depths: tuple = DEPTHS
    kernel_sizes: tuple = KERNEL_SIZES
    batch_sizes: tuple = BATCH_SIZES
    learning_rates: tuple | None = None
    optimizers: tuple = OPTIMIZERS
    centre: tuple = tuple(CPU_HPARAMS.items())
    seeds: tuple = (0,)

    def declare(self, hp) -> dict:
        """Register every hyper-parameter on `hp` and return this trial's values."""
        return {
            "depth": self._choice(hp, "depth", self.depths),
            "kernel_size": self._choice(hp, "kernel_size", self.kernel_sizes),
            "learning_rate": self._learning_rate(hp),
            "batch_size": self.batch_size(hp),
            "optimizer": self._choice(hp, "optimizer", self.optimizers),
            SEED: self.seed(hp),
        }

    def _choice(self, hp, name: str, values):
        return hp.Choice(name, list(values), default=_default(values, dict(self.centre)[name]))

    def batch_size(self, hp) -> int:
        return self._choice(hp, "batch_size", self.batch_sizes)

    def seed(self, hp) -> int:
        if len(self.seeds) == 1:
            return hp.Fixed(SEED, self.seeds[0])
        return hp.Choice(SEED, list(self.seeds), default=self.seeds[0])

    def _learning_rate(self, hp) -> float:
        if self.learning_rates:
            return self._choice(hp, "learning_rate", self.learning_rates)
        low, high = LEARNING_RATE_RANGE
        centre = dict(self.centre)["learning_rate"]
        return hp.Float("learning_rate", low, high, sampling="log",
                        default=min(max(centre, low), high))

    def combinations(self) -> list[dict] | None:
        """Every combination of values, or None when the learning rate is continuous."""
        if not self.learning_rates:
            return None
        axes = (self.depths, self.kernel_sizes, self.learning_rates, self.batch_sizes,
                self.optimizers, self.seeds)
        return [dict(zip((*HPARAMS, SEED), values, strict=True))
                for values in itertools.product(*axes)]


def one_at_a_time(tables: dict | None = None, base: dict = REPORT_HPARAMS,
                  seeds=(0,)) -> list[dict]:
    """The report's method: vary one hyper-parameter, hold the others at `base`.

    Args:
        tables: hyper-parameter -> the values its table tries (default: the report's
            Tables 1-4). A combination shared by several tables (the base itself) is listed
            once.
        seeds: every combination runs with the first; the base runs again with each other
            one, last, so that the tables carry the spread of one configuration's results.

    Returns:
        The combinations to run (each with its `seed`), in table order, the repeats last.
    """
    tables = tables or REPORT_TABLES
    first, *others = seeds
    combos = []
    for name, values in tables.items():
        for value in values:
            combo = {**base, name: value, SEED: first}
            if combo not in combos:
                combos.append(combo)
    return combos + [{**base, SEED: seed} for seed in others]


# The values of the report's Tables 1-4, in its order.
REPORT_TABLES = {
    "depth": (6, 10, 13, 16, 19),
    "kernel_size": (2, 3, 4, 5),
    "batch_size": (16, 32, 64, 128),
    "learning_rate": (0.03, 0.01, 0.003, 0.001),
}


def _default(values, preferred):
    return preferred if preferred in values else values[0]


SIZES = ("cpu", "report")
class VGGHyperModel(kt.HyperModel):
    """A VGG with depth, kernel size, optimiser, learning rate, batch size (and seed) tuned.

    Args:
        space: the `SearchSpace`.
        size: "cpu" (task 4's `cpu_net` at the report's depths) or "report" (the report's
            VGG with two dense layers).
        input_shape: (height, width, channels) of the images.
        width_scale: multiply every conv layer's filters by this (1 = cpu_net's 24 ... 256,
            or the report's 64 ... 640; 1/16 makes a report-size trial take seconds).
        dense: the report size's hidden dense sizes (the report's 4096, 4096).
        momentum: SGD momentum (the report used plain SGD: 0).
        trial_minutes: train each trial this long (the learning rate annealed to zero over
            it, `training.callbacks.time_budget`) within fit's epochs; None = the epochs alone.
        precision: "float32", "bfloat16" or "auto" (`training.precision`): the arithmetic
            of the trials' steps.
        label_smoothing: the trials' label smoothing (0 = plain labels).

    Example:
        hypermodel = VGGHyperModel(SearchSpace(), size="cpu", trial_minutes=3)
        tuner = VGGTuner(oracle, hypermodel, directory="runs/x", project_name="keras_tuner")
        tuner.search(datasets, epochs=100)  # datasets(batch_size, seed) -> (train, val)
    """

    def __init__(self, space: SearchSpace = SearchSpace(), size: str = "cpu",
                 input_shape=(64, 64, 3), width_scale: float = 1.0, dense=(4096, 4096),
                 momentum: float = 0.9, trial_minutes: float | None = None,
                 precision: str = "float32", label_smoothing: float = 0.0):
        super().__init__(name="vgg")
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}; got {size!r}.")
        self.space = space
        self.size = size
        self.input_shape = tuple(input_shape)
        self.width_scale = width_scale
        self.dense = tuple(dense)
        self.momentum = momentum
        self.trial_minutes = trial_minutes
        self.precision = resolve(precision)
        self.label_smoothing = label_smoothing

    def declare_hyperparameters(self, hp):
        self.space.declare(hp)

    def architecture(self, depth: int) -> dict:
        """The net's fixed settings at `depth`, as task 4's `--hparams` takes them: `cpu_net`
        and its width, or `build_vgg`'s `filters` and `dense`."""
        if self.size == "cpu":
            return {"model": "cpu_net", "width": max(4, round(32 * self.width_scale))}
        from models.vgg import block_filters

        filters = [[max(1, round(n * self.width_scale)) for n in block]
                   for block in block_filters(depth)]
        return {"filters": filters, "dense": list(self.dense)}

    def make_model(self, depth: int, kernel_size: int):
        from models.vgg import build_cpu_net, build_vgg

        arch = self.architecture(depth)
        with compute_precision(self.precision):
            if self.size == "cpu":
                return build_cpu_net(self.input_shape, 2, width=arch["width"], depth=depth,
                                     kernel_size=kernel_size)
            return build_vgg(depth=depth, kernel_size=kernel_size,
                             input_shape=self.input_shape, num_classes=2, **arch)

    def build(self, hp):
        import keras

        from training.fitting import compile_classifier
        from training.optimizers import make_optimizer

        values = self.space.declare(hp)
        keras.utils.set_random_seed(values[SEED])
        try:
            model = self.make_model(values["depth"], values["kernel_size"])
        except ValueError as error:
            # A combination the net cannot be built with (a kernel too large for the last
            # blocks' feature maps): the trial fails with this reason, the search goes on.
            raise kt.errors.FailedTrialError(str(error)) from None
        optimizer = make_optimizer(values["optimizer"], values["learning_rate"],
                                   momentum=self.momentum)
        # One step per call: a trial's time budget sets the learning rate before every step (16
        # steps a call measured no faster for cpu_net here).
        return compile_classifier(model, optimizer, label_smoothing=self.label_smoothing,
                                  steps_per_execution=1)

    def fit(self, hp, model, datasets, epochs=1, callbacks=(), verbose=2, **kwargs):
        """Train with the batch size and seed this trial chose, for `trial_minutes` if set.

        Args:
            datasets: `datasets(batch_size, seed) -> (train, val)`, two `tf.data.Dataset`s.
        """
        from training.callbacks import NaNLossError, nan_guard, time_budget

        train, val = datasets(self.space.batch_size(hp), self.space.seed(hp))
        guard = nan_guard()
        budget = [time_budget(self.trial_minutes)] if self.trial_minutes else []
        # The pipeline shuffles; Keras would warn that its own `shuffle` does not apply.
        history = model.fit(train, validation_data=val, epochs=epochs, shuffle=False,
                            callbacks=[*callbacks, *budget, guard], verbose=verbose, **kwargs)
        try:
            guard.check()
        except NaNLossError as error:
            raise kt.errors.FailedTrialError(str(error)) from None
        return history
