"""Keras callbacks the suite adds to Keras's own: a NaN guard that says where the loss
diverged, two wall-clock budgets with cosine annealing (`time_budget`, `budget_schedule`),
progressive resizing (`EpochSizes`, `progressive_resizing`), per-epoch test evaluation, a
step-wise loss log, an exponential moving average of the weights (`weight_average`); and
`monitor_mode`, the one rule for whether a metric is better high or low."""

from __future__ import annotations

import math
from pathlib import Path


def monitor_mode(metric: str) -> str:
    """"min" for a loss or an error ("val_loss", "val_crossentropy", "test_error"), else "max"
    (accuracy): what `EarlyStopping`, `ModelCheckpoint` and KerasTuner's objectives need."""
    lowered = metric.lower()
    return "min" if any(word in lowered for word in ("loss", "error", "crossentropy")) else "max"


class NaNLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite."""


def nan_guard():
    """A callback that stops training at the first NaN/inf batch loss, with a message.

    Keras's `TerminateOnNaN` only sets `stop_training`, so `fit` returns as if it had
    finished; this one records the batch and lets the caller say so (and exit 1).
    """
    import keras

    class NaNGuard(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bad_batch = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.bad_batch = (self.epoch, batch, float(loss))
                self.model.stop_training = True

        def check(self):
            """Raise `NaNLossError` if training was stopped by a non-finite loss."""
            if self.bad_batch:
                epoch, batch, loss = self.bad_batch
                raise NaNLossError(
                    f"the loss became {loss} at epoch {epoch + 1}, batch {batch + 1}; "
                    f"lower the learning rate (the best weights so far are kept)")

    return NaNGuard()


def evaluate_each_epoch(dataset, prefix: str = "test"):
    """A callback that evaluates `dataset` after every epoch and adds `<prefix>_loss` and
    `<prefix>_accuracy` to the epoch's logs, so History, `history.csv` and TensorBoard get
    them. It must run before the TensorBoard callback, as it does in `fit_logged`, which
    appends its TensorBoard callback after the ones it is given.
    """
    import keras

    class EvaluateEachEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            results = self.model.evaluate(dataset, verbose=0, return_dict=True)
            if logs is not None:
                for key, value in results.items():
                    if key in ("loss", "accuracy"):  # not the regulariser's sub-totals
                        logs[f"{prefix}_{key}"] = float(value)

    return EvaluateEachEpoch()


def step_loss_logger(every: int = 100):
    """A callback recording the training loss every `every` updates in `.rows`
    ({"step", "loss"}: the mean batch loss since the previous row). Keras's batch logs hold
    the running mean over the epoch so far, and with `steps_per_execution` > 1 arrive once
    per call; the logger counts the batches by the optimiser's updates (a call's batch index
    can run past the epoch's last batch), recovers the sum of the batch losses between two
    calls from the two means, and writes a row at the first call at or after each multiple
    of `every`."""
    import keras

    class StepLossLogger(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []
            self.step = 0
            self._epoch_start = 0  # the optimiser's updates before this epoch
            self._seen = 0  # batches of this epoch counted so far
            self._previous_mean = 0.0
            self._total = 0.0  # the batch losses since the last row (they are step - _row_step)
            self._row_step = 0
            self._next_row = every

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch_start = int(self.model.optimizer.iterations)
            self._seen, self._previous_mean = 0, 0.0

        def on_train_batch_end(self, batch, logs=None):
            mean = float((logs or {}).get("loss", float("nan")))
            seen = int(self.model.optimizer.iterations) - self._epoch_start
            # Keras logs the mean over the epoch's batches so far: recover the new ones'.
            self._total += mean * seen - self._previous_mean * self._seen
            self.step += seen - self._seen
            self._seen, self._previous_mean = seen, mean
            if self.step >= self._next_row:
                self.rows.append({"step": self.step,
                                  "loss": self._total / (self.step - self._row_step)})
                self._total, self._row_step = 0.0, self.step
                self._next_row = (self.step // every + 1) * every

    return StepLossLogger()


# -- wall-clock budgets -----------------------------------------------------------------------
# Two budgets, side by side, because they anneal over different things and so cannot share
# one schedule without changing a run:
#   `time_budget` (task 3's cifar10-cnn) follows the budget's elapsed *time*: it needs no
#   epoch count and suits a fit whose epochs are many and short.
#   `budget_schedule` (task 4's train) follows planned *epochs*: the first epoch is timed, the
#   epochs that fit are planned, and the rate reaches zero at the last of them, so the final
#   epoch ends annealed and validated; it also resumes (earlier attempts' epoch times) and
#   keeps a tail of the budget for what follows fit. Both share the cosine, `cosine_rate`.
def cosine_rate(base_lr: float, fraction: float) -> float:
    """The cosine annealing rate: `base_lr` at `fraction` 0, half of it at 0.5, 0 at 1."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * fraction))


def warmup_cosine_rate(base_lr: float, position: float, planned: int | None,
                       warmup: float = 0.0, step: float = 0.0) -> float:
    """The rate at the step that begins `position` epochs into a run of `planned` epochs
    (None: not planned yet), `step` being one step's share of an epoch: a linear rise over
    the first `warmup` epochs, each step adding `base_lr` * step / warmup (Goyal et al.'s
    warm-up; with the cosine fall after it, a one-cycle), then a cosine from `base_lr` to
    zero at the plan's end. A plan too short for its warm-up warms up for half of it.
    """
    warm = warmup if planned is None else min(warmup, planned / 2)
    if position < warm:
        return base_lr * min(1.0, (position + step) / warm)
    if planned is None:
        return base_lr
    return cosine_rate(base_lr, min(1.0, (position - warm) / (planned - warm)))


def time_budget(minutes: float, anneal: bool = True):
    """A callback that stops training after `minutes` of wall-clock time and, with `anneal`,
    lowers the learning rate along a cosine of the budget's elapsed fraction (from the
    optimiser's rate at the start down to zero), so a run of any length ends annealed.
    `.stopped_early` says whether the budget ended the run; `.seconds` is the time used.
    """
    import time

    import keras

    class TimeBudget(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.budget_seconds = 60.0 * minutes
            self.stopped_early = False
            self.seconds = 0.0
            self._start = None
            self._base_lr = None

        def on_train_begin(self, logs=None):
            self._start = time.perf_counter()
            self._base_lr = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))

        def on_train_batch_begin(self, batch, logs=None):
            self.seconds = time.perf_counter() - self._start
            if anneal:
                fraction = min(1.0, self.seconds / self.budget_seconds)
                self.model.optimizer.learning_rate.assign(cosine_rate(self._base_lr, fraction))

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self._start >= self.budget_seconds:
                self.stopped_early = True
                self.model.stop_training = True

    return TimeBudget()


class EpochSizes:
    """Progressive resizing: the first `fraction` of the planned epochs train on photos
    shrunk to `low` pixels a side, the rest at `full` (fast.ai's DAWNBench runs; the
    "progressive learning" of EfficientNetV2). The cheap epochs come first, while the net
    learns coarse shapes; the last ones, at the size it will be judged at, settle it there.

    Once an epoch has run at `full`, every later one does too (a longer plan never shrinks
    the photos again); `first_full` says since which epoch (0-based), for a resumed run.
    """

    def __init__(self, low: int, full: int, fraction: float, first_full: int | None = None):
        if not 0 < low < full:
            raise ValueError(f"the low size must be in (0, {full}), got {low}.")
        self.low, self.full, self.fraction = low, full, fraction
        self.first_full = first_full
        self.current = None  # the size of the epoch under way

    def switch(self, planned: int | None) -> int | None:
        """The first full-size epoch of a plan of `planned` epochs (None: not yet known)."""
        if self.first_full is not None:
            return self.first_full
        return None if planned is None else math.floor(self.fraction * planned + 0.5)

    def at(self, epoch: int, planned: int | None) -> int:
        """The size epoch `epoch` (0-based) trains at under a plan of `planned` epochs."""
        switch = self.switch(planned)
        return self.low if switch is None or epoch < switch else self.full

    def counts(self, done: int, planned: int) -> dict:
        """{size: epochs} of epochs `done` .. `planned` - 1."""
        switch = self.switch(planned)
        low = max(0, min(switch, planned) - done)
        return {self.low: low, self.full: planned - done - low}

    def begin(self, epoch: int, planned: int | None) -> int:
        self.current = self.at(epoch, planned)
        if self.current == self.full and self.first_full is None:
            self.first_full = epoch
        return self.current


def progressive_resizing(sizes: EpochSizes, variable, planned):
    """A callback that sets `variable` (the training pipeline's photo size, a `tf.Variable`
    read at every batch) to `sizes`' size at each epoch's start, `planned()` being the
    current plan of epochs, and logs the size as `image_size`."""
    import keras

    class ProgressiveResizing(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            # Before the epoch's iterator exists: Keras makes a new one for every epoch of a
            # finite dataset, after on_epoch_begin, so no batch is made at the old size.
            variable.assign(sizes.begin(epoch, planned()))

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["image_size"] = sizes.current

    return ProgressiveResizing()


def budget_schedule(budget_seconds: float, clock, base_lr: float, max_epochs: int,
                    steps_per_epoch: int, tail_seconds: float, prior_rows=(), sizes=None,
                    warmup: float = 0.0):
    """Fit the epochs to a wall-clock budget and anneal the learning rate to its end.

    The first epoch runs at `base_lr` (or warms up to it: `warmup_cosine_rate`) and is
    timed; from then on the plan is the epochs that still fit (`clock` counts the whole
    run, data loading and earlier attempts included), and the rate follows a cosine from
    `base_lr` to zero over the planned epochs after the `warmup` ones. Training
    stops when the next epoch would not end within the budget, or mid-epoch when the budget
    less `tail_seconds` (kept for what follows fit) is spent. A resumed run takes its epoch
    time from the earlier attempts' `history.csv` rows (`prior_rows`, with
    `elapsed_seconds`). `.planned_epochs` is the current plan (None before the first).

    With `sizes` (an `EpochSizes`; its callback after this one), epochs are timed per photo
    size, and a size not timed yet is costed from one that was, scaled by the pixels (an
    over-estimate for a larger size: part of an epoch, validation included, does not grow
    with the training photos).
    """
    import keras

    class BudgetSchedule(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.planned_epochs = None
            self.seconds = {}  # epoch seconds by photo size (None: one size)
            times = [r["elapsed_seconds"] for r in prior_rows if "elapsed_seconds" in r]
            if len(times) >= 2:
                self.seconds[self._size_of(prior_rows[-1])] = times[-1] - times[-2]

        def _size_of(self, row):
            return None if sizes is None else int(row.get("image_size", sizes.full))

        def _cost(self, size) -> float:
            if size in self.seconds:
                return self.seconds[size]
            known = min(self.seconds, key=lambda s: abs(s - size))
            return self.seconds[known] * (size / known) ** 2

        def _epochs_cost(self, done: int, planned: int) -> float:
            counts = {None: planned - done} if sizes is None else sizes.counts(done, planned)
            return sum(n * self._cost(size) for size, n in counts.items() if n)

        def plan(self, epochs_done: int):
            left = budget_seconds - tail_seconds - clock()
            planned = epochs_done
            # Each more epoch costs more (a later switch turns one full-size epoch cheap
            # but adds one): the first that does not fit ends the plan.
            while planned < max_epochs and self._epochs_cost(epochs_done, planned + 1) <= left:
                planned += 1
            self.planned_epochs = planned
            return planned - epochs_done

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch_start = clock()
            self._epoch = epoch
            if self.planned_epochs is None and self.seconds:
                self.plan(epoch)

        def on_train_batch_begin(self, batch, logs=None):
            if self.planned_epochs or warmup:
                self.model.optimizer.learning_rate.assign(warmup_cosine_rate(
                    base_lr, self._epoch + batch / steps_per_epoch,
                    self.planned_epochs or None, warmup, step=1 / steps_per_epoch))

        def on_train_batch_end(self, batch, logs=None):
            # An epoch longer than what is left (the first one, or one slowed down) must not
            # run the budget over: stop mid-epoch; the best weights so far are kept.
            if clock() >= budget_seconds - tail_seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            seconds = clock() - self._epoch_start
            size = None if sizes is None else sizes.current
            # The first epoch also fills the cache: later ones average it away.
            self.seconds[size] = seconds if size not in self.seconds else \
                0.5 * (self.seconds[size] + seconds)
            if self.plan(epoch + 1) < 1 or epoch + 1 >= self.planned_epochs:
                self.model.stop_training = True

    return BudgetSchedule()


# Steps between two updates of `weight_average`: each update copies every weight to NumPy,
# so it runs at every fourth step only; with d**4 per update for a decay d per step, the
# average keeps the same time constant over every fourth step's weights.
AVERAGE_EVERY = 4


def weight_average(decay: float, path=None):
    """An exponential moving average of a model's weights, validated and saved in their place.

    Every `AVERAGE_EVERY` steps, average = d * average + (1 - d) * weights, with d =
    `decay` per step, held back early on (at most (1 + n) / (10 + n) after n updates, so the
    start's random weights fade fast). Every float weight is averaged: kernels and biases,
    and batch norm's moving statistics too. (Keras's own `use_ema` averages the trainable
    weights only, so its averaged kernels would meet the raw net's statistics; and it swaps
    them with `SwapEMAWeights`, which `BackupAndRestore` would then back up as the model.)

    The model trains on its own weights throughout. The average takes their place for
    every validation pass (`on_test_begin` to `on_test_end`) and from this callback's
    `on_epoch_end` to its `.restore` callback's: put the callbacks that should see the
    average (a checkpoint, early stopping) between the two, and `BackupAndRestore` after
    `.restore`. `.apply()` puts the average into the model for good (after fit).

    `path`: an .npz the average is written to at each epoch's end (with the epochs done) and
    read back by a resumed fit whose first epoch is the one after it; otherwise (a fresh
    fit, or a backup older than the file) the average starts from the weights.
    """
    import keras
    import numpy as np

    from suite.io import atomic_write_npz

    if not 0 <= decay < 1:
        raise ValueError(f"the weight average's decay must be a number in [0, 1); got {decay!r}.")

    class WeightAverage(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.average = None
            self.updates = 0  # of the average, over every attempt of the run
            self._steps = 0  # of this fit
            self._own = None  # the model's own weights while the average stands in
            self._averaged = None  # the model's float variables, in `average`'s order
            self.restore = _Restore(self)

        def _variables(self):
            if self._averaged is None:
                self._averaged = [v for v in self.model.weights if "float" in str(v.dtype)]
            return self._averaged

        def _values(self):
            return [np.array(keras.ops.convert_to_numpy(v), np.float32)
                    for v in self._variables()]

        def _load(self, epoch: int) -> bool:
            if path is None or not Path(path).exists():
                return False
            with np.load(path) as saved:
                count = sum(name.startswith("w") for name in saved.files)  # save's w0, w1, ...
                arrays = [saved[f"w{i}"] for i in range(count)]
                if int(saved["epochs"]) != epoch or \
                        [a.shape for a in arrays] != [tuple(v.shape) for v in self._variables()]:
                    return False
                self.average, self.updates = arrays, int(saved["updates"])
            return True

        def on_epoch_begin(self, epoch, logs=None):
            # Here, not on_train_begin: BackupAndRestore has restored the weights by now.
            if self.average is None and not self._load(epoch):
                self.average, self.updates = self._values(), 0

        def on_train_batch_end(self, batch, logs=None):
            self._steps += 1
            if self._steps % AVERAGE_EVERY:
                return
            self.updates += 1
            d = min(decay ** AVERAGE_EVERY, (1 + self.updates) / (10 + self.updates))
            for average, value in zip(self.average, self._values(), strict=True):
                average *= d
                average += (1 - d) * value

        def stand_in(self):
            if self._own is None and self.average is not None:
                self._own = self._values()
                self._assign(self.average)

        def stand_down(self):
            if self._own is not None:
                self._assign(self._own)
                self._own = None

        def _assign(self, values):
            for variable, value in zip(self._variables(), values, strict=True):
                variable.assign(value.astype(variable.dtype))

        def apply(self):
            """The average into the model for good."""
            self.stand_down()
            if self.average is not None:
                self._assign(self.average)

        def save(self, epochs_done: int):
            atomic_write_npz(path, epochs=epochs_done, updates=self.updates,
                             **{f"w{i}": a for i, a in enumerate(self.average)})

        def on_test_begin(self, logs=None):
            self.stand_in()

        def on_test_end(self, logs=None):
            self.stand_down()

        def on_epoch_end(self, epoch, logs=None):
            self.stand_in()

        def on_train_end(self, logs=None):
            self.stand_down()

    class _Restore(keras.callbacks.Callback):
        def __init__(self, average):
            super().__init__()
            self.average = average

        def on_epoch_end(self, epoch, logs=None):
            self.average.stand_down()
            if path is not None:
                self.average.save(epoch + 1)

    return WeightAverage()
