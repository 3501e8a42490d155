"""The report's VGG-13 wherever Keras runs: the photos packed small, trained on any backend.

    python -m tasks.task4.portable pack --data-dir ../shared/datasets --out runs/device/dogs64.npz
    KERAS_BACKEND=jax python -m tasks.task4.portable train --photos runs/device/dogs64.npz \\
        --minutes 8 --out runs/device/vgg13

`pack` (TensorFlow's decoder, so the pixels are those `train` sees) writes the seed-0 split
of 18,000 training and 4,500 validation photos at 64x64 as JPEGs in one `.npz` (quality 90:
about 2 KB a photo, small enough to carry to a machine with a GPU and no TensorFlow).
`train` needs only Keras, NumPy and Pillow: it trains report B's VGG-13 (45,238,466
parameters, SGD at 0.015, batches of 16, the report's augmentation: `train --model
vgg13`'s recipe, momentum 0.9 unless `--momentum` says otherwise) with
this project's builder (`models.vgg.build_vgg`) and augmentation (`data.augment`'s affine
parameters and matrices, which are written in `keras.ops`, applied with
`keras.ops.image.affine_transform`), validating after every epoch until `--minutes` are
spent. Each epoch's row goes to `history.csv` and `metrics.json` as soon as it ends, so a
run cut short keeps what it measured; `learning_curves.png` plots them at the end. The
weights (181 MB) are not saved: this is a measurement of the report's recipe on a GPU, not a
model for `submit`.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from tasks.task4.train import MOMENTUM, RECIPES

# Report B's recipe, as `train --model vgg13` runs it.
LEARNING_RATE, BATCH_SIZE = RECIPES["vgg"]["learning_rate"], RECIPES["vgg"]["batch_size"]
JPEG_QUALITY = 90
AUGMENT_CHUNK = 2048  # photos warped at once
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

    with np.load(path) as packed:
        blob, offsets = packed["jpeg"], packed["offsets"]
        labels, split = packed["labels"], packed["split"]
    out = []
    for which in (0, 1):
        index = np.flatnonzero(split == which)
        if limit:  # the split is in class order: draw, or one class would fill it
            index = np.sort(np.random.default_rng(which).permutation(index)[:limit])
        images = np.stack([np.asarray(Image.open(io.BytesIO(
            blob[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB")) for i in index])
        out.append((images, labels[index]))
    return tuple(out)


def augmented(images, rng, config):
    """`images` (uint8) as float32 in [0, 1], warped by `config` (the project's affine
    parameters and matrices), `AUGMENT_CHUNK` at a time on the backend's device."""
    from keras import ops

    from data.augment import affine_parameters, affine_transforms

    height, width = images.shape[1:3]
    out = np.empty(images.shape, np.float32)
    for start in range(0, len(images), AUGMENT_CHUNK):
        batch = ops.convert_to_tensor(images[start:start + AUGMENT_CHUNK], "float32") / 255.0
        uniform = ops.convert_to_tensor(rng.random((len(batch), 7), np.float32))
        transforms = affine_transforms(affine_parameters(config, uniform, height, width),
                                       height, width)
        warped = ops.image.affine_transform(batch, transforms, interpolation="bilinear",
                                            fill_mode=config.fill_mode,
                                            fill_value=config.cval)
        out[start:start + AUGMENT_CHUNK] = ops.convert_to_numpy(warped)
    return out


def train(photos, out, minutes: float, limit: int | None = None, seed: int = 0,
          max_epochs: int = 200, momentum: float = MOMENTUM) -> dict:
    import keras

    from data.augment import REPORT_AUGMENT
    from models.vgg import build_vgg, trainable_params
    from suite.runs import RunDir
    from training.fitting import compile_classifier, plot_learning_curves
    from training.optimizers import make_optimizer

    started = time.time()
    (x_train, y_train), (x_val, y_val) = unpack(photos, limit)
    run = RunDir(out, {"photos": str(photos), "limit": limit, "seed": seed,
                       "momentum": momentum})
    x_val = x_val.astype(np.float32) / 255.0
    keras.utils.set_random_seed(seed)
    model = build_vgg(depth=13, input_shape=x_train.shape[1:])
    compile_classifier(model, make_optimizer("sgd", LEARNING_RATE, momentum=momentum))
    about = {"backend": keras.backend.backend(), "keras": keras.__version__,
             "devices": [str(d) for d in _devices()], "params": model.count_params(),
             "trainable_params": trainable_params(model), "train_images": len(x_train),
             "val_images": len(x_val), "learning_rate": LEARNING_RATE, "momentum": momentum,
             "batch_size": BATCH_SIZE, "augment": "report", "budget_minutes": minutes}
    print(f"{model.name}: {about['params']:,} parameters on {about['backend']} "
          f"{about['devices']}; {len(x_train):,} training / {len(x_val):,} validation photos",
          flush=True)
    rng = np.random.default_rng(seed)
    rows, best, epoch_seconds = [], None, 0.0
    for epoch in range(max_epochs):
        if time.time() - started + epoch_seconds > 60 * minutes:
            break
        begun = time.time()
        x = augmented(x_train, rng, REPORT_AUGMENT)
        history = model.fit(x, y_train, batch_size=BATCH_SIZE, epochs=epoch + 1,
                            initial_epoch=epoch, shuffle=True, verbose=0)
        val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=EVAL_BATCH,
                                                verbose=0)
        epoch_seconds = time.time() - begun
        rows.append({"epoch": epoch + 1, "loss": history.history["loss"][-1],
                     "accuracy": history.history["accuracy"][-1], "val_loss": val_loss,
                     "val_accuracy": val_accuracy, "seconds": round(epoch_seconds, 2),
                     "elapsed_seconds": round(time.time() - started, 1)})
        if best is None or val_accuracy > best["val_accuracy"]:
            best = rows[-1]
        run.write_history(rows)
        metrics = {**about, "epochs": len(rows), "best_epoch": best["epoch"],
                   "val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
                   "seconds": round(time.time() - started, 1)}
        run.write_metrics(metrics)
        print(f"epoch {epoch + 1}: loss {rows[-1]['loss']:.4f}, accuracy "
              f"{rows[-1]['accuracy']:.4f}, val_accuracy {val_accuracy:.4f} "
              f"({epoch_seconds:.1f} s)", flush=True)
    if rows:
        plot_learning_curves(run, rows, title="Report B's VGG-13: SGD 0.015, batch 16, the "
                                              "report's augmentation")
    return metrics if rows else about


def _devices():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()
    return []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.task4.portable",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="write the split's photos as JPEGs in one .npz")
    packing.add_argument("--data-dir", required=True, help="folder holding dogs-vs-cats")
    packing.add_argument("--out", required=True, help="the .npz to write")
    training = commands.add_parser("train", help="train report B's VGG-13 on pack's photos")
    training.add_argument("--photos", required=True, help="pack's .npz")
    training.add_argument("--out", required=True, help="folder for history.csv, metrics.json")
    training.add_argument("--minutes", type=float, default=8.0,
                          help="stop before the epoch that would end past this")
    training.add_argument("--limit", type=int, help="at most this many photos of each split")
    training.add_argument("--momentum", type=float, default=MOMENTUM,
                          help="SGD's momentum (the report names none; train's VGG recipe "
                               f"uses {MOMENTUM})")
    args = parser.parse_args(argv)
    from data.errors import DataError
    from suite.errors import UsageError

    try:
        if args.command == "pack":
            path = pack(args.data_dir, args.out)
            print(f"{path}: {path.stat().st_size / 2**20:.1f} MiB")
        else:
            train(args.photos, args.out, args.minutes, args.limit, momentum=args.momentum)
    except (OSError, ValueError, KeyError, DataError, UsageError) as error:
        print(f"portable: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
