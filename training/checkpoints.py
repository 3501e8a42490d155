"""What makes a training run resumable and its results whole: `history.csv` with every
epoch once (`HistoryWriter`), the best-validation checkpoint written atomically with its
figures beside it (`FiniteCheckpoint`, `best.json`), a backup that survives a kill mid-save
(`FiniteBackup`), and the end of the run (`keep_model`). An epoch whose loss went NaN is
neither checkpointed nor backed up."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

import keras

from suite.errors import UsageError
from suite.io import atomic_write_json, read_csv, read_record
from training.metrics import monitor_mode
from training.nets import save_float32

BEST_FILE = "best.keras"
MODEL_FILE = "model.keras"
# best.keras's epoch and validation figures, written beside it as fit measured them, so the
# run's end reports them without validating the weights a second time.
BEST_RECORD = "best.json"
BACKUP_FOLDER = "backup"
MONITOR = "val_accuracy"


def finite_loss(logs) -> bool:
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


def unreadable(path, error) -> UsageError:
    """The one sentence for a file a resumed run needs and cannot read: it never starts
    over silently."""
    return UsageError(f"{path} is unreadable ({error}); the run cannot go on from it: pass "
                      f"--overwrite to train again from the start, or --out elsewhere.")


def previous_rows(run) -> list[dict]:
    """The rows of `run`'s history.csv (earlier attempts' epochs), numbers as numbers."""
    path = run.file("history.csv")
    if not path.exists():
        return []
    try:
        rows = [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in read_csv(path)]
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise unreadable(path, error) from None
    if any("epoch" not in row for row in rows):
        raise unreadable(path, "a row without its epoch")
    return rows


def best_record(run) -> dict | None:
    """best.keras's epoch and figures from best.json; None without them, or when best.json
    is older than best.keras (a kill between the checkpoint's two writes left the record
    of earlier weights)."""
    weights, record = run.file(BEST_FILE), run.file(BEST_RECORD)
    if not (weights.exists() and record.exists()) or \
            record.stat().st_mtime_ns < weights.stat().st_mtime_ns:
        return None
    figures = read_record(record, ("epoch", "val_accuracy"))
    if figures is None:
        raise unreadable(record, "not the best epoch's figures")
    return figures


class HistoryWriter(keras.callbacks.Callback):
    """Writes `history.csv` after every epoch, keeping earlier attempts' epochs exactly once.

    Rows carry `learning_rate` and `elapsed_seconds`, wall-clock since the run began
    (`clock()`, summed over attempts). The row of an epoch that runs again after a resume
    replaces the earlier one.
    """

    def __init__(self, run, clock):
        super().__init__()
        self.run, self.clock = run, clock
        self.rows = previous_rows(run)

    def on_epoch_begin(self, epoch, logs=None):
        # After every on_train_begin, so BackupAndRestore has set the starting epoch.
        self.rows = [r for r in self.rows if r["epoch"] <= epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "learning_rate": float(keras.ops.convert_to_numpy(
                   self.model.optimizer.learning_rate)),
               "elapsed_seconds": round(self.clock(), 2)}
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        self.run.write_history(self.rows)


class FiniteCheckpoint(keras.callbacks.ModelCheckpoint):
    """The best-validation checkpoint, saved to a temporary file and renamed (a kill
    mid-save never leaves a half-written best.keras), then its epoch's figures recorded in
    best.json; it starts from `best_so_far` (earlier attempts' best) and skips an epoch
    whose loss went NaN."""

    def __init__(self, run, best_so_far=None):
        super().__init__(str(run.file(BEST_FILE)), monitor=MONITOR, mode=monitor_mode(MONITOR),
                         save_best_only=True, initial_value_threshold=best_so_far)
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        if not finite_loss(logs):
            return
        final = self.filepath
        partial = Path(final).with_suffix(".tmp.keras")
        self.filepath = str(partial)
        try:
            super().on_epoch_end(epoch, logs)
        finally:
            self.filepath = final
        if partial.exists():
            os.replace(partial, final)
            atomic_write_json(self.run.file(BEST_RECORD), {"epoch": epoch + 1, **{
                k: float(v) for k, v in logs.items() if k.startswith("val_")}})


class FiniteBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that keeps the previous backup too (a kill mid-save falls back to
    it), starts afresh, with a warning, when no backup can be read, and skips an epoch whose
    loss went NaN."""

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError) as error:
            print(f"warning: the backup in {self.backup_dir} is unreadable ({error}); "
                  f"training starts again from epoch 1.", file=sys.stderr)
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            self.model._initial_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if finite_loss(logs):
            super().on_epoch_end(epoch, logs)


def checkpoint_callbacks(run, patience: int, validated: bool = True, average=None) -> list:
    """Best-val checkpoint (from the best of earlier attempts), early stopping after
    `patience` epochs without a better one (0: never) and the backup; without validation
    (a refit), the backup alone. A `WeightAverage` stands in for the weights from before the
    checkpoint to before the backup, which keeps the weights that train."""
    # The record, not history.csv: a row can outlive its epoch (a kill before the backup)
    # and a NaN epoch's row is never checkpointed. Without one, this attempt's first epoch
    # is checkpointed and recorded afresh.
    best = best_record(run)
    callbacks = [average] if average is not None else []
    if validated:
        callbacks.append(FiniteCheckpoint(run, best["val_accuracy"] if best else None))
    if validated and patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=MONITOR,
                                                       mode=monitor_mode(MONITOR),
                                                       patience=patience))
    if average is not None:
        callbacks.append(average.restore)
    # Last, so an epoch is backed up only after its history row and checkpoint are written.
    callbacks.append(FiniteBackup(run.file(BACKUP_FOLDER)))
    return callbacks


def keep_model(run, model, rows, recipe) -> dict:
    """Save the run's model as model.keras, in float32, and return its epoch's figures
    (`epoch`, the `val_` ones fit measured, and `kept`: "last" or "best").

    Under a budget, or a refit, the last weights: the schedule anneals them to its last
    epoch, and picking an epoch on the validation photos would flatter the figures measured
    on them. Otherwise the best-validation checkpoint, as early stopping keeps it. fit
    validated every epoch (a budget's part-epoch too), so no second pass is needed.
    """
    best = best_record(run)
    if best and not (recipe.budget_minutes or recipe.refit):
        # compile=False wherever best.keras, the training checkpoint, is loaded: a net
        # trained with label smoothing carries a loss Keras cannot rebuild from the file.
        trained = keras.models.load_model(run.file(BEST_FILE), compile=False)
        save_float32(trained, run.file(MODEL_FILE), recipe)
        return {**best, "kept": "best"}
    save_float32(model, run.file(MODEL_FILE), recipe)
    last = rows[-1]
    return {"epoch": last["epoch"], **{k: v for k, v in last.items() if k.startswith("val_")},
            "kept": "last"}
