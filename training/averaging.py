"""An exponential moving average of a model's weights, validated and saved in their place
(`train --ema d`), as a Keras callback and its partner `.restore`."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from suite.io import atomic_write_npz

# Steps between two updates of the average: each update copies every weight to NumPy, so it
# runs at every fourth step only; with d**4 per update for a decay d per step, the average
# keeps the same time constant over every fourth step's weights.
AVERAGE_EVERY = 4


class WeightAverage(keras.callbacks.Callback):
    """average = d * average + (1 - d) * weights every `AVERAGE_EVERY` steps, d = `decay`
    per step, held back early on (at most (1 + n) / (10 + n) after n updates, so the
    start's random weights fade fast). Every float weight is averaged: kernels and biases,
    and batch norm's moving statistics too. (Keras's own `use_ema` averages the trainable
    weights only, so its averaged kernels would meet the raw net's statistics; and it swaps
    them with `SwapEMAWeights`, which `BackupAndRestore` would then back up as the model.)

    The model trains on its own weights throughout. The average takes their place for
    every validation pass (`on_test_begin` to `on_test_end`) and from this callback's
    `on_epoch_end` to its `.restore` callback's: put the callbacks that should see the
    average (a checkpoint, early stopping) between the two, and `BackupAndRestore` after
    `.restore`. `.apply()` puts the average into the model for good (after fit).

    Args:
        decay: d per step, in [0, 1).
        path: an .npz the average is written to at each epoch's end (with the epochs done)
            and read back by a resumed fit whose first epoch is the one after it; otherwise
            (a fresh fit, or a backup older than the file) the average starts from the
            weights.

    Example:
        average = WeightAverage(0.999, run.file("backup") / "average.npz")
        model.fit(..., callbacks=[average, checkpoint, average.restore, backup])
        average.apply()
    """

    def __init__(self, decay: float, path=None):
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"the weight average's decay must be a number in [0, 1); got "
                             f"{decay!r}.")
        self.decay, self.path = decay, path
        self.average = None
        self.updates = 0  # of the average, over every attempt of the run
        self._steps = 0  # of this fit
        self._own = None  # the model's own weights while the average stands in
        self._averaged = None  # the model's float variables, in `average`'s order
        self.restore = RestoreWeights(self)

    def _variables(self):
        if self._averaged is None:
            self._averaged = [v for v in self.model.weights if "float" in str(v.dtype)]
        return self._averaged

    def _values(self):
        return [np.array(keras.ops.convert_to_numpy(v), np.float32) for v in self._variables()]

    def _load(self, epoch: int) -> bool:
        if self.path is None or not Path(self.path).exists():
            return False
        with np.load(self.path) as saved:
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
        d = min(self.decay ** AVERAGE_EVERY, (1 + self.updates) / (10 + self.updates))
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
        atomic_write_npz(self.path, epochs=epochs_done, updates=self.updates,
                         **{f"w{i}": a for i, a in enumerate(self.average)})

    def on_test_begin(self, logs=None):
        self.stand_in()

    def on_test_end(self, logs=None):
        self.stand_down()

    def on_epoch_end(self, epoch, logs=None):
        self.stand_in()

    def on_train_end(self, logs=None):
        self.stand_down()


class RestoreWeights(keras.callbacks.Callback):
    """`WeightAverage.restore`: the model's own weights back after the callbacks that see
    the average, and the average saved for a resumed run."""

    def __init__(self, average: WeightAverage):
        super().__init__()
        self.average = average

    def on_epoch_end(self, epoch, logs=None):
        self.average.stand_down()
        if self.average.path is not None:
            self.average.save(epoch + 1)
