"""tf.data input pipelines for in-memory array datasets (MNIST, Fashion-MNIST, CIFAR-10).

The performance choices, stated: the uint8 images go into the pipeline once
(`from_tensor_slices`), are batched first and then scaled to float32 a whole batch at a time
(one vectorised op per batch, no per-sample Python or per-sample map); the scaled batches of a
fixed evaluation set are cached; shuffling works on indices of the whole epoch; `prefetch`
overlaps preparing the next batch with training on this one.

    train = array_dataset(splits.x_train, splits.y_train, 128, shuffle=True, seed=0)
    model.fit(train, validation_data=array_dataset(splits.x_val, splits.y_val, 512), ...)
    train, val, test = split_pipelines(splits, 128, seed=0)   # all three of a Splits
"""

from __future__ import annotations

import numpy as np


def array_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False,
                  seed: int = 0, flatten: bool = False, cache: bool | None = None,
                  augment=None):
    """A `tf.data.Dataset` of (float32 images in [0, 1], int64 labels) batches.

    Args:
        x: uint8 images (N, H, W, C) or float rows already in [0, 1].
        y: integer class labels (N,).
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch (seeded); training sets only.
        seed: the shuffle seed.
        flatten: give (N, H*W*C) rows, for MLPs.
        cache: keep the prepared batches in memory after the first pass; by default on for
            sets that are not shuffled (validation, test), whose batches never change.
        augment: an optional function on a float32 batch (Keras layers, `training=True`),
            applied after scaling, on the CPU inside the pipeline.
    """
    import tensorflow as tf

    x = np.asarray(x)
    y = np.asarray(y, dtype=np.int64)
    scale = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def prepare(images, labels):
        images = tf.cast(images, tf.float32) * scale
        if flatten:
            images = tf.reshape(images, (tf.shape(images)[0], -1))
        return images, labels

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if cache if cache is not None else not shuffle:
        dataset = dataset.cache()
    if augment is not None:
        dataset = dataset.map(lambda images, labels: (augment(images), labels),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def split_pipelines(splits, batch_size: int, seed: int = 0, flatten: bool = False,
                    augment=None, eval_batch: int = 1000):
    """Train (shuffled, optionally augmented), validation and test pipelines of `splits`.

    Args:
        splits: a `data.splits.Splits` (uint8 images and integer labels).
        batch_size: training examples per batch.
        seed: the training shuffle's seed.
        flatten: give (N, H*W*C) rows, for MLPs.
        augment: applied to the training batches only (see `array_dataset`).
        eval_batch: examples per validation and test batch (they are only evaluated).

    Example:
        train, val, test = split_pipelines(splits, 128, seed=0, flatten=True)
    """
    return (array_dataset(splits.x_train, splits.y_train, batch_size, shuffle=True, seed=seed,
                          flatten=flatten, augment=augment),
            array_dataset(splits.x_val, splits.y_val, eval_batch, flatten=flatten),
            array_dataset(splits.x_test, splits.y_test, eval_batch, flatten=flatten))
