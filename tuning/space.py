"""What to try: the search space of the Dogs-vs-Cats VGG model, as a KerasTuner `HyperModel`.

`build(hp)` chooses the model's hyper-parameters (depth, kernel size, learning rate,
optimiser) and `fit(hp, model, ...)` chooses the batch size, KerasTuner's documented way to
tune an argument of `fit`. How to choose (the oracle) and how to run (the tuner) live in
`tuning/oracles.py` and `tuning/tuner.py`.

A trial is a task-4 recipe (`training.recipes.Recipe`): the search's base recipe with the
trial's values in place of its own (`VGGHyperModel.trial_recipe`), built, whitened, compiled
and scheduled by the same code as `python -m tasks.task4 train`. Two sizes of net: "cpu",
task 4's `cpu_net` at the report's depths (batch norm, a stride-2 stem, global average
pooling), so that a trial reaches a real accuracy in minutes on a laptop; "report", the
report's own VGG (64 ... 640 filters, dense 4096, 4096; 45,238,466 parameters at depth 13),
for a GPU.

    base = resolve("cpu_net", budget_minutes=4)
    hypermodel = VGGHyperModel(SearchSpace(centre=tuple(centre_of(base).items())), base)
    model = hypermodel.build(keras_tuner.HyperParameters())
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import keras_tuner as kt

from models.vgg import VGG_DEPTHS
from suite.errors import UsageError
from training.recipes import OPTIMIZERS, RECIPES, split_changes

# The hyper-parameters of the report's tables, and a trial's seed.
HPARAMS = ("depth", "kernel_size", "learning_rate", "batch_size", "optimizer")
SEED = "seed"  # a trial's seed: fixed in a search; the noise rows of --one-at-a-time vary it


def centre_of(recipe) -> dict:
    """A recipe's values of the searched hyper-parameters: where a search of it starts."""
    arch = recipe.arch
    depth = arch["depth"]
    return {"depth": depth, "kernel_size": arch["kernel_size"],
            "learning_rate": recipe.learning_rate, "batch_size": recipe.batch_size,
            "optimizer": recipe.optimizer}


# The report's final model (report B): task 4's VGG-13 recipe (SGD lr 0.015, batch 16).
REPORT_HPARAMS = centre_of(RECIPES["vgg"])
# The CPU-sized tables' centre: cpu_net's own layout (6 conv layers, 3x3), SGD lr 0.03 with
# momentum 0.9 (the top of the report's learning-rate table), batch 64 (a batch of 16 leaves
# 2 cores half idle).
CPU_HPARAMS = {**centre_of(RECIPES["cpu_net"]), "learning_rate": 0.03, "optimizer": "sgd"}
CENTRES = {"cpu": CPU_HPARAMS, "report": REPORT_HPARAMS}
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
        base: the recipe every trial starts from (`training.recipes.Recipe`); a trial is it
            with the trial's values in their place.
        size: "cpu" (task 4's `cpu_net` at the report's depths, `base.model` "cpu_net") or
            "report" (the report's VGG, `base.model` a vgg, its filters per depth scaled by
            `width_scale`).
        width_scale: the report size's filter multiplier (1/16 makes a trial take seconds).
        whitening: `whitening(recipe) -> photos` for a recipe that whitens its stem (the
            search's training photos, `training.photos.whitening_from_arrays`).

    Example:
        hypermodel = VGGHyperModel(SearchSpace(), resolve("cpu_net", budget_minutes=3))
        tuner = VGGTuner(oracle, hypermodel, directory="runs/x", project_name="keras_tuner")
        tuner.search(datasets, epochs=100)  # datasets(batch_size, seed) -> (train, val)
    """

    def __init__(self, space: SearchSpace, base, size: str = "cpu", width_scale: float = 1.0,
                 whitening=None):
        super().__init__(name="vgg")
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}; got {size!r}.")
        self.space, self.base, self.size = space, base, size
        self.width_scale, self.whitening = width_scale, whitening

    def declare_hyperparameters(self, hp):
        self.space.declare(hp)

    def architecture(self, depth: int) -> dict:
        """The net's settings at `depth` that are not searched: the report size's filters
        per block, scaled (the cpu size's are the base recipe's)."""
        if self.size == "cpu":
            return {"depth": depth}
        from models.vgg import block_filters

        return {"filters": [[max(1, round(n * self.width_scale)) for n in block]
                            for block in block_filters(depth)]}

    def trial_recipe(self, values: dict):
        """The base recipe with a trial's `values` (`SearchSpace.declare`'s) in place."""
        depth = values["depth"]
        changes = split_changes({**values, **self.architecture(depth)})
        if self.size == "report":
            changes["model"] = f"vgg{depth}"
        return self.base.replace(**changes)

    def fixed_hparams(self, depth: int) -> dict:
        """What `best_hparams.json` needs besides the searched values for `python -m
        tasks.task4 train --hparams` to train the trial's recipe: the net, and every setting
        in which the base recipe differs from the net's own recipe under the same budget."""
        from training.recipes import resolve

        own = resolve(self.base.model, self.base.budget_minutes,
                      flags={"precision": self.base.precision}).to_dict()
        base = self.base.to_dict()
        fixed = {k: v for k, v in split_changes(base).items() if k != "architecture"
                 and own[k] != v and k not in ("epochs", "patience")}
        arch = {k: v for k, v in base["architecture"].items()
                if own["architecture"].get(k) != v and k not in HPARAMS}
        model = self.base.model if self.size == "cpu" else f"vgg{depth}"
        return {"model": model, **fixed, **arch, **self.architecture(depth)}

    def build(self, hp):
        from training.nets import compiled_model

        try:
            recipe = self.trial_recipe(self.space.declare(hp))
            return compiled_model(recipe, self.whitening(recipe) if recipe.whiten and
                                  self.whitening else None, verbose=False)
        except UsageError as error:
            # A value no recipe takes, or a combination the net cannot be built with (a
            # kernel too large for the last blocks' feature maps): the trial fails with this
            # reason, the search goes on.
            raise kt.errors.FailedTrialError(str(error)) from None

    def fit(self, hp, model, datasets, epochs=1, callbacks=(), verbose=2, **kwargs):
        """Train the trial's recipe: its batch size and seed, its schedule (under a trial
        budget, the budget's epochs, warm-up and cosine, as `train`).

        Args:
            datasets: `datasets(recipe) -> (train, val)`, two `tf.data.Dataset`s.
        """
        from training.budgets import recipe_schedule
        from training.callbacks import NaNGuard, NaNLossError

        recipe = self.trial_recipe(self.space.declare(hp))
        train, val = datasets(recipe)
        guard, start = NaNGuard(), time.perf_counter()
        steps = max(1, int(train.cardinality()))
        schedule = recipe_schedule(recipe, lambda: time.perf_counter() - start, steps,
                                   tail_seconds=0.0)
        # The pipeline shuffles; Keras would warn that its own `shuffle` does not apply.
        history = model.fit(train, validation_data=val, epochs=epochs, shuffle=False,
                            callbacks=[*callbacks, *schedule, guard], verbose=verbose,
                            **kwargs)
        try:
            guard.check()
        except NaNLossError as error:
            raise kt.errors.FailedTrialError(str(error)) from None
        return history
