"""Training under a wall-clock budget, as Keras callbacks: `BudgetSchedule` (task 4's
`train` and the tuner's trials), `TimeBudget` (task 3's cifar10-cnn) and
`ProgressiveResizing`. The arithmetic they follow is in `training/planning.py`.

Two budgets, side by side, because they anneal over different things and so cannot share
one schedule without changing a run: `TimeBudget` follows the budget's elapsed *time* and
needs no epoch count (it suits a fit whose epochs are many and short); `BudgetSchedule`
follows planned *epochs*: the first epoch is timed, the epochs that fit are planned, and the
rate reaches zero at the last of them, so the final epoch ends annealed and validated; it
also resumes (earlier attempts' epoch times) and keeps a tail of the budget for what follows
fit. Both share the cosine, `training.planning.cosine_rate`.
"""

from __future__ import annotations

import time

import keras

from training.planning import EpochPlan, EpochSizes, cosine_rate, warmup_cosine_rate


class BudgetSchedule(keras.callbacks.Callback):
    """Fit the epochs to a wall-clock budget and anneal the learning rate to its end.

    The first epoch runs at `base_lr` (or warms up to it: `warmup_cosine_rate`) and is
    timed; from then on `plan` holds the epochs that still fit (`clock` counts the whole
    run, data loading and earlier attempts included), and the rate follows a cosine from
    `base_lr` to zero over the planned epochs after the `warmup` ones. Training stops when
    the next epoch would not end within the budget, or mid-epoch when the budget less the
    plan's tail is spent. With `plan.sizes`, put `ProgressiveResizing` after this callback.

    Args:
        plan: the `EpochPlan` (budget, tail, epochs at most, sizes, earlier attempts).
        clock: seconds of this run so far, earlier attempts included.
        base_lr: the rate at the top of the schedule.
        steps_per_epoch: training steps in one epoch.
        warmup: epochs of linear warm-up (0: none).

    Example:
        BudgetSchedule(EpochPlan(1800, 45, 1000), clock, 4e-3, 282, warmup=2.0)
    """

    def __init__(self, plan: EpochPlan, clock, base_lr: float, steps_per_epoch: int,
                 warmup: float = 0.0):
        super().__init__()
        self.plan, self.clock = plan, clock
        self.base_lr, self.steps_per_epoch, self.warmup = base_lr, steps_per_epoch, warmup
        self._epoch, self._epoch_start = 0, 0.0

    @property
    def planned_epochs(self) -> int | None:
        return self.plan.planned

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch = self.clock(), epoch
        if self.plan.planned is None and self.plan.seconds:
            self.plan.plan(epoch, self.clock())

    def on_train_batch_begin(self, batch, logs=None):
        if self.plan.planned or self.warmup:
            self.model.optimizer.learning_rate.assign(warmup_cosine_rate(
                self.base_lr, self._epoch + batch / self.steps_per_epoch,
                self.plan.planned or None, self.warmup, step=1 / self.steps_per_epoch))

    def on_train_batch_end(self, batch, logs=None):
        # An epoch longer than what is left (the first one, or one slowed down) must not
        # run the budget over: stop mid-epoch; the best weights so far are kept.
        if self.plan.spent(self.clock()):
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        sizes = self.plan.sizes
        self.plan.record(None if sizes is None else sizes.current,
                         self.clock() - self._epoch_start)
        if self.plan.plan(epoch + 1, self.clock()) < 1:
            self.model.stop_training = True


class TimeBudget(keras.callbacks.Callback):
    """Stop training after `minutes` of wall-clock time and, with `anneal`, lower the
    learning rate along a cosine of the budget's elapsed fraction (from the optimiser's
    rate at the start down to zero), so a run of any length ends annealed.
    `.stopped_early` says whether the budget ended the run; `.seconds` is the time used.
    """

    def __init__(self, minutes: float, anneal: bool = True):
        super().__init__()
        self.budget_seconds = 60.0 * minutes
        self.anneal = anneal
        self.stopped_early = False
        self.seconds = 0.0
        self._start = None
        self._base_lr = None

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._base_lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_begin(self, batch, logs=None):
        self.seconds = time.perf_counter() - self._start
        if self.anneal:
            fraction = min(1.0, self.seconds / self.budget_seconds)
            self.model.optimizer.learning_rate.assign(cosine_rate(self._base_lr, fraction))

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self._start >= self.budget_seconds:
            self.stopped_early = True
            self.model.stop_training = True


class ProgressiveResizing(keras.callbacks.Callback):
    """Set `variable` (the training pipeline's photo side, a `tf.Variable` read at every
    batch) to `sizes`' side at each epoch's start, `planned()` being the current plan of
    epochs, and log the side as `image_size`."""

    def __init__(self, sizes: EpochSizes, variable, planned):
        super().__init__()
        self.sizes, self.variable, self.planned = sizes, variable, planned

    def on_epoch_begin(self, epoch, logs=None):
        # Before the epoch's iterator exists: Keras makes a new one for every epoch of a
        # finite dataset, after on_epoch_begin, so no batch is made at the old size.
        self.variable.assign(self.sizes.begin(epoch, self.planned()))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["image_size"] = self.sizes.current


# The share of the planned epochs trained on the shrunk photos (the first) under
# progressive resizing.
PROGRESSIVE_FRACTION = 0.5


def recipe_schedule(recipe, clock, steps_per_epoch: int, tail_seconds: float,
                    prior_rows=(), resize=None) -> list:
    """The callbacks of the recipe's schedule: under a budget, a `BudgetSchedule` (its
    planned epochs, one-cycle warm-up and cosine), and with progressive resizing a
    `ProgressiveResizing` of `resize` (the pipeline's side) after it; `prior_rows` are the
    earlier attempts' history rows of a resumed run. Empty for a run of plain epochs."""
    sizes = EpochSizes.resumed(recipe.progressive, recipe.image_size, PROGRESSIVE_FRACTION,
                               prior_rows) if recipe.progressive else None
    budget = None
    if recipe.budget_minutes:
        plan = EpochPlan(60 * recipe.budget_minutes, tail_seconds, recipe.epochs, sizes,
                         prior_rows)
        budget = BudgetSchedule(plan, clock, recipe.learning_rate, steps_per_epoch,
                                warmup=recipe.warmup)
    callbacks = [budget] if budget else []
    if sizes is not None:
        callbacks.append(ProgressiveResizing(
            sizes, resize, lambda: budget.planned_epochs if budget else recipe.epochs))
    return callbacks
