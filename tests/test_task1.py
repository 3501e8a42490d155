"""Every task-1 experiment on the bundled digits with --quick writes its promised files."""

import math

import pytest

from tasks.common.io import read_csv, read_json
from tasks.task1 import task

PROMISED = {
    "init": {"mean_train_loss", "val_accuracy", "train_seconds", "params"},
    "search": {"val_accuracy", "test_accuracy", "train_seconds", "params", "best"},
    "gradcheck": {"N", "max_abs_diff", "best_n", "val_accuracy", "params"},
    "tricks": {"accuracy", "val_accuracy", "test_accuracy", "train_seconds", "params"},
    "topology": {"accuracy", "val_accuracy", "test_accuracy", "params"},
    "regularize": {"accuracy", "val_accuracy", "test_accuracy", "params"},
    "cifar10-numpy": {"val_accuracy", "test_accuracy", "train_seconds", "params", "steps"},
}


@pytest.mark.parametrize("experiment", sorted(PROMISED))
def test_experiment_quick_on_digits(experiment, tmp_path):
    out = tmp_path / experiment
    status = task.main([experiment, "--dataset", "digits", "--quick", "--out", str(out),
                        "--threads", "1"])
    assert status == 0
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.json", "history.csv", "report.md"} <= files
    assert any(name.endswith(".png") for name in files)
    metrics = read_json(out / "metrics.json")
    assert PROMISED[experiment] <= set(metrics)
    # snake_case keys; `N` is the name the issue gives the gradient check's list
    assert all((k == k.lower() or k == "N") and " " not in k for k in metrics)
    report = (out / "report.md").read_text()
    for png in (n for n in files if n.endswith(".png")):
        assert f"]({png})" in report
    assert read_csv(out / "history.csv")
    config = read_json(out / "config.json")
    assert config["config"]["dataset"] == "digits" and "numpy" in config["versions"]


def test_gradcheck_metrics_cover_every_n(tmp_path):
    task.main(["gradcheck", "--dataset", "digits", "--quick", "--out", str(tmp_path)])
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["N"] == [1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 500000]
    diffs = metrics["max_abs_diff"]
    assert len(diffs) == 12 and all(math.isfinite(d) and d >= 0 for d in diffs)
    # a V: eps = 1 is far worse than the best eps (truncation error dominates there)
    assert diffs[0] > 100 * min(diffs)
    assert metrics["best_n"] == metrics["N"][diffs.index(min(diffs))]


def test_init_zero_stays_at_ln10_on_digits(tmp_path):
    task.main(["init", "--dataset", "digits", "--quick", "--out", str(tmp_path),
               "--inits", "zero,glorot"])
    losses = read_json(tmp_path / "metrics.json")["mean_train_loss"]
    assert all(abs(v - math.log(10)) < 0.01 for v in losses["zero"])


def test_rerun_with_other_config_is_refused(tmp_path, capsys):
    args = ["tricks", "--dataset", "digits", "--quick", "--out", str(tmp_path)]
    assert task.main(args) == 0
    before = (tmp_path / "metrics.json").read_bytes()
    assert task.main(args + ["--epochs", "3"]) == 2
    assert "another configuration" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_bytes() == before


def test_search_scores_each_configuration_by_its_best_evaluation(tmp_path):
    task.main(["search", "--dataset", "digits", "--quick", "--out", str(tmp_path),
               "--evals-per-epoch", "4", "--threads", "1"])
    metrics = read_json(tmp_path / "metrics.json")
    trials = read_csv(tmp_path / "trials.csv")
    history = read_csv(tmp_path / "history.csv")
    for trial in trials:
        rows = [r for r in history if r["config"] == trial["id"]]
        best = max(rows, key=lambda r: float(r["val_accuracy"]))
        assert float(trial["val_accuracy"]) == float(best["val_accuracy"])
        assert float(trial["best_epoch"]) == float(best["epoch"])
    winner = trials[0]  # the table is sorted: longest-trained, then best
    assert metrics["val_accuracy"] == float(winner["val_accuracy"])
    assert metrics["val_accuracy"] == max(float(t["val_accuracy"]) for t in trials
                                          if t["epochs"] == winner["epochs"])
