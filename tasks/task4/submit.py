"""`python -m tasks.task4 submit`: a Kaggle submission file from a trained model.

    python -m tasks.task4 submit --model runs/task4/train/model.keras \\
        --images ../shared/datasets/dogs-vs-cats/test1 --out submission.csv

The file is `id,label`, one row per readable test photo `<id>.jpg`, sorted by numeric id;
the label is `Cat` or `Dog`, or with `--probabilities` the probability of a dog (the format
of Kaggle's "Dogs vs. Cats Redux"). It is validated before it is written, atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from data.augment import TTA_MODES, describe_tta
from suite.cli import arg
from suite.errors import UsageError, must_be
from suite.io import atomic_write_text, read_keras_model
from suite.report import Report
from tasks.task4 import reported

LABELS = ("Cat", "Dog")
PREDICT_BATCH = 256
# The views that scored best on the validation photos of nearly every run they were measured on
# (`train` measures each mode on its own run; tasks/task4/README.md has the figures).
DEFAULT_TTA = "flip-zoom"

ARGUMENTS = [
    arg("--model", default="runs/task4/train/model.keras", help="a saved model.keras"),
    arg("--images", help="folder of test photos <id>.jpg (default: the dataset's test1/)"),
    arg("--probabilities", action="store_true",
        help="write the probability of a dog instead of Cat/Dog"),
    arg("--tta", choices=tuple(TTA_MODES), default=DEFAULT_TTA,
        help="test-time augmentation: the probabilities of each photo's views averaged ("
             + "; ".join(f"{mode}: {describe_tta(mode)}" for mode in TTA_MODES)
             + "; shifts are 1/16 of the side); train measures each on the validation "
             "photos (tasks/task4/README.md has the figures)"),
]


def test_images(folder) -> tuple[list[str], list[int], list[str]]:
    """(files, numeric ids, other files) of a test folder, sorted by id."""
    from data.dogs import list_test_photos

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(must_be("--images", "a folder of test photos <id>.jpg (Kaggle's "
                                 "test1/)", str(folder)))
    files, ids, other = list_test_photos(folder)
    if len(set(ids)) != len(ids):
        raise UsageError(f"{folder} holds two photos with the same id (e.g. 1.jpg and "
                         f"1.png); keep one per id.")
    if not files:
        raise UsageError(f"{folder} holds no test photos named <id>.jpg.")
    return files, ids, other


def submission_text(ids, dog_probabilities, probabilities: bool = False) -> str:
    """The CSV text: header `id,label`, rows sorted by id."""
    order = np.argsort(ids, kind="stable")
    lines = ["id,label"]
    for k in order:
        p = float(dog_probabilities[k])
        label = f"{p:.6f}" if probabilities else LABELS[int(p >= 0.5)]
        lines.append(f"{int(ids[k])},{label}")
    return "\n".join(lines) + "\n"


def validate_submission(text: str, expected_ids, probabilities: bool = False) -> None:
    """Raise ValueError unless `text` is a well-formed submission for exactly `expected_ids`.

    Checks: the header, one row per expected id (none missing, none extra, none twice),
    ids in increasing numeric order, and labels Cat/Dog or probabilities in [0, 1].
    """
    lines = text.splitlines()
    if not lines or lines[0] != "id,label":
        raise ValueError(f"the header must be 'id,label', got {lines[:1]}")
    ids = []
    for n, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"line {n} is not '<id>,<label>': {line!r}")
        if probabilities:
            try:
                value = float(parts[1])
            except ValueError:
                raise ValueError(f"line {n}: {parts[1]!r} is not a probability") from None
            if not 0 <= value <= 1:
                raise ValueError(f"line {n}: probability {value} is outside [0, 1]")
        elif parts[1] not in LABELS:
            raise ValueError(f"line {n}: label {parts[1]!r} is not Cat or Dog")
        ids.append(int(parts[0]))
    if ids != sorted(ids):
        raise ValueError("the ids are not in increasing numeric order")
    if len(set(ids)) != len(ids):
        raise ValueError("an id appears more than once")
    expected = set(int(i) for i in expected_ids)
    missing, extra = expected - set(ids), set(ids) - expected
    if missing or extra:
        raise ValueError(f"{len(missing)} ids are missing (e.g. {sorted(missing)[:3]}) and "
                         f"{len(extra)} are extra (e.g. {sorted(extra)[:3]})")


def view_probabilities(model, images, shift: int, which=None) -> np.ndarray:
    """The probability of a dog under the test-time views numbered `which` (default: all
    of `TTA_VIEWS`), shape (views, photos); `images` yields float32 batches (labels, if
    any, are ignored). One decode per photo: each batch's views go through the model
    together."""
    import tensorflow as tf

    from data.augment import tta_views

    chunks = []
    for batch in images:
        x = batch[0] if isinstance(batch, tuple) else batch
        views = tta_views(x, shift, which=which)
        dog = model.predict_on_batch(tf.concat(views, 0))[:, 1]
        chunks.append(np.asarray(dog).reshape(len(views), -1))
    return np.concatenate(chunks, axis=1)


def tta_probability(views: np.ndarray, mode: str) -> np.ndarray:
    """The mean probability of a dog over the views `mode` uses, from every view's
    probabilities (`view_probabilities` of all `TTA_VIEWS`)."""
    return views[list(TTA_MODES[mode])].mean(axis=0)


def tta_shift(image_size: int) -> int:
    """Pixels of the shifted views: 1/16 of the side (4 at the competition's 64x64)."""
    return max(1, image_size // 16)


def predict_dog(model, files, image_size: int, tta: str = DEFAULT_TTA) -> np.ndarray:
    """The probability of a dog for each (readable) file, averaged over `tta`'s views."""
    from data.dogs import make_dataset

    images = make_dataset(files, batch_size=PREDICT_BATCH, image_size=image_size, cache=False,
                          check=False)
    return view_probabilities(model, images, tta_shift(image_size),
                              which=TTA_MODES[tta]).mean(axis=0)


def read_photo_model(path):
    """The Keras model in `path`, checked to be one of task 4's: square RGB photos in, the
    two classes out (task 2's MLP, say, is one sentence rather than a traceback)."""
    model = read_keras_model(path, "--model", "python -m tasks.task4 train")
    shape = model.input_shape
    if not (isinstance(shape, tuple) and len(shape) == 4 and shape[1] and shape[1] == shape[2]
            and shape[3] == 3 and model.output_shape[-1] == len(LABELS)):
        raise UsageError(must_be("--model", "a Dogs-vs-Cats model of python -m tasks.task4 "
                                 f"train (square RGB photos in, {len(LABELS)} classes out, "
                                 f"not {shape} in)", str(path)))
    return model


def submit(args, run):
    from data.dogs import check_images, find_root, list_test

    if not Path(args.model).is_file():
        raise UsageError(must_be("--model", "a saved model.keras file (train first: python "
                                 "-m tasks.task4 train)", args.model))
    if args.images:
        files, ids, other = test_images(args.images)
    else:
        root = find_root(args.data_dir)
        files, ids = list_test(root)
        if not files:
            raise UsageError(f"{root} has no test1/ or test/ folder; pass --images.")
        other = []
    if args.quick:
        files, ids = files[:200], ids[:200]
    good, bad = check_images(files)
    unreadable = [i for i, ok in zip(ids, good, strict=True) if not ok]
    files = [f for f, ok in zip(files, good, strict=True) if ok]
    ids = [i for i, ok in zip(ids, good, strict=True) if ok]
    if unreadable:
        print(f"warning: no row for {len(unreadable)} unreadable test photos, ids "
              f"{', '.join(map(str, unreadable[:20]))}{' ...' if len(unreadable) > 20 else ''}",
              file=sys.stderr)
    if other:
        print(f"warning: ignored {len(other)} files not named <id>.<image suffix>: "
              f"{', '.join(other[:5])}", file=sys.stderr)
    if not files:
        raise UsageError("none of the test photos could be read.")

    model = read_photo_model(args.model)
    image_size = int(model.input_shape[1])
    dog = predict_dog(model, files, image_size, tta=args.tta)
    text = submission_text(ids, dog, args.probabilities)
    validate_submission(text, ids, args.probabilities)
    out = Path(getattr(args, "submission", None) or run.file("submission.csv"))
    atomic_write_text(out, text)
    if out != run.file("submission.csv"):
        atomic_write_text(run.file("submission.csv"), text)
    metrics = {"rows": len(ids), "unreadable_images": len(unreadable),
               "unreadable_ids": unreadable, "ignored_files": other,
               "dog_fraction": float(np.mean(dog >= 0.5)), "tta": args.tta,
               "probabilities": args.probabilities, "model": str(args.model)}
    run.write_metrics(metrics)
    report = Report("Task 4 submit: Kaggle submission file",
                    f"`{out}`: {len(ids):,} rows (`id,label`, sorted by id), "
                    f"{'dog probabilities' if args.probabilities else 'Cat/Dog labels'}"
                    f", test-time augmentation {args.tta}; "
                    f"{len(unreadable)} unreadable photos have no row.")
    report.paragraph(f"{100 * metrics['dog_fraction']:.1f}% of the photos are called dogs. "
                     "The test photos have no labels here, so the Kaggle score (report B: "
                     f"{reported.KAGGLE_PUBLIC_SCORE} on the public leaderboard) can only be "
                     "had by uploading the file.")
    run.write_report(report)
    print(f"submission: {out} ({len(ids):,} rows)")
    return metrics
