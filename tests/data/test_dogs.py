"""The Dogs vs. Cats loader and pipeline on tiny generated folders."""

import io

import numpy as np
import pytest
from PIL import Image

from data.dogs import (array_pipeline, check_images, decoded_arrays, list_test_photos,
                       load_dogs_vs_cats, make_dataset)
from data.errors import DataError, DatasetNotFound
from tests.support import (CONVERTIBLE, UNREADABLE, make_class_folders, make_kaggle,
                               write_bad_files)


def test_kaggle_layout_is_split_80_20_stratified_and_seeded(tmp_path):
    root = make_kaggle(tmp_path / "dogs-vs-cats", per_class=10)
    data = load_dogs_vs_cats(root, seed=0)
    assert len(data.train_files) == 16 and len(data.val_files) == 4
    assert np.bincount(data.train_labels).tolist() == [8, 8]
    assert np.bincount(data.val_labels).tolist() == [2, 2]
    assert not set(data.train_files) & set(data.val_files)
    for f, y in zip(data.train_files + data.val_files,
                    np.concatenate([data.train_labels, data.val_labels]), strict=True):
        assert f.split("/")[-1].startswith(("cat.", "dog.")[y])
    assert data.test_ids == [1, 2, 3, 4, 5, 6] and data.class_names == ["cat", "dog"]
    again = load_dogs_vs_cats(root, seed=0)
    other = load_dogs_vs_cats(root, seed=1)
    assert again.val_files == data.val_files and other.val_files != data.val_files


def test_data_dir_may_be_a_parent_and_limit_caps_each_class(tmp_path):
    make_kaggle(tmp_path / "dogs-vs-cats", per_class=10)
    data = load_dogs_vs_cats(tmp_path, limit=5)
    assert len(data.train_files) + len(data.val_files) == 10
    assert np.bincount(np.concatenate([data.train_labels, data.val_labels])).tolist() == [5, 5]


@pytest.mark.parametrize("names", [("Cat", "Dog"), ("cats", "DOGS")])
def test_one_folder_per_class_layout(tmp_path, names):
    root = make_class_folders(tmp_path / "PetImages", names, per_class=5)
    data = load_dogs_vs_cats(root)
    labels = np.concatenate([data.train_labels, data.val_labels])
    files = data.train_files + data.val_files
    assert np.bincount(labels).tolist() == [5, 5]
    for f, y in zip(files, labels, strict=True):
        assert f"/{names[y]}/" in f
    assert data.test_files == []


def test_unreadable_files_are_skipped_with_one_warning(tmp_path, capsys):
    root = make_kaggle(tmp_path / "d", per_class=6)
    bad = write_bad_files(root / "train", stem="cat.")
    data = load_dogs_vs_cats(root)
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "skipped 3 of 19" in lines[0]
    assert sorted(data.skipped) == sorted(str(bad[k]) for k in UNREADABLE)
    kept = set(data.train_files + data.val_files)
    assert all(str(bad[k]) in kept for k in CONVERTIBLE)
    images = [x for x, _ in make_dataset(sorted(kept), np.zeros(len(kept)), batch_size=4)]
    assert sum(len(x) for x in images) == 16
    assert all(x.shape[1:] == (64, 64, 3) for x in images)


def test_check_images_flags_exactly_the_broken_ones(tmp_path):
    bad = write_bad_files(tmp_path)
    good, unreadable = check_images([bad[k] for k in sorted(bad)], warn=False)
    assert sorted(unreadable) == sorted(str(bad[k]) for k in UNREADABLE)
    assert good.sum() == len(CONVERTIBLE)


def test_empty_and_one_class_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no cat and dog images"):
        load_dogs_vs_cats(tmp_path / "empty")
    root = make_kaggle(tmp_path / "cats", per_class=3, test=0)
    for f in (root / "train").glob("dog.*"):
        f.unlink()
    with pytest.raises(DataError, match="no dog images"):
        load_dogs_vs_cats(root)
    with pytest.raises(DatasetNotFound, match="not a folder"):
        load_dogs_vs_cats(tmp_path / "nowhere")


def test_pipeline_gives_the_pixels_written_scaled_to_0_1(tmp_path):
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    files = []
    for i, array in enumerate(arrays):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "PNG")  # lossless
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(buffer.getvalue())
    labels = np.array([0, 1, 1, 0, 1])
    batches = list(make_dataset(files, labels, batch_size=2, image_size=16))
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.dtype == np.float32 and [len(b[0]) for b in batches] == [2, 2, 1]
    np.testing.assert_allclose(x, arrays / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, labels)
    shuffled = make_dataset(files, labels, batch_size=5, image_size=16, shuffle=True, seed=3)
    first, second = (next(iter(shuffled))[1].numpy() for _ in range(2))
    assert sorted(first) == sorted(labels)
    unlabelled = next(iter(make_dataset(files, batch_size=5, image_size=8)))
    assert unlabelled.shape == (5, 8, 8, 3)


def pngs(folder):
    """Four random 16x16 photos as lossless PNGs: (their pixels, files, labels)."""
    arrays = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    files = []
    for i, array in enumerate(arrays):
        files.append(folder / f"{i}.png")
        Image.fromarray(array).save(files[-1])
    return arrays, files, np.array([1, 0, 0, 1])


def test_decoded_arrays_are_the_pipelines_pixels(tmp_path):
    arrays, files, labels = pngs(tmp_path)
    images, got = decoded_arrays(files, labels, 16)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(images, arrays)
    np.testing.assert_array_equal(got, labels)
    batches = list(array_pipeline(images, labels, batch_size=3))
    np.testing.assert_allclose(np.concatenate([b[0] for b in batches]), arrays / 255.0,
                               atol=1e-6)
    assert [len(b[1]) for b in batches] == [3, 1]


def test_pipelines_run_without_the_autotuner(tmp_path):
    # Tearing down an autotuned iterator waits for the autotuner's thread to wake: seconds
    # with idle cores at each epoch turn of `train` (data.dogs._batched).
    arrays, files, labels = pngs(tmp_path)
    for pipeline in (make_dataset(files, labels, batch_size=2, image_size=16, shuffle=True),
                     array_pipeline(arrays, labels, batch_size=2)):
        assert pipeline.options().autotune.enabled is False
        assert sum(len(y) for _, y in pipeline) == len(labels)


def test_test_photos_are_listed_by_numeric_id_with_the_other_files_named(tmp_path):
    for name in ("10.jpg", "9.JPG", "100.png", "notes.txt", "cat.1.jpg", "7.tmp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "11.jpg").mkdir()  # a folder is neither a photo nor another file
    files, ids, other = list_test_photos(tmp_path)
    assert ids == [9, 10, 100]
    assert [p.rsplit("/", 1)[-1] for p in files] == ["9.JPG", "10.jpg", "100.png"]
    assert other == ["7.tmp", "cat.1.jpg", "notes.txt"]
    # The loader lists test1/ with the same rule.
    root = make_kaggle(tmp_path / "dogs", per_class=3, test=4)
    data = load_dogs_vs_cats(root)
    assert (data.test_files, data.test_ids) == list_test_photos(root / "test1")[:2]
    assert data.test_ids == [1, 2, 3, 4]


def test_a_bad_val_fraction_is_one_sentence_in_the_suite_wording(tmp_path):
    root = make_kaggle(tmp_path / "dogs", per_class=3, test=0)
    with pytest.raises(DataError, match=r"^val_fraction must be a number in \(0, 1\); "
                                        r"got 1\.5\.$"):
        load_dogs_vs_cats(root, val_fraction=1.5)


def test_a_resize_variable_shrinks_the_batches_it_says_and_leaves_full_size_alone(tmp_path):
    import tensorflow as tf

    # Smooth photos (ramps of random slopes), whose halving any sound filter agrees on.
    rng = np.random.default_rng(1)
    ramp = np.arange(16, dtype=np.float64)
    files = []
    for i in range(4):
        dy, dx, dc = rng.uniform(2, 6, 3)
        array = 40 + dy * ramp[:, None, None] + dx * ramp[None, :, None] + dc * np.arange(3)
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(np.round(array).astype(np.uint8)).save(files[-1])
    labels = np.array([0, 1, 1, 0])
    side = tf.Variable(8, dtype=tf.int32)
    dataset = make_dataset(files, labels, batch_size=4, image_size=16, resize=side)
    assert dataset.element_spec[0].shape.as_list() == [None, None, None, 3]
    plain = next(iter(make_dataset(files, labels, batch_size=4, image_size=16)))[0].numpy()
    small = next(iter(dataset))[0].numpy()  # a new iterator reads the variable afresh
    assert small.shape == (4, 8, 8, 3)
    blocks = plain.reshape(4, 8, 2, 8, 2, 3).mean(axis=(2, 4))  # each 2x2 block's mean
    np.testing.assert_allclose(small[:, 1:-1, 1:-1], blocks[:, 1:-1, 1:-1], atol=0.01)
    side.assign(16)
    np.testing.assert_array_equal(next(iter(dataset))[0].numpy(), plain)
