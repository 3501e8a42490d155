"""Photos in memory as batches for `fit` on any Keras backend (JAX, PyTorch, TensorFlow),
augmented afresh before each epoch with `data.augment`'s affine parameters and matrices,
which are written in `keras.ops`: the GPU path of task 4 (`tasks/task4/portable.py`),
where there is no TensorFlow for tf.data.

    batches = AugmentedPhotos(x_train, y_train, 16, REPORT_AUGMENT, seed=0)
    model.fit(batches, validation_data=(x_val / 255, y_val), epochs=10)
"""

from __future__ import annotations

import math

import keras
import numpy as np

AUGMENT_CHUNK = 2048  # photos warped at once on the backend's device


def augmented(images, rng, config, chunk: int = AUGMENT_CHUNK):
    """`images` (uint8) as float32 in [0, 1], warped by `config` (the project's affine
    parameters and matrices), `chunk` at a time on the backend's device."""
    from keras import ops

    from data.augment import affine_parameters, affine_transforms

    height, width = images.shape[1:3]
    out = np.empty(images.shape, np.float32)
    for start in range(0, len(images), chunk):
        batch = ops.convert_to_tensor(images[start:start + chunk], "float32") / 255.0
        uniform = ops.convert_to_tensor(rng.random((len(batch), 7), np.float32))
        transforms = affine_transforms(affine_parameters(config, uniform, height, width),
                                       height, width)
        warped = ops.image.affine_transform(batch, transforms, interpolation="bilinear",
                                            fill_mode=config.fill_mode,
                                            fill_value=config.cval)
        out[start:start + chunk] = ops.convert_to_numpy(warped)
    return out


class AugmentedPhotos(keras.utils.PyDataset):
    """uint8 `images` and their `labels` as shuffled batches of `batch_size`, float32 in
    [0, 1], warped by `config` (an `AugmentConfig`) afresh before each epoch.

    Args:
        seed: the shuffles' and warps' seed.
        chunk: photos warped at once.
    """

    def __init__(self, images, labels, batch_size: int, config, seed: int = 0,
                 chunk: int = AUGMENT_CHUNK):
        super().__init__()
        self.images, self.labels = images, np.asarray(labels)
        self.batch_size, self.config, self.chunk = batch_size, config, chunk
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        picked = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.warped[picked], self.labels[picked]

    def on_epoch_end(self):
        self.warped = augmented(self.images, self.rng, self.config, self.chunk)
        self.order = self.rng.permutation(len(self.images))
