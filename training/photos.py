"""A recipe's photos: the split it trains and validates on, its pipelines (augmented as the
recipe says), the photos its whitening stem is drawn from, and decoded pixels kept on disk
for many short fits (the tuner's trials).

    data = load_photos(recipe, "../shared/datasets")
    train, val = make_datasets(recipe, data)
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

from data.augment import AUGMENTS
from suite.io import atomic_write_npz

# --whiten: the training photos its patches are drawn from (drawn with the run's seed).
WHITENING_PHOTOS = 512
# Validation batches: larger than training's, as nothing is learnt from them.
MIN_VALIDATION_BATCH = 64


def load_photos(recipe, data_dir):
    """The recipe's split of Dogs vs. Cats (seeded, at most `limit` photos per class, its
    `holdout` kept out of both); a refit trains on every other labelled photo and validates
    none. Unreadable files are skipped with one warning (`data.dogs.load_dogs_vs_cats`)."""
    from data.dogs import load_dogs_vs_cats

    data = load_dogs_vs_cats(data_dir, seed=recipe.seed, limit=recipe.limit,
                             holdout=recipe.holdout)
    if recipe.refit:
        data.train_files = data.train_files + data.val_files
        data.train_labels = np.concatenate([data.train_labels, data.val_labels])
        data.val_files, data.val_labels = [], data.val_labels[:0]
    return data


def augmentation(recipe):
    """The recipe's augmentation as an `AugmentConfig`: its preset on its engine, with its
    cutout."""
    return AUGMENTS[recipe.augment].replace(engine=recipe.engine, cutout=recipe.cutout)


def make_datasets(recipe, data, resize=None):
    """(training, validation) pipelines: the training photos shuffled, augmented and, with
    `resize` (a `tf.Variable` side, progressive resizing), shrunk; the validation photos in
    file order, or None when there are none (a refit). The files were checked by the
    loader."""
    from data.dogs import make_dataset

    train = make_dataset(data.train_files, data.train_labels, recipe.batch_size,
                         recipe.image_size, augment=augmentation(recipe), shuffle=True,
                         seed=recipe.seed, check=False, resize=resize)
    val = make_dataset(data.val_files, data.val_labels,
                       max(MIN_VALIDATION_BATCH, recipe.batch_size), recipe.image_size,
                       check=False) if data.val_files else None
    print(f"{len(data.train_files):,} training and {len(data.val_files):,} validation photos "
          f"from {data.root}; {len(data.skipped)} unreadable skipped", flush=True)
    return train, val


def whitening_indices(recipe, count: int) -> np.ndarray:
    """Which of `count` training photos the whitening stem's patches come from."""
    return np.sort(np.random.default_rng(recipe.seed).choice(
        count, min(WHITENING_PHOTOS, count), replace=False))


def whitening_photos(recipe, data):
    """`WHITENING_PHOTOS` of `data`'s training photos, scaled as the net sees them, for the
    whitening stem; None when the recipe does not whiten."""
    from data.dogs import decoded_arrays

    if not recipe.whiten:
        return None
    picked = whitening_indices(recipe, len(data.train_files))
    images, _ = decoded_arrays([data.train_files[i] for i in picked],
                               np.asarray(data.train_labels)[picked], recipe.image_size)
    return images.astype(np.float32) / 255.0


def whitening_from_arrays(recipe, images):
    """`whitening_photos` of training photos already decoded (uint8 `images`)."""
    if not recipe.whiten:
        return None
    return images[whitening_indices(recipe, len(images))].astype(np.float32) / 255.0


def photo_size_variable(image_size: int):
    """The training photos' side, read by the pipeline at every batch (progressive
    resizing), or None."""
    import tensorflow as tf

    return tf.Variable(image_size, dtype=tf.int32, trainable=False, name="photo_size")


def cached_arrays(files, labels, image_size: int, cache_file):
    """`data.dogs.decoded_arrays`, kept in `cache_file` (.npz) for the next process: read
    when it holds these files at this size, else decoded and written atomically. A cache
    that cannot be read is decoded afresh, with one warning line naming it."""
    from data.dogs import decoded_arrays

    files = [str(f) for f in files]
    key = hashlib.sha256("\n".join([str(image_size), *files]).encode()).hexdigest()
    cache_file = Path(cache_file)
    if cache_file.exists():
        try:
            with np.load(cache_file) as cached:
                if str(cached["key"]) == key:
                    return cached["images"], cached["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            print(f"warning: the decoded-photo cache {cache_file} is unreadable ({error}); "
                  f"decoding the photos again.", file=sys.stderr)
    images, labels = decoded_arrays(files, labels, image_size)
    atomic_write_npz(cache_file, images=images, labels=labels, key=key)
    return images, labels
