"""`python -m tasks.task4 analyze`: what a trained model sees and where it goes wrong.

    python -m tasks.task4 analyze --model runs/task4/train/model.keras --data-dir ../shared/datasets

Writes, for the validation photos of the same seeded split the model was trained on:
feature maps after every conv layer for one photo (one grid per layer), galleries of
misclassified photos that are confidently wrong (p >= 0.6 for the wrong class) and
borderline (0.4 <= p <= 0.6), a confusion matrix (scikit-learn), and Grad-CAM heatmaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suite.cli import arg, positive_int
from suite.errors import UsageError, must_be
from suite.plots import new_figure
from suite.report import Report, percent

GALLERY_SIZE = 16
MAX_CHANNELS = 32  # feature maps shown per conv layer
GRADCAM_IMAGES = 8
CONFIDENT = 0.6

ARGUMENTS = [
    arg("--model", default="runs/task4/train/model.keras", help="a saved model.keras"),
    arg("--image", help="the photo whose feature maps are drawn (default: the first "
        "validation photo)"),
    arg("--limit", type=positive_int, help="at most this many photos per class"),
]


def load_images(files, image_size: int) -> np.ndarray:
    """Photos as the pipeline feeds them: (N, size, size, 3) float32 in [0, 1]."""
    from data.dogs import make_dataset

    batches = make_dataset(files, batch_size=256, image_size=image_size, cache=False,
                           check=False)
    return np.concatenate([b.numpy() for b in batches])


def conv_layers(model):
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def feature_maps(run, model, image: np.ndarray) -> list[str]:
    """One PNG per conv layer: the first `MAX_CHANNELS` channels of its output."""
    import keras

    layers = conv_layers(model)
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe.predict(image[None], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    names = []
    for layer, maps in zip(layers, outputs, strict=True):
        maps = maps[0]
        channels = min(MAX_CHANNELS, maps.shape[-1])
        cols = 8
        rows = math.ceil(channels / cols)
        fig, axes = new_figure(rows, cols, width=12, height=1.6)
        for k, ax in enumerate(np.atleast_1d(axes).flat):
            ax.axis("off")
            if k < channels:
                ax.imshow(maps[..., k], cmap="viridis")
        fig.suptitle(f"{layer.name}: {maps.shape[0]}x{maps.shape[1]}, first {channels} of "
                     f"{maps.shape[-1]} channels")
        names.append(run.save_figure(fig, f"feature_maps_{layer.name}.png"))
    return names


def gallery(run, images, titles, name: str, heading: str) -> str | None:
    if len(images) == 0:
        return None
    cols = 8
    rows = math.ceil(len(images) / cols)
    fig, axes = new_figure(rows, cols, width=14, height=2.0)
    for k, ax in enumerate(np.atleast_1d(axes).flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k])
            ax.set_title(titles[k], fontsize=8)
    fig.suptitle(heading)
    return run.save_figure(fig, name)


def grad_cam(model, images: np.ndarray, classes) -> np.ndarray:
    """Grad-CAM heatmaps (N, H, W) in [0, 1] at the last conv layer, for `classes`."""
    import keras
    import tensorflow as tf

    last = conv_layers(model)[-1]
    probe = keras.Model(model.inputs, [last.output, model.output])
    with tf.GradientTape() as tape:
        maps, probabilities = probe(tf.convert_to_tensor(images), training=False)
        chosen = tf.gather(probabilities, classes, axis=1, batch_dims=1)
    grads = tape.gradient(chosen, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))
    cam = cam / (tf.reduce_max(cam, axis=(1, 2), keepdims=True) + 1e-8)
    cam = tf.image.resize(cam[..., None], images.shape[1:3])[..., 0]
    return cam.numpy()


@dataclass
class Predictions:
    """The model's calls on the validation photos: class, its probability, the truth."""

    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray  # the probability of the predicted class
    names: list

    @property
    def wrong(self) -> np.ndarray:
        return self.predicted != self.labels

    def titles(self, index) -> list[str]:
        return [f"{self.names[self.labels[i]]} as {self.names[self.predicted[i]]} "
                f"{self.confidence[i]:.2f}" for i in index]


def predict_validation(args):
    """(model, validation images, `Predictions`) for the seeded split the model trained on."""
    from data.dogs import load_dogs_vs_cats
    from tasks.task4.submit import read_photo_model

    if not Path(args.model).is_file():
        raise UsageError(must_be("--model", "a saved model.keras file (train first: python "
                                 "-m tasks.task4 train)", args.model))
    model = read_photo_model(args.model)
    image_size = int(model.input_shape[1])
    limit = 60 if args.quick else args.limit
    data = load_dogs_vs_cats(args.data_dir, seed=args.seed, limit=limit)
    images = load_images(data.val_files, image_size)
    probabilities = model.predict(images, batch_size=256, verbose=0)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    return model, images, Predictions(data.val_labels, predicted, confidence, data.class_names)


def confusion_figure(run, calls: Predictions) -> np.ndarray:
    """confusion_matrix.png (scikit-learn's display); returns the matrix."""
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    matrix = confusion_matrix(calls.labels, calls.predicted, labels=[0, 1])
    fig, ax = new_figure(width=5, height=4.5)
    ConfusionMatrixDisplay(matrix, display_labels=calls.names).plot(ax=ax, colorbar=False)
    ax.set_title("validation photos")
    run.save_figure(fig, "confusion_matrix.png")
    return matrix


def wrong_galleries(run, images, calls: Predictions):
    """The confidently wrong and borderline galleries: (their indices, their file names)."""
    wrong, confidence = calls.wrong, calls.confidence
    confident = np.flatnonzero(wrong & (confidence >= CONFIDENT))
    borderline = np.flatnonzero(wrong & (confidence < CONFIDENT))  # p(wrong) in [0.5, 0.6)
    # Most confidently wrong first; borderline ones closest to 0.5 first.
    confident = confident[np.argsort(-confidence[confident])][:GALLERY_SIZE]
    borderline = borderline[np.argsort(confidence[borderline])][:GALLERY_SIZE]
    names = [
        gallery(run, images[confident], calls.titles(confident), "wrong_confident.png",
                f"Confidently wrong (p >= {CONFIDENT} for the wrong class)"),
        gallery(run, images[borderline], calls.titles(borderline), "wrong_borderline.png",
                "Borderline and wrong (0.4 <= p(dog) <= 0.6)"),
    ]
    return (confident, borderline), names


def grad_cam_figure(run, model, images, calls: Predictions, confident, borderline) -> None:
    """grad_cam.png: photos above, their heatmaps below; wrong ones first."""
    chosen = np.concatenate([confident[:GRADCAM_IMAGES // 2],
                             borderline[:GRADCAM_IMAGES // 2]]).astype(int)
    if len(chosen) == 0:
        chosen = np.arange(min(GRADCAM_IMAGES, len(images)))
    cams = grad_cam(model, images[chosen], calls.predicted[chosen])
    fig, axes = new_figure(2, len(chosen), width=2 * len(chosen), height=2.2)
    axes = np.asarray(axes).reshape(2, len(chosen))
    for k, i in enumerate(chosen):
        axes[0, k].imshow(images[i])
        axes[0, k].set_title(calls.titles([i])[0], fontsize=7)
        axes[1, k].imshow(images[i])
        axes[1, k].imshow(cams[k], cmap="jet", alpha=0.45)
        for ax in axes[:, k]:
            ax.axis("off")
    fig.suptitle("Grad-CAM at the last conv layer, for the predicted class")
    run.save_figure(fig, "grad_cam.png")


def analyze(args, run):
    """Confusion matrix, wrong galleries, Grad-CAM and feature maps; metrics and report."""
    model, images, calls = predict_validation(args)
    matrix = confusion_figure(run, calls)
    (confident, borderline), galleries = wrong_galleries(run, images, calls)
    grad_cam_figure(run, model, images, calls, confident, borderline)
    image = images[0]
    if args.image:
        image = load_images([args.image], int(model.input_shape[1]))[0]
    maps = feature_maps(run, model, image)

    wrong, confidence = calls.wrong, calls.confidence
    metrics = {"val_accuracy": float(np.mean(~wrong)), "val_images": len(calls.labels),
               "wrong": int(wrong.sum()), "wrong_confident": int(np.sum(wrong & (
                   confidence >= CONFIDENT))), "wrong_borderline": int(np.sum(
                       wrong & (confidence < CONFIDENT))),
               "confusion_matrix": matrix.tolist(), "model": str(args.model)}
    run.write_metrics(metrics)
    run.write_report(analyze_report(args, metrics, matrix, calls.names, galleries, maps))
    return metrics


def analyze_report(args, metrics: dict, matrix, names, galleries, maps) -> Report:
    report = Report("Task 4 analyze: what the model sees and where it errs",
                    f"`{args.model}` on {metrics['val_images']:,} validation photos (seed "
                    f"{args.seed}'s split): {percent(metrics['val_accuracy'])} right.")
    report.table(["", f"predicted {names[0]}", f"predicted {names[1]}"],
                 [[f"true {names[r]}", int(matrix[r, 0]), int(matrix[r, 1])] for r in (0, 1)])
    report.image("confusion_matrix.png", "Confusion matrix (validation)")
    report.paragraph(f"{metrics['wrong_confident']} photos are confidently wrong (p >= 0.6 "
                     f"for the wrong class), {metrics['wrong_borderline']} borderline.")
    for name, caption in zip(galleries, ("Confidently wrong", "Borderline"), strict=True):
        if name:
            report.image(name, caption)
    report.image("grad_cam.png", "Grad-CAM heatmaps")
    report.heading("Feature maps after each conv layer", 3)
    for name in maps:
        report.image(name, name.removeprefix("feature_maps_").removesuffix(".png"))
    return report
