"""Keras callbacks the suite adds to Keras's own, for any fit: a NaN guard that says where
the loss diverged (`NaNGuard`), a per-epoch evaluation of another dataset
(`EvaluateEachEpoch`) and a step-wise loss log (`StepLossLogger`). Budgets are in
`training/budgets.py`, the weight average in `training/averaging.py`, checkpoints and
history in `training/checkpoints.py`."""

from __future__ import annotations

import math

import keras


class NaNLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite."""


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/inf batch loss and remembers where.

    Keras's `TerminateOnNaN` only sets `stop_training`, so `fit` returns as if it had
    finished; after fit, `.check()` raises `NaNLossError` saying where, for the caller to
    report (and exit 1).
    """

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


class EvaluateEachEpoch(keras.callbacks.Callback):
    """Evaluates `dataset` after every epoch and adds `<prefix>_loss` and
    `<prefix>_accuracy` to the epoch's logs, so History, `history.csv` and TensorBoard get
    them. It must run before the TensorBoard callback, as it does in `fit_logged`, which
    appends its TensorBoard callback after the ones it is given.
    """

    def __init__(self, dataset, prefix: str = "test"):
        super().__init__()
        self.dataset, self.prefix = dataset, prefix

    def on_epoch_end(self, epoch, logs=None):
        results = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        if logs is not None:
            for key, value in results.items():
                if key in ("loss", "accuracy"):  # not the regulariser's sub-totals
                    logs[f"{self.prefix}_{key}"] = float(value)


class StepLossLogger(keras.callbacks.Callback):
    """Records the training loss every `every` updates in `.rows` ({"step", "loss"}: the
    mean batch loss since the previous row). Keras's batch logs hold the running mean over
    the epoch so far, and with `steps_per_execution` > 1 arrive once per call; the logger
    counts the batches by the optimiser's updates (a call's batch index can run past the
    epoch's last batch), recovers the sum of the batch losses between two calls from the two
    means, and writes a row at the first call at or after each multiple of `every`."""

    def __init__(self, every: int = 100):
        super().__init__()
        self.every = every
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
            self._next_row = (self.step // self.every + 1) * self.every
