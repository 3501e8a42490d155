"""Fashion-MNIST loader: gzip IDX files written here come back pixel for pixel."""

import gzip

import numpy as np
import pytest

from data import DataError, DatasetNotFound
from data.fashion_mnist import FILES, VAL_SIZE, load_fashion_mnist
from data.splits import split_off_validation
from tests.conftest import SHARED_DATASETS


def write_idx(path, array):
    """An IDX file of unsigned bytes, gzipped: magic 0x0801 / 0x0803, big-endian sizes."""
    header = (0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(folder, n_train=VAL_SIZE + 40, n_test=25, seed=1):
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(FILES, arrays, strict=True):
        write_idx(folder / name, array)
    return arrays


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)


@pytest.mark.parametrize("subfolder", [True, False])
def test_round_trip_pixel_for_pixel(tmp_path, no_cache, subfolder):
    x_train, y_train, x_test, y_test = write_fashion_mnist(
        tmp_path / "fashion-mnist" if subfolder else tmp_path)
    splits = load_fashion_mnist(data_dir=tmp_path, seed=3)
    expected = split_off_validation(x_train, y_train, VAL_SIZE, 3)
    assert splits.x_train.shape == (40, 28, 28, 1) and splits.x_val.shape == (VAL_SIZE, 28, 28, 1)
    for got, want in zip((splits.x_train[..., 0], splits.y_train, splits.x_val[..., 0],
                          splits.y_val), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(splits.x_test[..., 0], x_test)
    np.testing.assert_array_equal(splits.y_test, y_test)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert splits.class_names[9] == "Ankle boot" and splits.name == "fashion_mnist"


def test_truncated_file_is_one_sentence(tmp_path, no_cache):
    write_fashion_mnist(tmp_path, n_train=VAL_SIZE + 5)
    raw = gzip.open(tmp_path / FILES[2]).read()
    with gzip.open(tmp_path / FILES[2], "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_fashion_mnist(data_dir=tmp_path)


def test_missing_is_dataset_not_found(tmp_path, no_cache):
    with pytest.raises(DatasetNotFound, match="Fashion-MNIST not found.*--data-dir"):
        load_fashion_mnist(data_dir=tmp_path)


@pytest.mark.skipif(not (SHARED_DATASETS / "fashion-mnist").is_dir(), reason="no shared copy")
def test_real_copy_splits_50000_10000_10000(no_cache):
    splits = load_fashion_mnist(data_dir=SHARED_DATASETS, seed=0)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (50_000, 10_000,
                                                                            10_000)
    assert np.bincount(splits.y_test).tolist() == [1000] * 10  # the test set is balanced
