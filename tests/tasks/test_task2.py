"""Task 2: every experiment runs with --quick on small generated arrays and writes its files."""

import csv
import json

import numpy as np
import pytest

from tests.support import retrained_after_losing, tiny_splits







@pytest.fixture
def fake_data(monkeypatch):
    import data

    monkeypatch.setattr(data, "load_dataset", lambda name, data_dir=None, seed=0: tiny_splits())


def run(argv):
    from tasks.task2 import task

    return task.main(argv)


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_study_writes_table_plot_and_tensorboard(tmp_path, fake_data):
    out = tmp_path / "activation"
    assert run(["activation", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]) == 0
    for name in ("report.md", "results.csv", "history.csv", "val_accuracy.png", "config.json"):
        assert (out / name).is_file(), name
    m = metrics(out)
    assert set(m["variants"]) == {"relu", "elu"}  # --quick keeps two variants
    assert m["best_val_accuracy"] == max(v["best_val_accuracy"] for v in m["variants"].values())
    assert 0 <= m["best_val_accuracy"] <= 1
    assert m["variants"]["relu"]["params"] == 784 * 300 + 300 + 3010
    assert list((out / "tensorboard" / "relu").rglob("events.out.tfevents.*"))


def test_study_rerun_trains_only_the_unfinished_variant(tmp_path, fake_data, monkeypatch):
    import tasks.task2.experiments as task2

    out = tmp_path / "activation"
    argv = ["activation", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]
    assert run(argv) == 0
    first = metrics(out)["variants"]
    history = list(csv.DictReader(open(out / "history.csv")))

    # Interrupted during the second variant: only its record is missing. A rerun trains it alone.
    assert retrained_after_losing("elu", out, lambda: run(argv), task2, "train_variant", 2,
                                  monkeypatch) == ["elu"]
    assert (out / "variants" / "elu.json").is_file()
    again = metrics(out)["variants"]
    assert again["relu"] == first["relu"]  # read back, not trained again
    assert set(again) == {"relu", "elu"}
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [r["variant"] for r in rows] == [r["variant"] for r in history]
    assert [r for r in rows if r["variant"] == "relu"] == [
        r for r in history if r["variant"] == "relu"]


def test_best_then_analyze(tmp_path, fake_data):
    best = tmp_path / "best"
    assert run(["best", "--quick", "--dataset", "fashion_mnist", "--out", str(best)]) == 0
    m = metrics(best)
    assert {"val_accuracy", "test_accuracy", "train_seconds", "params"} <= set(m)
    assert m["test_accuracy"] > 0.3  # the bands are easy: far above chance after 2 epochs
    assert (best / "model.keras").is_file() and (best / "learning_curves.png").is_file()
    out = tmp_path / "analyze"
    assert run(["analyze", "--quick", "--dataset", "fashion_mnist", "--model",
                str(best / "model.keras"), "--out", str(out)]) == 0
    for name in ("confusion_matrix.csv", "confusion_matrix.png", "confident_mistakes.png"):
        assert (out / name).is_file(), name
    rows = (out / "confusion_matrix.csv").read_text().splitlines()
    counts = [sum(int(v) for v in row.split(",")[1:]) for row in rows[1:]]
    assert sum(counts) == 64  # every test image counted once
    assert abs(metrics(out)["test_accuracy"] - m["test_accuracy"]) < 1e-6
    # The confusion matrix also went to TensorBoard as an image.
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))


def test_analyze_without_model_is_one_sentence(tmp_path, fake_data, capsys):
    status = run(["analyze", "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path / "a")])
    error = capsys.readouterr().err
    assert status == 2 and "run `python -m tasks.task2 best` first" in error
    assert error.strip().endswith(f"got {str(tmp_path / 'none.keras')!r}.")  # must_be's wording
    assert error.count("\n") == 1  # one sentence, no traceback


def test_confident_mistakes_order():
    from tasks.task2.experiments import confident_mistakes

    y = np.array([0, 0, 0, 1, 1])
    probabilities = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.7, 0.3], [0.1, 0.9]])
    mistakes = confident_mistakes(y, probabilities, per_class=8)
    assert mistakes[0].tolist() == [0, 1]  # wrong with 0.8, then 0.6; index 2 is right
    assert mistakes[1].tolist() == [3]


def test_mlp_builder_counts_and_penalties():
    import keras

    from models.mlp import make_mlp

    assert make_mlp((784,), 10, hidden=(64, 32)).count_params() == 52_650  # task 1's report B
    assert make_mlp((28, 28, 1), 10, hidden=(600, 400)).count_params() == 715_410
    model = make_mlp((4,), 2, hidden=(3,), regularizer="l2", strength=0.5, dropout=0.5)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    model(np.zeros((1, 4), np.float32))
    expected = sum(0.5 * float(np.sum(np.square(np.asarray(layer.kernel))))
                   for layer in model.layers if isinstance(layer, keras.layers.Dense))
    assert abs(float(sum(model.losses)) - expected) < 1e-5
    with pytest.raises(ValueError, match=r"^activation must be one of relu, .*; got 'swish'\.$"):
        make_mlp((4,), 2, activation="swish")


@pytest.mark.slow
def test_all_quick(tmp_path, fake_data):
    from tasks.task2.experiments import STUDIES

    out = tmp_path / "all"
    assert run(["all", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]) == 0
    for name in STUDIES + ["best", "analyze"]:
        assert (out / name / "report.md").is_file(), name
