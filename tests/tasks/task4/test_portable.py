"""tasks.task4.portable: the packed photos and the backend-neutral VGG-13 run, on tiny data."""

import numpy as np

from data.dogs import decoded_arrays, load_dogs_vs_cats
from suite.io import read_csv, read_json
from tasks.task4 import portable
from tests.support import make_kaggle


def test_pack_keeps_the_split_its_labels_and_nearly_its_pixels(tmp_path):
    data_dir = make_kaggle(tmp_path / "dogs", per_class=10, test=0)
    path = portable.pack(data_dir, tmp_path / "packed" / "dogs.npz", image_size=32)
    (x_train, y_train), (x_val, y_val) = portable.unpack(path)
    data = load_dogs_vs_cats(data_dir, seed=0)
    for (images, labels), files, expected in (((x_train, y_train), data.train_files,
                                               data.train_labels),
                                              ((x_val, y_val), data.val_files,
                                               data.val_labels)):
        pixels, _ = decoded_arrays(files, expected, 32)
        assert images.shape == pixels.shape and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, expected)
        # JPEG at quality 90: close to the decoded pixels, not equal.
        assert np.abs(images.astype(float) - pixels).mean() < 4
    (few, few_labels), _ = portable.unpack(path, limit=5)
    assert len(few) == 5 and set(few_labels) == {0, 1}  # drawn, not the first class only


def test_train_runs_report_b_vgg13_and_writes_each_epoch(tmp_path, capsys):
    data_dir = make_kaggle(tmp_path / "dogs", per_class=8, test=0)
    path = portable.pack(data_dir, tmp_path / "dogs.npz")
    out = tmp_path / "run"
    metrics = portable.train(path, out, minutes=10, max_epochs=2, momentum=0.0)
    assert metrics["params"] == 45_238_466 and metrics["momentum"] == 0.0
    assert metrics["epochs"] == 2 and metrics["train_images"] == 12
    rows = read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert read_json(out / "metrics.json") == metrics
    assert metrics["val_accuracy"] == max(float(r["val_accuracy"]) for r in rows)
    assert (out / "learning_curves.png").stat().st_size > 0
    assert "vgg13: 45,238,466 parameters" in capsys.readouterr().out


def test_a_missing_photos_file_is_one_sentence(tmp_path, capsys):
    missing = tmp_path / "none.npz"
    argv = ["train", "--photos", str(missing), "--out", str(tmp_path / "run")]
    assert portable.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("portable: error: ") and "none.npz" in line
    assert not (tmp_path / "run").exists()  # no results folder for a run that never began
