"""The report's VGG-13 wherever Keras runs: the photos packed small, trained on any backend.

    python -m tasks.task4.portable pack --data-dir ../shared/datasets --out runs/device/dogs64.npz
    KERAS_BACKEND=jax python -m tasks.task4.portable train --photos runs/device/dogs64.npz \\
        --minutes 8 --out runs/device/vgg13

`pack` (TensorFlow's decoder, so the pixels are those `train` sees) writes the seed-0 split
of 18,000 training and 4,500 validation photos at 64x64 as JPEGs in one `.npz` (quality 90:
about 2 KB a photo, small enough to carry to a machine with a GPU and no TensorFlow).
`train` needs only Keras, NumPy and Pillow: it trains the recipe of `python -m tasks.task4
train --model vgg13 --budget-minutes M` (`training.recipes`: report B's VGG-13, 45,238,466
parameters, SGD at 0.015, batches of 16, the report's augmentation; `--momentum` changes
its momentum) with this project's builder, augmentation (`data.augment`'s affine parameters
and matrices, written in `keras.ops`) and callbacks: one `fit`, its epochs planned and its
rate annealed by the budget as `train`'s are, each epoch validated and written to
`history.csv` as soon as it ends, so a run cut short keeps what it measured. The weights
(181 MB) are not saved: this is a measurement of the report's recipe on a GPU, not a model
for `submit`.
"""

from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from suite.cli import Parser, exit_status
from suite.errors import UsageError, must_be

PROG = "python -m tasks.task4.portable"
JPEG_QUALITY = 90
EVAL_BATCH = 256


def pack(data_dir, out, image_size: int = 64, quality: int = JPEG_QUALITY) -> Path:
    """The split's photos, decoded as `train` decodes them, JPEG-encoded into one `.npz`."""
    from PIL import Image

    from data.dogs import decoded_arrays, load_dogs_vs_cats

    data = load_dogs_vs_cats(data_dir, seed=0)
    parts, labels, split = [], [], []
    for which, files, classes in ((0, data.train_files, data.train_labels),
                                  (1, data.val_files, data.val_labels)):
        images, classes = decoded_arrays(files, classes, image_size)
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=quality)
            parts.append(np.frombuffer(buffer.getvalue(), np.uint8))
        labels.append(classes)
        split.append(np.full(len(images), which, np.uint8))
    offsets = np.cumsum([0] + [len(p) for p in parts])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, jpeg=np.concatenate(parts), offsets=offsets,
             labels=np.concatenate(labels), split=np.concatenate(split),
             image_size=image_size)
    return out


def unpack(path, limit: int | None = None):
    """((train images, labels), (validation images, labels)) from `pack`'s file, as uint8;
    `limit`: at most this many photos of each split, drawn at random (seeded)."""
    from PIL import Image

    try:
        with np.load(path) as packed:
            blob, offsets = packed["jpeg"], packed["offsets"]
            labels, split = packed["labels"], packed["split"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise UsageError(must_be("--photos", "a file written by `pack`", str(path))) from None
    out = []
    for which in (0, 1):
        index = np.flatnonzero(split == which)
        if limit:  # the split is in class order: draw, or one class would fill it
            index = np.sort(np.random.default_rng(which).permutation(index)[:limit])
        images = np.stack([np.asarray(Image.open(io.BytesIO(
            blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")) for i in index])
        out.append((images, labels[index]))
    return tuple(out)


def portable_recipe(minutes: float, seed: int = 0, max_epochs: int | None = None,
                    momentum: float | None = None):
    """`train --model vgg13 --budget-minutes minutes`'s recipe, in float32 (a GPU's choice
    is not the host CPU's)."""
    from training.recipes import resolve

    return resolve("vgg13", minutes, flags={"seed": seed, "epochs": max_epochs,
                                            "momentum": momentum, "precision": "float32"})


def train(photos, out, minutes: float, limit: int | None = None, seed: int = 0,
          max_epochs: int | None = None, momentum: float | None = None) -> dict:
    """Train `portable_recipe` on `pack`'s photos for `minutes`; results into `out`."""
    import keras

    from data.augment import AUGMENTS
    from data.photo_batches import AugmentedPhotos
    from models.vgg import trainable_params
    from suite.runs import RunDir
    from training.budgets import recipe_schedule
    from training.callbacks import NaNGuard
    from training.checkpoints import HistoryWriter, previous_rows
    from training.fitting import plot_learning_curves
    from training.nets import compiled_model

    started = time.time()
    recipe = portable_recipe(minutes, seed, max_epochs, momentum)
    (x_train, y_train), (x_val, y_val) = unpack(photos, limit)
    run = RunDir(out, {"photos": str(photos), "limit": limit, "recipe": recipe.to_dict()})
    model = compiled_model(recipe)
    clock = lambda: time.time() - started  # noqa: E731 (the budget's clock)
    batches = AugmentedPhotos(x_train, y_train, recipe.batch_size, AUGMENTS[recipe.augment],
                              recipe.seed)
    about = {"backend": keras.backend.backend(), "keras": keras.__version__,
             "devices": [str(d) for d in _devices()], "params": model.count_params(),
             "trainable_params": trainable_params(model), "train_images": len(x_train),
             "val_images": len(x_val), "recipe": recipe.to_dict(),
             "momentum": recipe.momentum, "budget_minutes": minutes}
    print(f"{len(x_train):,} training / {len(x_val):,} validation photos on "
          f"{about['backend']} {about['devices']}", flush=True)
    guard = NaNGuard()
    model.fit(batches, validation_data=(x_val.astype(np.float32) / 255.0, y_val),
              validation_batch_size=EVAL_BATCH, epochs=recipe.epochs, verbose=2,
              callbacks=[guard, *recipe_schedule(recipe, clock, len(batches), 0.0),
                         HistoryWriter(run, clock)])
    rows = previous_rows(run)
    if not rows:
        return about
    best = max(rows, key=lambda r: r["val_accuracy"])
    metrics = {**about, "epochs": len(rows), "best_epoch": best["epoch"],
               "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
               "seconds": round(clock(), 1)}
    run.write_metrics(metrics)
    plot_learning_curves(run, rows, title="Report B's VGG-13: SGD 0.015, batch 16, the "
                                          "report's augmentation")
    guard.check()
    return metrics


def _devices():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()
    return []


def parser() -> Parser:
    from suite.cli import positive_int
    from training.recipes import flag_type

    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    packing = commands.add_parser("pack", help="write the split's photos as JPEGs in one .npz")
    packing.add_argument("--data-dir", required=True, help="folder holding dogs-vs-cats")
    packing.add_argument("--out", required=True, help="the .npz to write")
    training = commands.add_parser("train", help="train report B's VGG-13 on pack's photos")
    training.add_argument("--photos", required=True, help="pack's .npz")
    training.add_argument("--out", required=True, help="folder for history.csv, metrics.json")
    training.add_argument("--minutes", type=flag_type("budget_minutes"), default=8.0,
                          help="the budget: epochs planned to end within it, the rate "
                               "annealed to zero at the last (default 8)")
    training.add_argument("--limit", type=positive_int,
                          help="at most this many photos of each split")
    training.add_argument("--momentum", type=flag_type("momentum"),
                          help="SGD's momentum (default: train's VGG recipe's)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        from data.errors import DataError

        try:
            if args.command == "pack":
                path = pack(args.data_dir, args.out)
                print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
            else:
                train(args.photos, args.out, args.minutes, args.limit, momentum=args.momentum)
        except NotADirectoryError as error:
            raise DataError(f"cannot write there: {error}") from None
        return 0

    return exit_status("portable", body)


if __name__ == "__main__":
    sys.exit(main())
