"""Fashion-MNIST: Keras's layout, the four gzip IDX files, read with NumPy.

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz

`--data-dir` may name the folder that holds the four files or the folder that holds a
`fashion-mnist/` subfolder with them (as `../shared/datasets` does; so does Keras's cache).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from data.errors import DataError
from data.locate import locate
from data.splits import Splits, split_off_validation

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SUBFOLDER = "fashion-mnist"
VAL_SIZE = 10_000  # 50,000 / 10,000 / 10,000, as for MNIST
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
# IDX magic numbers: 0x0801 = unsigned bytes, 1 dimension; 0x0803 = unsigned bytes, 3 dims.
IDX_LABELS, IDX_IMAGES = 2049, 2051


def read_idx(path: Path) -> np.ndarray:
    """One gzip IDX file (images NxHxW or labels N) as uint8, its header checked."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path} is not a readable gzip file ({error}); replace it with "
                        f"the original Fashion-MNIST file.") from None
    magic = int.from_bytes(raw[:4], "big")
    dims = {IDX_LABELS: 1, IDX_IMAGES: 3}.get(magic)
    if dims is None:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {magic}, "
                        f"expected {IDX_LABELS} or {IDX_IMAGES}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {data.size} bytes of data, its header promises "
                        f"{int(np.prod(shape))}; the file is truncated.")
    return data.reshape(shape)


def load_fashion_mnist(data_dir=None, seed: int = 0) -> Splits:
    """Fashion-MNIST as 50,000 train / 10,000 validation / 10,000 test, 28x28x1 uint8."""
    # Either the files themselves or a fashion-mnist/ subfolder, in every search place.
    found = locate("Fashion-MNIST", [FILES[0], f"{SUBFOLDER}/{FILES[0]}"], data_dir,
                   download=_download_to_cache)
    folder = found.parent if found.name == FILES[0] else found
    missing = [name for name in FILES if not (folder / name).exists()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}; Fashion-MNIST needs all four "
                        f"gzip IDX files.")
    x_train, y_train, x_test, y_test = (read_idx(folder / name) for name in FILES)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataError(f"{folder}: image and label files disagree in length.")
    x_train, y_train, x_val, y_val = split_off_validation(x_train, y_train, VAL_SIZE, seed)
    return Splits(x_train[..., None], y_train.astype(np.int64), x_val[..., None],
                  y_val.astype(np.int64), x_test[..., None], y_test.astype(np.int64),
                  list(CLASS_NAMES), "fashion_mnist")


def _download_to_cache() -> Path:
    """Keras's download; it leaves the four files in `<cache>/fashion-mnist/`."""
    import keras

    from data.locate import keras_cache_dir

    keras.datasets.fashion_mnist.load_data()
    return keras_cache_dir() / SUBFOLDER / FILES[0]
