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


# -- added for tasks 2 and 3 (reusable by task 4) -------------------------------------------
def evaluate_each_epoch(dataset, prefix: str = "test"):
    """A callback that evaluates `dataset` after every epoch and adds `<prefix>_loss` and
    `<prefix>_accuracy` to the epoch's logs, so History, `history.csv` and TensorBoard get
    them. Put it before the TensorBoard callback (`fit_callbacks(..., extra=...)` puts it after,
    so pass it first: `[evaluate_each_epoch(test)] + fit_callbacks(run)`).
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
    ({"step", "loss"}; Keras's batch loss is the running mean over the epoch so far, so the
    logger keeps the mean of the last `every` batch values it can recover from it)."""
    import keras

    class StepLossLogger(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = []
            self.step = 0
            self._previous_mean = 0.0
            self._window = []

        def on_epoch_begin(self, epoch, logs=None):
            self._previous_mean = 0.0

        def on_train_batch_end(self, batch, logs=None):
            mean = float((logs or {}).get("loss", float("nan")))
            # Keras logs the mean over batches 0..batch: recover this batch's own loss.
            self._window.append(mean * (batch + 1) - self._previous_mean * batch)
            self._previous_mean = mean
            self.step += 1
            if self.step % every == 0:
                self.rows.append({"step": self.step,
                                  "loss": sum(self._window) / len(self._window)})
                self._window = []

    return StepLossLogger()


def time_budget(minutes: float, anneal: bool = True):
    """A callback that stops training after `minutes` of wall-clock time and, with `anneal`,
    lowers the learning rate along a cosine of the budget's elapsed fraction (from the
    optimiser's rate at the start down to zero), so a run of any length ends annealed.
    `.stopped_early` says whether the budget ended the run; `.seconds` is the time used.
    """
    import math
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
                self.model.optimizer.learning_rate.assign(
                    self._base_lr * 0.5 * (1 + math.cos(math.pi * fraction)))

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self._start >= self.budget_seconds:
                self.stopped_early = True
                self.model.stop_training = True

    return TimeBudget()


def log_confusion_matrix(log_dir, matrix, class_names, step: int = 0,
                         name: str = "confusion_matrix") -> None:
    """Write the confusion matrix as an image into TensorBoard's `log_dir` (Images tab),
    drawn by scikit-learn's `ConfusionMatrixDisplay`."""
    import io

    import tensorflow as tf
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = new_figure(width=7, height=6)
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(
        ax=ax, colorbar=False, xticks_rotation=45)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    image = tf.image.decode_png(buffer.getvalue(), channels=4)[None]
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        tf.summary.image(name, image, step=step)


def load_splits(args, quick_sizes=(2000, 500, 500)):
    """The `--dataset` splits for an experiment (seeded by `--seed`); `--quick` keeps only
    the first `quick_sizes` (train, val, test) examples."""
    import data

    splits = data.load_dataset(args.dataset, args.data_dir, args.seed)
    return splits.subset(*quick_sizes) if args.quick else splits


def compile_classifier(model, optimizer, label_smoothing: float = 0.0,
                       crossentropy_metric: bool = False):
    """Sparse categorical cross-entropy and accuracy: every classifier of tasks 2-4.

    `label_smoothing` > 0 trains towards (1 - s) on the true class and s / K on each of the
    K classes (Keras's sparse loss has no such option, so the labels are one-hot encoded
    inside the loss). `crossentropy_metric` adds the cross-entropy alone as the metric
    `crossentropy` (`val_crossentropy` in fit's logs): Keras's `loss` includes the weight
    penalties, so a regularised model's `val_loss` is not comparable with an unregularised one's.
    """
    import keras

    loss = "sparse_categorical_crossentropy"
    if label_smoothing:
        loss = smoothed_crossentropy(label_smoothing, model.output_shape[-1])
    metrics = ["accuracy"]
    if crossentropy_metric:
        metrics.append(keras.metrics.SparseCategoricalCrossentropy(name="crossentropy"))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model


def smoothed_crossentropy(smoothing: float, num_classes: int):
    """Cross-entropy of integer labels against softmax outputs, with label smoothing."""
    import keras
    from keras import ops

    def smoothed_sparse_crossentropy(y_true, y_pred):
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes)
        return keras.losses.categorical_crossentropy(labels, y_pred,
                                                     label_smoothing=smoothing)

    return smoothed_sparse_crossentropy


def fit_logged(model, train, val, epochs: int, log_dir, callbacks=(), steps_per_epoch=None,
               verbose="auto"):
    """`model.fit` with a TensorBoard log in `log_dir` (scalars and the graph) after the
    given `callbacks`; returns (history rows, train_seconds). Keras's progress bar shows."""
    import time

    import keras

    board = keras.callbacks.TensorBoard(str(log_dir), write_graph=True)
    start = time.perf_counter()
    # shuffle=False: the tf.data pipelines shuffle themselves (Keras would ignore it and warn).
    history = model.fit(train, validation_data=val, epochs=epochs, verbose=verbose,
                        steps_per_epoch=steps_per_epoch, shuffle=False,
                        callbacks=list(callbacks) + [board])
    return history_rows(history), time.perf_counter() - start


TENSORBOARD_NOTE = ("TensorBoard logs (scalars per epoch under Scalars, the model's conceptual "
                    "graph under Graphs) are in `tensorboard/` here; open them with "
                    "`tensorboard --logdir {path}` and browse http://localhost:6006.")
