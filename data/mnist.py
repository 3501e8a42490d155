"""MNIST (Keras's `mnist.npz`) and scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import numpy as np

from data.errors import DataError
from data.locate import locate
from data.splits import Splits, split_off_validation

MNIST_FILE = "mnist.npz"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
MNIST_VAL_SIZE = 10_000  # the assignment's 50,000 / 10,000 / 10,000 split
DIGIT_NAMES = [str(d) for d in range(10)]


def _download_mnist():
    import keras

    return keras.utils.get_file(
        MNIST_FILE, "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz")


def load_mnist(data_dir=None, seed: int = 0) -> Splits:
    """MNIST as 50,000 train / 10,000 validation / 10,000 test, 28x28x1 uint8.

    The file is read with `numpy.load`, not `keras.datasets.mnist.load_data`: a copy with the
    same pixels but other bytes (as in ../shared/datasets) fails Keras's hash check, and
    Keras would then try to download it again.
    """
    path = locate("MNIST", [MNIST_FILE], data_dir, download=_download_mnist)
    try:
        with np.load(path) as f:
            x_train, y_train, x_test, y_test = (f[k] for k in MNIST_KEYS)
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"{path} is not a readable mnist.npz ({error}); replace it with "
                        f"Keras's mnist.npz (keys x_train, y_train, x_test, y_test).") from None
    x_train, y_train, x_val, y_val = split_off_validation(x_train, y_train, MNIST_VAL_SIZE, seed)
    return Splits(x_train[..., None], y_train.astype(np.int64), x_val[..., None],
                  y_val.astype(np.int64), x_test[..., None], y_test.astype(np.int64),
                  DIGIT_NAMES, "mnist")


def load_digits(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> Splits:
    """scikit-learn's bundled 8x8 digits (1,797 images), no download needed.

    Pixels (0-16 in the original) are scaled to 0-255 uint8 so every loader returns the same
    kind of array. Split 60/20/20, seeded.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    y = bunch.target.astype(np.int64)
    n_test = int(round(len(x) * test_fraction))
    n_val = int(round(len(x) * val_fraction))
    x_rest, y_rest, x_test, y_test = split_off_validation(x, y, n_test, seed)
    x_train, y_train, x_val, y_val = split_off_validation(x_rest, y_rest, n_val, seed + 1)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, DIGIT_NAMES, "digits")
