"""Kaggle Dogs vs. Cats: find the photos, split them, and feed them to Keras with tf.data.

Two layouts are read:

- Kaggle's: `train/cat.123.jpg`, `train/dog.45.jpg`, and the unlabelled `test1/<id>.jpg`
  (or `test/<id>.jpg`);
- one folder per class: `Cat/` and `Dog/` (any case, `cats/` and `dogs/` too), as in the
  Microsoft PetImages archive that keras.io's "Image classification from scratch" uses.

`--data-dir` may be the dataset folder itself or a parent holding `dogs-vs-cats/` (as
`../shared/datasets` does). Without a local copy the PetImages archive is downloaded with
Keras's `get_file` (about 800 MB; it holds a few corrupt JPEGs, which are skipped).

    data = load_dogs_vs_cats("../shared/datasets")
    train = make_dataset(data.train_files, data.train_labels, augment=REPORT_AUGMENT,
                         shuffle=True)
    val = make_dataset(data.val_files, data.val_labels)

A corrupt, truncated, empty or non-image file is found before training starts (every file is
decoded once, cheaply, with Pillow) and skipped with one warning line and a count, so no
epoch ever crashes on one.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.errors import DataError
from data.locate import locate

CLASS_NAMES = ["cat", "dog"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
# Formats both Pillow (the up-front check) and tf.io.decode_image (the pipeline) read.
DECODABLE_FORMATS = {"JPEG", "PNG", "BMP", "GIF", "WEBP", "MPO"}
PETIMAGES_FOLDER = "kagglecatsanddogs"
DATASET_FOLDERS = ("dogs-vs-cats", "PetImages", f"{PETIMAGES_FOLDER}/PetImages")
PETIMAGES_URL = ("https://download.microsoft.com/download/3/E/1/"
                 "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip")
_CLASS_FOLDERS = {"cat": 0, "cats": 0, "dog": 1, "dogs": 1}
HOLDOUT_STREAM = 7  # the held-out photos' own random stream, beside the split's seed
_KAGGLE_NAME = re.compile(r"^(cat|dog)\.", re.IGNORECASE)  # cat.123.jpg


@dataclass
class DogsVsCats:
    """File lists of a split Dogs vs. Cats folder; labels are 0 = cat, 1 = dog.

    `test_files` / `test_ids` are Kaggle's unlabelled test photos (empty when the folder has
    none); `skipped` lists the training files that could not be read; `holdout_files` are
    labelled photos kept out of both training and validation (`holdout`), to measure a
    model chosen on the validation photos, or trained on them too, on photos neither saw.
    """

    train_files: list[str]
    train_labels: np.ndarray
    val_files: list[str]
    val_labels: np.ndarray
    test_files: list[str]
    test_ids: list[int]
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    root: str = ""
    skipped: list[str] = field(default_factory=list)
    holdout_files: list[str] = field(default_factory=list)
    holdout_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _download_petimages() -> Path:
    import keras

    # A name without an extension makes Keras extract into ~/.keras/datasets/<name>/.
    path = Path(keras.utils.get_file(PETIMAGES_FOLDER, PETIMAGES_URL, extract=True))
    for candidate in (path / "PetImages", path, *path.glob("*/PetImages")):
        if candidate.is_dir() and _layout(candidate):
            return candidate
    raise FileNotFoundError(f"the archive extracted into {path} holds no PetImages/ folder")


def find_root(data_dir=None) -> Path:
    """The folder holding `train/` or the class folders: `data_dir` itself, or a dataset
    folder inside it (or in $SUITE_DATA_DIR or Keras's cache), or the PetImages download."""
    if data_dir and _layout(Path(data_dir).expanduser()) is not None:
        return Path(data_dir).expanduser()
    root = locate("Dogs vs. Cats", DATASET_FOLDERS, data_dir, download=_download_petimages)
    if _layout(root) is None:
        raise DataError(f"{root} holds neither train/ with cat.N.jpg and dog.N.jpg nor "
                        f"Cat/ and Dog/ folders; pass --data-dir with the dataset folder.")
    return root


def _class_dirs(folder: Path) -> dict[int, list[Path]]:
    dirs: dict[int, list[Path]] = {}
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and child.name.lower() in _CLASS_FOLDERS:
                dirs.setdefault(_CLASS_FOLDERS[child.name.lower()], []).append(child)
    return dirs


def _layout(root: Path) -> str | None:
    """"kaggle" (train/cat.N.jpg), "folders" (class folders here or in train/), or None."""
    if not root.is_dir():
        return None
    if _class_dirs(root) or _class_dirs(root / "train"):
        return "folders"
    if (root / "train").is_dir():
        return "kaggle"
    return None


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural)


def _natural(path: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_labelled(root: Path) -> tuple[list[str], np.ndarray]:
    """Every labelled image file under `root` and its label, in a fixed order."""
    files, labels = [], []
    if _layout(root) == "kaggle":
        for path in _images(root / "train"):
            match = _KAGGLE_NAME.match(path.name)
            if match:
                files.append(str(path))
                labels.append(CLASS_NAMES.index(match.group(1).lower()))
    else:
        dirs = _class_dirs(root) or _class_dirs(root / "train")
        for label in sorted(dirs):
            for folder in dirs[label]:
                for path in _images(folder):
                    files.append(str(path))
                    labels.append(label)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=2)
    if counts.min() == 0:
        missing = " and ".join(CLASS_NAMES[c] for c in range(2) if counts[c] == 0)
        raise DataError(f"{root} has no {missing} images; a Dogs vs. Cats folder needs both "
                        f"classes (train/cat.N.jpg and train/dog.N.jpg, or Cat/ and Dog/).")
    return files, labels


def list_test_photos(folder) -> tuple[list[str], list[int], list[str]]:
    """Kaggle's unlabelled test photos `<id>.<image suffix>` in `folder`, sorted by numeric
    id: (files, ids, the names of the folder's other files, sorted)."""
    numbered, other = [], []
    for path in Path(folder).iterdir():
        if not path.is_file():
            continue
        if path.stem.isdigit() and path.suffix.lower() in IMAGE_SUFFIXES:
            numbered.append((int(path.stem), str(path)))
        else:
            other.append(path.name)
    numbered.sort()
    return [f for _, f in numbered], [i for i, _ in numbered], sorted(other)


def list_test(root: Path) -> tuple[list[str], list[int]]:
    """Kaggle's unlabelled test photos `<id>.jpg` (test1/ or test/), sorted by numeric id."""
    for name in ("test1", "test"):
        folder = root / name
        if folder.is_dir():
            files, ids, _ = list_test_photos(folder)
            return files, ids
    return [], []


def load_dogs_vs_cats(data_dir=None, seed: int = 0, val_fraction: float = 0.2,
                      limit: int | None = None, holdout: int = 0) -> DogsVsCats:
    """Find Dogs vs. Cats, drop unreadable files, split it 80/20 (stratified, seeded).

    Args:
        data_dir: the dataset folder, or a folder holding `dogs-vs-cats/` (else
            $SUITE_DATA_DIR, Keras's cache, then the PetImages download).
        seed: the split's seed.
        val_fraction: the share of each class held out for validation.
        limit: at most this many files per class (a seeded sample; for --quick runs).
        holdout: this many readable photos of each class kept out of training and
            validation alike (drawn with their own seeded stream, before the split: 0 leaves
            the split as it is without it).

    Raises:
        DatasetNotFound: no copy anywhere and no download.
        DataError: an empty or one-class folder.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be a number in (0, 1); got {val_fraction!r}.")
    root = find_root(data_dir)
    files, labels = list_labelled(root)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        chosen.append(members[:limit] if limit else members)
    keep = np.sort(np.concatenate(chosen))
    files, labels = [files[i] for i in keep], labels[keep]
    good, bad = check_images(files)
    files, labels = [f for f, ok in zip(files, good, strict=True) if ok], labels[good]
    if min(np.bincount(labels, minlength=2)) < 2:
        raise DataError(f"{root} has fewer than two readable images of a class; a split "
                        f"needs at least two of each.")
    held = _held_out(labels, seed, holdout, root)
    train, val = [], []
    for label in (0, 1):
        members = rng.permutation(np.setdiff1d(np.flatnonzero(labels == label), held))
        n_val = min(max(1, int(round(len(members) * val_fraction))), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    train, val = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    test_files, test_ids = list_test(root)
    return DogsVsCats([files[i] for i in train], labels[train], [files[i] for i in val],
                      labels[val], test_files, test_ids, list(CLASS_NAMES), str(root), bad,
                      [files[i] for i in held], labels[held])


def _held_out(labels: np.ndarray, seed: int, holdout: int, root) -> np.ndarray:
    """The sorted indices of `holdout` photos of each class, drawn with a stream of their
    own, so that the same seed holds out the same photos whatever the split after it."""
    if not holdout:
        return np.zeros(0, np.int64)
    rng = np.random.default_rng([seed, HOLDOUT_STREAM])
    held = []
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) < holdout + 2:
            raise DataError(f"{root} has {len(members)} readable {CLASS_NAMES[label]} photos: "
                            f"too few to hold out {holdout} and still split the rest.")
        held.append(members[:holdout])
    return np.sort(np.concatenate(held))


# -- reading images ----------------------------------------------------------------------------
_CHECKED: dict[tuple[str, int, float], bool] = {}


def _readable(path: str) -> bool:
    """Decode `path` once with Pillow (at reduced size: JPEG's DCT scaling makes it cheap)."""
    from PIL import Image

    try:
        stat = os.stat(path)
    except OSError:
        return False
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _CHECKED:
        ok = False
        if stat.st_size > 0:
            try:
                with Image.open(path) as image:
                    ok = image.format in DECODABLE_FORMATS
                    if ok:
                        image.draft("RGB", (16, 16))
                        image.load()  # raises on truncated or corrupt data
            except Exception:  # Pillow raises many kinds; all mean "unreadable"
                ok = False
        _CHECKED[key] = ok
    return _CHECKED[key]


def check_images(files, warn: bool = True) -> tuple[np.ndarray, list[str]]:
    """Which `files` decode: (boolean mask, unreadable files); one warning line if any.

    Corrupt, truncated, empty and non-image files are unreadable. CMYK, grayscale, RGBA
    and PNGs named .jpg are readable: the pipeline converts them to RGB.
    """
    files = [str(f) for f in files]
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        good = np.fromiter(pool.map(_readable, files), dtype=bool, count=len(files))
    bad = [f for f, ok in zip(files, good, strict=True) if not ok]
    if bad and warn:
        names = ", ".join(Path(f).name for f in bad[:5]) + (", ..." if len(bad) > 5 else "")
        print(f"warning: skipped {len(bad):,} of {len(files):,} image files that could not be "
              f"read (corrupt, truncated, empty or not an image): {names}", file=sys.stderr)
    return good, bad


def make_dataset(files, labels=None, batch_size: int = 16, image_size: int = 64,
                 augment=None, shuffle: bool = False, seed: int = 0, cache: bool = True,
                 check: bool = True, resize=None):
    """A `tf.data.Dataset` of (images, labels) batches, or images alone without labels.

    Images are float32 in [0, 1], `image_size` square, RGB. The pipeline, in order:
    parallel decode and resize, cache the uint8 pixels in memory (18,000 photos at 64x64
    are 220 MB), shuffle the whole set every epoch, batch, augment the batch on the
    config's engine (one affine resample per image), rescale, prefetch two batches; without
    tf.data's autotuner (see `_batched`).

    Args:
        files: image paths; unreadable ones are dropped (see `check_images`).
        labels: int class per file, or None for unlabelled (test) images.
        augment: an `AugmentConfig`, or None for none; its `rescale` replaces 1/255.
        shuffle: reshuffle every epoch (training); evaluation keeps the file order.
        seed: the shuffle's and the augmentation's seed.
        cache: keep the decoded images in memory after the first epoch.
        check: drop unreadable files first (with one warning); switch off only for files
            already checked.
        resize: a `tf.Variable` holding a side: each batch, once augmented, is shrunk to it
            (antialiased) unless it is `image_size`. It is read for every batch, so training
            can change it between epochs (progressive resizing); the batches' static shape
            then leaves the sides unknown.
    """

    files = [str(f) for f in files]
    if check:
        files, labels = _readable_only(files, labels)
    if not files:
        raise DataError("no readable images to make a dataset of.")
    dataset = _decoded(files, labels, image_size)
    if cache:
        dataset = dataset.cache()
    return _batched(dataset, len(files), batch_size, augment, shuffle, seed,
                    labelled=labels is not None, resize=resize)


def decoded_arrays(files, labels, image_size: int = 64):
    """(uint8 images (N, S, S, 3), int64 labels): the photos decoded once, as `make_dataset`
    decodes them; for many short fits of the same photos (tuning's trials; kept on disk
    between processes by `training.photos.cached_arrays`)."""
    files = [str(f) for f in files]
    images = np.concatenate([batch.numpy() for batch in
                             _decoded(files, None, image_size).batch(512)])
    return images, np.asarray(labels, dtype=np.int64)


def array_pipeline(images, labels, batch_size: int, augment=None, shuffle: bool = False,
                   seed: int = 0):
    """`make_dataset`'s pipeline (shuffle, batch, scale, augment, prefetch) over photos
    already decoded by `decoded_arrays`."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int64)))
    return _batched(dataset, len(images), batch_size, augment, shuffle, seed, labelled=True)


def _batched(dataset, size: int, batch_size: int, augment, shuffle: bool, seed: int,
             labelled: bool, resize=None):
    import tensorflow as tf

    if shuffle:
        dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    dataset = _scaled_and_augmented(dataset.batch(batch_size), augment, seed, labelled,
                                    resize)
    # tf.data's autotuner off: Keras makes fresh iterators every epoch, and tearing one down
    # waits for the autotuner's thread to wake, which left both cores idle for seconds at
    # many of `train`'s epoch turns. AUTOTUNE's parallelism then stays at tf.data's starting
    # value; two batches are prepared ahead.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _readable_only(files: list[str], labels):
    """`files` (and their `labels`) without the unreadable ones, with one warning."""
    good, _ = check_images(files)
    files = [f for f, ok in zip(files, good, strict=True) if ok]
    return files, (np.asarray(labels)[good] if labels is not None else None)


def _decoded(files: list[str], labels, image_size: int):
    """(uint8 image, label) pairs, or images alone: decoded and resized in parallel."""
    import tensorflow as tf

    size = (image_size, image_size)

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, size, antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    paths = tf.data.Dataset.from_tensor_slices(files)
    images = paths.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if labels is None:
        return images
    return tf.data.Dataset.zip(
        images, tf.data.Dataset.from_tensor_slices(np.asarray(labels, dtype=np.int64)))


def _scaled_and_augmented(batches, augment, seed: int, labelled: bool, resize=None):
    """Batches as float32 (rescaled by the config's `rescale`, else 1/255), augmented on the
    config's engine unless it is the identity, then shrunk to `resize`'s side if it has one
    (see `make_dataset`)."""
    import tensorflow as tf

    from data.augment import augment_batch_fn

    scale = augment.rescale if augment is not None and augment.rescale else 1 / 255
    augment_fn = augment_batch_fn(augment) if augment is not None and \
        not augment.is_identity else None
    # One seed per batch, fresh every epoch, so stateless augmentation still varies.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def finish(batch, batch_seed):
        x, y = batch if labelled else (batch, None)
        x = tf.cast(x, tf.float32) * scale
        if augment_fn is not None:
            x = augment_fn(x, batch_seed)
        if resize is not None:
            side = resize.read_value()
            x = tf.cond(tf.equal(side, tf.shape(x)[1]), lambda: x,
                        lambda: tf.image.resize(x, tf.stack([side, side]), antialias=True))
        return x if y is None else (x, y)

    return tf.data.Dataset.zip(batches, seeds).map(finish,
                                                   num_parallel_calls=tf.data.AUTOTUNE)
