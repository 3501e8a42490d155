"""CIFAR-10 loader: batches in exactly CIFAR-10's pickle form come back pixel for pixel."""

import pickle
import tarfile

import numpy as np
import pytest

from data import DatasetNotFound
from data.cifar10 import CLASS_NAMES, FOLDER, VAL_SIZE, load_cifar10
from data.splits import split_off_validation

PER_BATCH = VAL_SIZE // 5 + 8  # five training batches, just over the validation size


def write_batch(path, images, labels):
    """CIFAR-10's form: protocol 2, bytes keys, uint8 (N, 3072) channel-first rows."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # NHWC -> N, C*H*W
    batch = {b"batch_label": b"testing batch", b"labels": [int(v) for v in labels],
             b"data": rows, b"filenames": [b"x.png"] * len(images)}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_cifar10(folder, seed=1, n_test=20):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (5 * PER_BATCH, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5 * PER_BATCH)
    for i in range(5):
        part = slice(i * PER_BATCH, (i + 1) * PER_BATCH)
        write_batch(folder / f"data_batch_{i + 1}", images[part], labels[part])
    test_images = rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8)
    test_labels = rng.integers(0, 10, n_test)
    write_batch(folder / "test_batch", test_images, test_labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CLASS_NAMES],
                     b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072}, f, protocol=2)
    return images, labels, test_images, test_labels


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)


def check(splits, written, seed):
    images, labels, test_images, test_labels = written
    expected = split_off_validation(images, labels, VAL_SIZE, seed)
    assert splits.x_train.shape == (5 * PER_BATCH - VAL_SIZE, 32, 32, 3)
    for got, want in zip((splits.x_train, splits.y_train, splits.x_val, splits.y_val), expected,
                         strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(splits.x_test, test_images)
    np.testing.assert_array_equal(splits.y_test, test_labels)
    assert splits.class_names == CLASS_NAMES and splits.x_train.dtype == np.uint8


def test_folder_round_trip(tmp_path, no_cache):
    written = write_cifar10(tmp_path / FOLDER)
    check(load_cifar10(data_dir=tmp_path, seed=5), written, 5)


def test_channel_first_rows(tmp_path, no_cache):
    images, _, test_images, _ = write_cifar10(tmp_path / FOLDER)
    raw = pickle.load(open(tmp_path / FOLDER / "test_batch", "rb"), encoding="bytes")
    row = raw[b"data"][0]
    # Red plane first, row-major: value at (y=1, x=2) of channel c is at c*1024 + 1*32 + 2.
    for channel in range(3):
        assert row[channel * 1024 + 32 + 2] == test_images[0, 1, 2, channel]
    splits = load_cifar10(data_dir=tmp_path)
    assert splits.x_test[0, 1, 2, 2] == row[2 * 1024 + 32 + 2]


def test_archive_and_keras3_cache(tmp_path, no_cache):
    written = write_cifar10(tmp_path / "src" / FOLDER)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(tmp_path / "src" / FOLDER, arcname=FOLDER)
    check(load_cifar10(data_dir=archive_dir, seed=2), written, 2)
    # Keras 3 keeps its extracted download one level deeper, in its cache.
    cache = tmp_path / "keras-home" / "datasets" / f"{FOLDER}-target"
    cache.mkdir(parents=True)
    (tmp_path / "src" / FOLDER).rename(cache / FOLDER)
    check(load_cifar10(seed=2), written, 2)


def test_absent_offline_is_one_sentence_and_exit_2(tmp_path, no_cache, capsys):
    with pytest.raises(DatasetNotFound, match="CIFAR-10 not found.*SUITE_OFFLINE"):
        load_cifar10(data_dir=tmp_path)
    from tasks.task3 import task

    status = task.main(["cifar10-cnn", "--quick", "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip()
    assert status == 2 and error.count("\n") == 0 and "CIFAR-10 not found" in error
