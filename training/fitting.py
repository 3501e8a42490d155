"""Compile, fit and log a Keras classifier: what every Keras experiment of tasks 2-4 shares.

    model = compile_classifier(make_mlp(...), make_optimizer("adam", 1e-3))
    rows, seconds = fit_logged(model, train, val, epochs, run.file("tensorboard"))
    run.write_history(rows)
    plot_learning_curves(run, rows)
"""

from __future__ import annotations

from suite.plots import new_figure


def history_rows(history) -> list[dict]:
    """A Keras `History` as rows for `history.csv`: epoch (1-based) and every metric."""
    logs = history.history
    epochs = len(next(iter(logs.values()), []))
    start = history.epoch[0] if getattr(history, "epoch", None) else 0
    return [{"epoch": start + i + 1, **{k: float(v[i]) for k, v in logs.items()}}
            for i in range(epochs)]


def plot_learning_curves(run, rows: list[dict], name: str = "learning_curves.png",
                         title: str = "") -> str:
    """Loss and accuracy per epoch, train and validation, side by side; returns the file.
    Rows with an `image_size` (progressive resizing) mark each epoch the photos grew at."""
    fig, (ax_loss, ax_acc) = new_figure(ncols=2, width=10)
    epochs = [r["epoch"] for r in rows]
    grew = [(b["epoch"], int(b["image_size"])) for a, b in zip(rows, rows[1:])
            if "image_size" in a and "image_size" in b and b["image_size"] != a["image_size"]]
    for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            key = prefix + metric
            if rows and key in rows[0]:
                ax.plot(epochs, [r[key] for r in rows], marker=".", label=label)
        for epoch, side in grew:
            ax.axvline(epoch - 0.5, color="grey", linestyle=":",
                       label=f"photos {side}x{side} from here")
        ax.set(xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return run.save_figure(fig, name)


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


# Keras at its best on a CPU: a small net's step is bound by per-step overhead (a Python
# round trip, the callbacks, the tf.data hand-over), not by arithmetic, so `fit` runs this
# many steps in one compiled call (`bench/numpy_vs_keras.py` measures what it buys; the
# README's "Keras at its best on a CPU" has the figure). XLA stays as Keras's
# `jit_compile="auto"` leaves it: off on TensorFlow without an accelerator (Keras 3.15), on
# with a GPU. The maths is unchanged: the same updates in the same order. Callbacks' batch hooks
# run once per call, with the index of the call's last batch (past the epoch's end on its
# last, partial call: count updates with `optimizer.iterations`); a callback that must act on
# every step (a per-step learning rate) compiles its model with 1.
STEPS_PER_EXECUTION = 128


def compile_classifier(model, optimizer, label_smoothing: float = 0.0,
                       crossentropy_metric: bool = False,
                       steps_per_execution: int = STEPS_PER_EXECUTION,
                       jit_compile="auto"):
    """Sparse categorical cross-entropy and accuracy: every classifier of tasks 2-4.

    `label_smoothing` > 0 trains towards (1 - s) on the true class and s / K on each of the
    K classes (Keras's sparse loss has no such option, so the labels are one-hot encoded
    inside the loss). `crossentropy_metric` adds the cross-entropy alone as the metric
    `crossentropy` (`val_crossentropy` in fit's logs): Keras's `loss` includes the weight
    penalties, so a regularised model's `val_loss` is not comparable with an unregularised one's.
    `steps_per_execution`: training steps per compiled call (see `STEPS_PER_EXECUTION`).
    `jit_compile`: XLA; Keras's "auto" turns it off on a machine without an accelerator.
    """
    import keras

    loss = "sparse_categorical_crossentropy"
    if label_smoothing:
        loss = smoothed_crossentropy(label_smoothing, model.output_shape[-1])
    metrics = ["accuracy"]
    if crossentropy_metric:
        metrics.append(keras.metrics.SparseCategoricalCrossentropy(name="crossentropy"))
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  steps_per_execution=steps_per_execution, jit_compile=jit_compile)
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

    per_call = getattr(model, "steps_per_execution", 1) or 1
    if steps_per_epoch and steps_per_epoch % per_call:  # Keras would run whole calls past it
        raise ValueError(f"steps_per_epoch ({steps_per_epoch}) must be a multiple of the "
                         f"model's steps_per_execution ({per_call})")
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
