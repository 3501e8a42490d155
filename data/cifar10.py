"""CIFAR-10 in Keras's layout (`cifar-10-batches-py/` pickles or the `.tar.gz`), read directly.

    cifar-10-batches-py/
      batches.meta        {b'label_names': [b'airplane', ...], ...}
      data_batch_1 .. 5   {b'data': uint8 (10000, 3072), b'labels': [int] * 10000, ...}
      test_batch          same form

Each row of `data` is one 32x32 image, channel-first (1024 red, 1024 green, 1024 blue values,
each row-major), so `reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)` gives NHWC. The files were
pickled by Python 2: `pickle.load(f, encoding="bytes")`, bytes keys.

Keras's `cifar10.load_data()` skips its download only when its cache holds the archive with
the right hash, so a folder a user already has is read here, and Keras's download is called
only when no copy is found anywhere (see `data.locate`).
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from data.errors import DataError
from data.locate import keras_cache_dir, locate
from data.splits import Splits, split_off_validation

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
# Keras 3 extracts its download one level deeper than older Keras did.
KERAS3_FOLDER = f"{FOLDER}-target/{FOLDER}"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
VAL_SIZE = 5_000  # 45,000 / 5,000 / 10,000
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]


def rows_to_images(rows: np.ndarray) -> np.ndarray:
    """(N, 3072) channel-first rows -> (N, 32, 32, 3) NHWC uint8."""
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _unpickle(raw: bytes, name: str) -> dict:
    try:
        return pickle.loads(raw, encoding="bytes")
    except Exception as error:  # a truncated or foreign file: any unpickling error
        raise DataError(f"{name} is not a CIFAR-10 batch pickle ({type(error).__name__}); "
                        f"replace it with the original {ARCHIVE}.") from None


def _batch(batch: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{name} lacks b'data' or b'labels'; it is not a CIFAR-10 batch.") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"{name} holds data of shape {data.shape} and {len(labels)} labels; "
                        f"expected (N, 3072) and N.")
    return rows_to_images(data), labels


def _read_members(path: Path) -> dict[str, bytes]:
    """The raw bytes of the batch files, from the folder or straight from the archive."""
    wanted = TRAIN_BATCHES + [TEST_BATCH, "batches.meta"]
    if path.is_dir():
        missing = [n for n in wanted[:-1] if not (path / n).exists()]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)}; it is not a complete "
                            f"{FOLDER} folder.")
        return {n: (path / n).read_bytes() for n in wanted if (path / n).exists()}
    try:
        with tarfile.open(path, "r:gz") as archive:
            members = {Path(m.name).name: m for m in archive.getmembers()
                       if m.isfile() and Path(m.name).parent.name == FOLDER}
            missing = [n for n in wanted[:-1] if n not in members]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}; it is not CIFAR-10's "
                                f"{ARCHIVE}.")
            return {n: archive.extractfile(members[n]).read() for n in wanted if n in members}
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{path} is not a readable {ARCHIVE} ({type(error).__name__}); "
                        f"download it again.") from None


def _download() -> Path:
    """Keras's own download and extraction into its cache."""
    import keras

    keras.datasets.cifar10.load_data()
    for name in (KERAS3_FOLDER, FOLDER):
        if (keras_cache_dir() / name).is_dir():
            return keras_cache_dir() / name
    raise FileNotFoundError(FOLDER)


def load_cifar10(data_dir=None, seed: int = 0) -> Splits:
    """CIFAR-10 as 45,000 train / 5,000 validation / 10,000 test, 32x32x3 uint8."""
    path = locate("CIFAR-10", [FOLDER, KERAS3_FOLDER, ARCHIVE], data_dir, download=_download)
    raw = _read_members(path)
    train = [_batch(_unpickle(raw[n], n), n) for n in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _batch(_unpickle(raw[TEST_BATCH], TEST_BATCH), TEST_BATCH)
    names = list(CLASS_NAMES)
    if "batches.meta" in raw:
        meta = _unpickle(raw["batches.meta"], "batches.meta")
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in meta.get(b"label_names", names)]
    x_train, y_train, x_val, y_val = split_off_validation(x_train, y_train, VAL_SIZE, seed)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, names, "cifar10")
