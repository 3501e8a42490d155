"""Every task-1 experiment on the bundled digits with --quick writes its promised files."""

import math

import pytest

from data import load_dataset
from suite.io import read_csv, read_json
from tasks.task1 import task
from tasks.task1.experiments import QUICK_SIZES

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
    assert split_sentence() in report  # the data the run used, not MNIST's


def split_sentence():
    """What a digits --quick report must say about its data, from the loaded split."""
    splits = load_dataset("digits", seed=0).subset(*QUICK_SIZES)
    return (f"Data: digits, {len(splits.y_train):,} train / {len(splits.y_val):,} validation / "
            f"{len(splits.y_test):,} test examples")


def test_tricks_report_names_the_digits_split_not_mnists(tmp_path):
    assert task.main(["tricks", "--dataset", "digits", "--quick", "--out", str(tmp_path),
                      "--threads", "1"]) == 0
    report = (tmp_path / "report.md").read_text()
    val_size = len(load_dataset("digits", seed=0).subset(*QUICK_SIZES).y_val)
    assert f"validation split ({val_size:,} examples)" in report
    assert split_sentence() in report
    assert "50/10/10" not in report and "10,000" not in report


def modified(folder):
    """{file name: mtime in ns} of the results in `folder` (config.json and provenance.json
    are rewritten by any run of the same configuration, so they are left out)."""
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()
            if p.name not in ("config.json", "provenance.json")}


def test_all_again_reuses_the_finished_search(tmp_path, capsys):
    argv = ["all", "--dataset", "digits", "--quick", "--out", str(tmp_path), "--threads", "1"]
    assert task.main(argv) == 0
    search, others = modified(tmp_path / "search"), modified(tmp_path / "tricks")
    capsys.readouterr()
    assert task.main(argv) == 0
    assert "search: reused the finished search" in capsys.readouterr().out
    assert modified(tmp_path / "search") == search  # not one file of the search rewritten
    again = modified(tmp_path / "tricks")
    assert set(again) == set(others) and all(again[n] != others[n] for n in others)


def test_an_unfinished_search_or_overwrite_trains_again(tmp_path, capsys):
    argv = ["search", "--dataset", "digits", "--quick", "--out", str(tmp_path), "--threads", "1"]
    assert task.main(argv) == 0
    first = modified(tmp_path)
    (tmp_path / "report.md").unlink()  # as if killed before its end
    assert task.main(argv) == 0
    second = modified(tmp_path)
    assert second["trials.csv"] != first["trials.csv"] and "report.md" in second
    assert task.main(argv + ["--overwrite"]) == 0
    assert modified(tmp_path)["trials.csv"] != second["trials.csv"]
    assert "reused" not in capsys.readouterr().out


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


def test_report_bs_nets_are_shown_beside_report_bs_figures_not_report_as(tmp_path):
    task.main(["init", "--dataset", "digits", "--quick", "--out", str(tmp_path / "init"),
               "--inits", "glorot", "--hidden", "24,12"])
    text = (tmp_path / "init" / "report.md").read_text()
    assert "| epoch | glorot (ours) | glorot (report B) |" in text
    assert "| 1.55 |" in text and "| 1.935 |" not in text  # epoch 1: report B's, not A's
    task.main(["search", "--dataset", "digits", "--quick", "--out", str(tmp_path / "search"),
               "--lrs", "0.01", "--batch-sizes", "64", "--hidden1", "64", "--hidden2", "32",
               "--activations", "relu", "--configs", "1", "--rungs", "1", "--min-params", "0"])
    text = (tmp_path / "search" / "report.md").read_text()
    assert "| validation accuracy | 97.2% (report B) |" in text and "98.42%" not in text


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


@pytest.mark.parametrize("argv, sentence", [
    (["init", "--inits", "zero,he"], "--inits must be one or more of zero, normal, glorot, "
     "fan_in (comma separated); got 'zero,he'"),
    (["search", "--activations", "relu,softmax"], "--activations must be one or more of relu, "
     "sigmoid, tanh, improved_sigmoid, linear (comma separated); got 'relu,softmax'"),
    (["gradcheck", "--hidden", "8", "--layer", "2"], "--layer must be in 0..1; got 2."),
    (["init", "--activation", "swish"], "--activation must be one of relu, sigmoid, tanh, "
     "improved_sigmoid; got 'swish'"),
])
def test_bad_values_are_one_sentence_in_the_one_wording(argv, sentence, tmp_path, capsys):
    try:
        status = task.main([*argv, "--dataset", "digits", "--quick",
                            "--out", str(tmp_path / "o"), "--threads", "1"])
    except SystemExit as exit_:  # argparse's own checks (choices=) exit from the parser
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and sentence in err and "Traceback" not in err
    assert not (tmp_path / "o" / "metrics.json").exists()
