"""What every Keras experiment of tasks 2-4 shares: callbacks, history, learning curves.

Keras is imported inside the functions, so the NumPy-only task 1 never pays for it.

    callbacks = fit_callbacks(run, tensorboard=True)
    history = model.fit(train, validation_data=val, epochs=10, callbacks=callbacks)
    rows = history_rows(history)
    run.write_history(rows)
    plot_learning_curves(run, rows)
"""

from __future__ import annotations

import math

from tasks.common.plots import new_figure


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


def fit_callbacks(run, *, tensorboard: bool = True, backup: bool = False,
                  checkpoint: str | None = None, monitor: str = "val_accuracy",
                  patience: int | None = None, extra=()):
    """The callbacks a results folder wants, all Keras's own.

    Args:
        run: the `RunDir`; TensorBoard logs go to `run/tensorboard`, backups to `run/backup`.
        tensorboard: write TensorBoard scalars and the graph.
        backup: `BackupAndRestore`, so rerunning an interrupted command resumes it.
        checkpoint: file name for `ModelCheckpoint(save_best_only=True)` on `monitor`.
        patience: `EarlyStopping(patience, restore_best_weights=True)` on `monitor`.
        extra: more callbacks, appended last.
    """
    import keras

    mode = "min" if "loss" in monitor else "max"
    callbacks = []
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(str(run.file("backup"))))
    if checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(run.file(checkpoint)), monitor=monitor, mode=mode, save_best_only=True))
    if patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=True))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run.file("tensorboard"))))
    return callbacks + list(extra)


def history_rows(history) -> list[dict]:
    """A Keras `History` as rows for `history.csv`: epoch (1-based) and every metric."""
    logs = history.history
    epochs = len(next(iter(logs.values()), []))
    start = history.epoch[0] if getattr(history, "epoch", None) else 0
    return [{"epoch": start + i + 1, **{k: float(v[i]) for k, v in logs.items()}}
            for i in range(epochs)]


def plot_learning_curves(run, rows: list[dict], name: str = "learning_curves.png",
                         title: str = "") -> str:
    """Loss and accuracy per epoch, train and validation, side by side; returns the file."""
    fig, (ax_loss, ax_acc) = new_figure(ncols=2, width=10)
    epochs = [r["epoch"] for r in rows]
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            key = prefix + metric
            if rows and key in rows[0]:
                ax.plot(epochs, [r[key] for r in rows], marker=".", label=label)
        ax.set(xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return run.save_figure(fig, name)


def count_params(model) -> int:
    return int(model.count_params())
