"""`python -m tasks report`: a fake runs/ tree (no training) judged finding by finding."""

import json
import os
import re
import time

import pytest

from tasks.__main__ import main
from tasks.findings import FINDINGS
from tasks.report import build_report

WEIGHT_DECAY = "python -m tasks.task3 weight-decay --epochs 30"


def results_folder(root, relative, metrics, config=None, about=None, plot="plot.png"):
    """A results folder as the suite writes it: config.json, metrics.json, report.md, a PNG."""
    folder = root / relative
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": config or {}, **(about or {})}))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "report.md").write_text("# report\n")
    (folder / plot).write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def decay_metrics(no_decay_error, l2_error):
    return {"dataset": "mnist", "lower_test_error": "?",
            "models": {"no_decay": {"test_error": no_decay_error},
                       "l2_0.0001": {"test_error": l2_error}}}


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    # Matches the report: no_decay reaches the lower test error on MNIST.
    results_folder(root, "task3/weight-decay", decay_metrics(0.015, 0.018),
                   {"dataset": "mnist", "quick": False},
                   {"task": "task3", "experiment": "weight-decay", "command": WEIGHT_DECAY},
                   plot="test_error.png")
    # An older folder (no task/experiment/command), on digits: placed by its path.
    results_folder(root, "task1-digits/cifar10-numpy", {"test_accuracy": 0.47},
                   {"dataset": "digits", "quick": False})
    # A --quick smoke run whose figures happen to fit: still not reproduced.
    bn = results_folder(root, "task3/bn-vs-dropout", {"dataset": "mnist", "variants": {
        "plain": {"epoch_1_test_error": 0.03}, "batchnorm": {"epoch_1_test_error": 0.02}}},
        {"dataset": "mnist", "quick": True},
        {"task": "task3", "experiment": "bn-vs-dropout",
         "command": "python -m tasks.task3 bn-vs-dropout --quick"})
    (bn / "history.csv").write_text("variant,epoch,loss\nplain,1,0.3\nbatchnorm,1,0.1\n")
    return root


def page_rows(text):
    """finding -> its table row's cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 7:
            rows[cells[0]] = cells
    return rows


def what(key):
    return next(f.what for f in FINDINGS if f.key == key)


def test_verdicts_commands_links_and_counts(runs, tmp_path):
    out = runs / "REPORT.md"
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    text = out.read_text()
    rows = page_rows(text)

    decay = rows[what("weight-decay")]
    assert decay[-1] == ("reproduced (no_decay has the lowest test error); one seed, so the "
                         "run-to-run spread is unknown (--seeds 3)")
    assert f"`{WEIGHT_DECAY}`" == decay[3]
    assert "[report.md](task3/weight-decay/report.md)" in decay[4]
    assert "[test_error.png](task3/weight-decay/test_error.png)" in decay[4]
    assert "no_decay 1.50%" in decay[2] and "[MNIST]" in decay[2]

    numpy_cifar = rows[what("cifar10-numpy")]
    assert numpy_cifar[-1].startswith("differs: ran on 8x8 digits, not the report's CIFAR-10")
    assert numpy_cifar[3] == "unknown (an older folder)"

    assert rows[what("bn-vs-dropout")][-1] == "differs: --quick smoke run"
    assert rows[what("init-a")][-1].startswith("not run")

    runs_found, total = 3, len(FINDINGS)
    assert f"**1 reproduced, 2 differ, {total - runs_found} not run** (of {total} findings)." \
        in text


def test_links_are_relative_to_the_page(runs, tmp_path):
    page = tmp_path / "elsewhere" / "REPORT.md"
    report, _ = build_report(runs, page)
    link = re.search(r"\[report.md\]\(([^)]*weight-decay[^)]*)\)", report.render()).group(1)
    assert link == "../runs/task3/weight-decay/report.md"
    assert (page.parent / link).resolve() == (runs / "task3/weight-decay/report.md").resolve()


def test_the_lower_error_with_decay_differs_and_the_newest_folder_wins(runs):
    older = runs / "task3/weight-decay/metrics.json"
    results_folder(runs, "task3/weight-decay-again", decay_metrics(0.02, 0.017),
                   {"dataset": "mnist"}, {"task": "task3", "experiment": "weight-decay"})
    newer = runs / "task3/weight-decay-again/metrics.json"
    os.utime(newer, (time.time() + 10, time.time() + 10))
    report, counts = build_report(runs, runs / "REPORT.md")
    verdict = page_rows(report.render())[what("weight-decay")][-1]
    assert verdict.startswith("differs: l2_0.0001, not no_decay, has the lowest test error")
    assert counts == {"reproduced": 0, "differs": 3, "not run": len(FINDINGS) - 3}
    assert older.exists()


@pytest.mark.parametrize("no_decay, l2, verdict", [
    # spread 0.1 points each, 3 seeds: 2 standard errors of the difference = 0.163 points
    ((1.9, 2.0, 2.1), (2.2, 2.3, 2.4), "reproduced (no_decay lower by 0.30%, more than 2 "
                                       "standard errors (0.16%))"),
    ((2.0, 2.1, 2.2), (1.9, 2.0, 2.1), "reproduced (within the run-to-run spread: l2_0.0001 "
                                       "is lower on average by 0.10%, less than 2 standard "
                                       "errors (0.16%), so the data do not contradict it)"),
    ((2.2, 2.3, 2.4), (1.9, 2.0, 2.1), "differs: l2_0.0001 lower by 0.30%, more than 2 "
                                       "standard errors (0.16%)"),
])
def test_weight_decay_over_seeds_is_judged_against_its_spread(tmp_path, no_decay, l2, verdict):
    import numpy as np

    def entry(errors):
        errors = np.asarray(errors) / 100
        return {"test_errors": list(errors), "mean": errors.mean(), "std": errors.std(ddof=1)}

    metrics = decay_metrics(no_decay[0] / 100, l2[0] / 100)
    metrics["seeds"] = {"no_decay": entry(no_decay), "l2_0.0001": entry(l2)}
    root = tmp_path / "runs"
    results_folder(root, "task3/weight-decay", metrics, {"dataset": "mnist"},
                   {"task": "task3", "experiment": "weight-decay"})
    row = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("weight-decay")]
    assert row[-1] == verdict
    assert row[2].startswith("mean test error of 3 seeds: no_decay ")


def test_batch_norm_learns_faster_is_judged_on_the_first_epochs_training_loss(tmp_path):
    root = tmp_path / "runs"
    # Batch norm's first test point is ruined by its moving averages' start; its training
    # loss over the epoch is the lowest: it learned fastest.
    bn = results_folder(root, "task3/bn-vs-dropout", {"dataset": "mnist", "variants": {
        "plain": {"epoch_1_test_error": 0.027},
        "batchnorm": {"epoch_1_test_error": 0.49,
                      "epoch_1_test_error_without_start_share": 0.02}}},
        {"dataset": "mnist"}, {"task": "task3", "experiment": "bn-vs-dropout"})
    (bn / "history.csv").write_text("variant,epoch,loss\nplain,1,0.260\nplain,2,0.07\n"
                                    "batchnorm,1,0.118\nbatchnorm,2,0.03\n")
    row = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("bn-vs-dropout")]
    assert row[-1] == "reproduced (batchnorm has the lowest mean training loss over epoch 1)"
    assert row[2].startswith("mean training loss over epoch 1: plain 0.260, batchnorm 0.118; "
                             "test error after epoch 1 (not judged): plain 2.70%, batchnorm "
                             "49.00% (2.00% with its moving averages rid of their start)")
    (bn / "history.csv").write_text("variant,epoch,loss\nplain,1,0.1\nbatchnorm,1,0.118\n")
    row = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("bn-vs-dropout")]
    assert row[-1] == "differs: plain, not batchnorm, has the lowest mean training loss over " \
                      "epoch 1"


def test_numbers_against_a_reported_figure(tmp_path):
    root = tmp_path / "runs"
    results_folder(root, "task1/cifar10-numpy", {"test_accuracy": 0.465},
                   {"dataset": "cifar10"}, {"task": "task1", "experiment": "cifar10-numpy"})
    results_folder(root, "task2/best", {"dataset": "cifar10", "test_accuracy": 0.40},
                   {"dataset": "cifar10"}, {"task": "task2", "experiment": "best"})
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    assert rows[what("cifar10-numpy")][-1] == "reproduced (within ±2.00% of 46.00%)"
    assert rows[what("mlp-cifar10")][-1] == \
        "differs: 14.00% below 54.00%, more than ±2.00%"


def test_missing_runs_folder_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["report", "--runs", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder of results" in err


def test_bad_flag_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["report", "--bogus"])
    assert exit.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_settings_pick_the_finding_and_tuning_ranks_from_trials_csv(tmp_path):
    root = tmp_path / "runs"
    losses = {"zero": [2.302585] * 10, "normal": [2.5, 2.1], "glorot": [1.5, 0.3]}
    results_folder(root, "task1/init-b", {"mean_train_loss": losses},
                   {"dataset": "mnist", "hidden": [24, 12]},
                   {"task": "task1", "experiment": "init"})
    results_folder(root, "task4/bn", {"val_accuracy": 0.86},
                   {"dataset": "dogs_vs_cats", "model": "bn_deep"},
                   {"task": "task4", "experiment": "train"})
    search = results_folder(root, "tuning/vgg", {"objective": "val_accuracy"})
    (search / "trials.csv").write_text(
        "trial_id,status,depth,kernel_size,learning_rate,batch_size,val_accuracy\n"
        "0,completed,13,3,0.015,16,0.80\n1,completed,16,3,0.015,16,0.85\n"
        "2,failed,19,3,0.015,16,\n3,completed,13,2,0.015,16,0.70\n")
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    assert rows[what("init-b")][-1].startswith("reproduced (zero flat at 2.303")
    assert rows[what("init-a")][-1].startswith("not run")  # 24-12 is not report A's net
    assert rows[what("bn-nets")][-1] == "reproduced (within ±2.00% of 85.60%)"
    assert rows[what("vgg13")][-1].startswith("not run")  # bn_deep is not VGG-13
    assert rows[what("tuning-depth")][-1] == "reproduced (the best depth is the report's)"
    assert rows[what("tuning-kernel_size")][-1] == "differs: the report's best kernel_size is 2"


def test_one_at_a_time_tables_are_judged_on_their_own_rows(tmp_path):
    root = tmp_path / "runs"
    # Depth 6 is the centre: it sits in every table's rows, and the kernel-2 trial (0.90)
    # must not make it the depth table's winner; that table's own best is depth 16.
    results_folder(root, "tuning/one-at-a-time", {
        "objective": "val_accuracy",
        "tables": {"depth": {"best_value": 16, "best_val_accuracy": 0.87},
                   "kernel_size": {"best_value": 2, "best_val_accuracy": 0.90},
                   # The report's best, 16, is 0.0018 below the best: within the noise.
                   "batch_size": {"best_value": 32, "best_val_accuracy": 0.8809,
                                  "values": [16, 32, 64, 128],
                                  "val_accuracy": [0.8791, 0.8809, 0.8802, 0.8551],
                                  "noise_threshold": 0.0147},
                   "learning_rate": {"best_value": 0.01, "best_val_accuracy": 0.88,
                                     "values": [0.03, 0.01], "val_accuracy": [0.85, 0.88],
                                     "noise_threshold": 0.0147}}},
        about={"task": "tuning", "experiment": "vgg"})  # what tuning.vgg records
    (root / "tuning/one-at-a-time/trials.csv").write_text(
        "trial_id,status,depth,kernel_size,learning_rate,batch_size,val_accuracy\n"
        "0,completed,6,3,0.03,64,0.86\n1,completed,16,3,0.03,64,0.87\n"
        "2,completed,6,2,0.03,64,0.90\n")
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    assert rows[what("tuning-depth")][2].startswith(
        "best depth 16 (val_accuracy 0.8700) of its table")
    assert rows[what("tuning-depth")][-1] == "reproduced (the best depth is the report's)"
    assert rows[what("tuning-kernel_size")][-1] == "reproduced (the best kernel_size is the " \
                                                    "report's)"
    assert rows[what("tuning-batch_size")][-1] == (
        "reproduced (the report's best batch_size, 16 (0.8791), is within this run's noise "
        "(0.0147) of the best)")
    assert rows[what("tuning-learning_rate")][-1] == \
        "differs: the report's best learning_rate is 0.03"  # 0.03 behind, beyond the noise


def test_runs_may_be_a_task_folder_itself(runs):
    report, counts = build_report(runs / "task1-digits", runs / "task1-digits" / "REPORT.md")
    row = page_rows(report.render())[what("cifar10-numpy")]
    assert row[-1].startswith("differs: ran on 8x8 digits")
    assert "[report.md](cifar10-numpy/report.md)" in row[4]
    assert counts["differs"] == 1


# -- unreadable folders (issue 36): skipped with a warning, listed, the page still written ---
GARBLED = {"truncated": b'{"config": {"dataset": "mni', "empty": b"", "a list": b"[1, 2, 3]\n",
           "random bytes": bytes(range(256))[::-7] * 3}
GARBLED_HISTORY = {"truncated": b"variant,epoch,loss\nplain,1,0.3\nbatchnorm,1",
                   "empty": b"", "random bytes": bytes(range(256))[::-7] * 3}


@pytest.mark.parametrize("name, content", [
    *((f"{file} {kind}", (file, data)) for file in ("config.json", "metrics.json")
      for kind, data in GARBLED.items()),
    *((f"history.csv {kind}", ("history.csv", data)) for kind, data in GARBLED_HISTORY.items()),
])
def test_an_unreadable_folder_is_skipped_with_one_warning_and_listed(runs, capsys, name,
                                                                     content):
    file, data = content
    (runs / "task3/bn-vs-dropout" / file).write_bytes(data)
    out = runs / "REPORT.md"
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "skipped" in err[0] and "bn-vs-dropout" in err[0]
    assert file in err[0]
    text = out.read_text()
    assert "## Folders skipped as unreadable" in text
    assert f"| task3/bn-vs-dropout | {file}" in text
    rows = page_rows(text)
    assert rows[what("bn-vs-dropout")][-1].startswith("not run")
    assert rows[what("weight-decay")][-1].startswith("reproduced")  # the rest still judged


def test_garbled_figures_inside_valid_json_are_a_verdict_not_a_traceback(tmp_path):
    root = tmp_path / "runs"
    results_folder(root, "task1/cifar10-numpy", {"test_accuracy": "high"}, {"dataset": "cifar10"},
                   {"task": "task1", "experiment": "cifar10-numpy"})
    row = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("cifar10-numpy")]
    assert row[-1].startswith("not run: its results lack or garble")


# -- task 4: the suite's default beside (or for) the report's own net -----------------------
CPU_NET = {"val_accuracy": 0.9407, "model": "cpu_net", "params": 545_130, "epochs": 24,
           "budget_minutes": 30, "refit": False, "dataset": "dogs_vs_cats",
           "val_accuracy_tta": {"none": 0.9407, "flip": 0.9447, "flip-zoom": 0.9507}}


def test_the_default_net_stands_in_for_the_reports_vgg13_and_says_how_it_differs(tmp_path):
    root = tmp_path / "runs"
    results_folder(root, "task4/train", CPU_NET,
                   {"model": "cpu_net", "budget_minutes": 30.0, "dataset": "dogs_vs_cats"},
                   {"task": "task4", "experiment": "train",
                    "command": "python -m tasks.task4 train --budget-minutes 30"})
    # A refit and a tuned net are not the default: they never stand in.
    results_folder(root, "task4/refit", {**CPU_NET, "val_accuracy": 0.5},
                   {"model": "cpu_net", "refit": True}, {"task": "task4", "experiment": "train"})
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    vgg = rows[what("vgg13")]
    assert vgg[2] == ("val 94.07% (cpu_net, 24 epochs, 30 minutes, 95.07% with submit's "
                      "flip-zoom views) [Dogs vs. Cats]")
    assert vgg[-1] == (
        "differs: the suite's default net, cpu_net (545,130 parameters), trained for a "
        "30-minute budget on a CPU (24 epochs), not the report's VGG-13 (45,238,466 parameters) "
        "for 200 epochs on a GPU (on its own terms: reproduced (within ±2.00% of 95.00%))")
    assert "task4/train/report.md" in vgg[4]
    bn = rows[what("bn-nets")]
    assert bn[-1].startswith("differs: the suite's default net, cpu_net") \
        and "not report C's batch-norm nets for 25 epochs" in bn[-1]
    assert "8.47% above 85.60%" in bn[-1]
    # Trained on a GPU machine (its provenance.json says), the verdict says so.
    (root / "task4/train/provenance.json").write_text(json.dumps(
        {"machine": {"cpu": "Xeon", "gpus": ["NVIDIA H200"]}}))
    vgg = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("vgg13")]
    assert "trained for a 30-minute budget on NVIDIA H200 (24 epochs)" in vgg[-1]

    # With the report's own VGG-13 run, that is judged, and the default shown beside it.
    results_folder(root, "task4/vgg13", {**CPU_NET, "model": "vgg13", "val_accuracy": 0.95},
                   {"model": "vgg13", "dataset": "dogs_vs_cats"},
                   {"task": "task4", "experiment": "train"})
    vgg = page_rows(build_report(root, root / "REPORT.md")[0].render())[what("vgg13")]
    assert vgg[-1] == "reproduced (within ±2.00% of 95.00%)"
    assert vgg[2].startswith("val 95.00% (vgg13") and "; the suite's default: val 94.07%" in vgg[2]


def test_kaggle_and_a_tuning_table_that_differs_say_why(tmp_path):
    root = tmp_path / "runs"
    results_folder(root, "task4/submit", {"rows": 12_500}, {"dataset": "dogs_vs_cats"},
                   {"task": "task4", "experiment": "submit"})
    results_folder(root, "tuning/vgg", {"objective": "val_accuracy", "tables": {
        "depth": {"best_value": 6, "best_val_accuracy": 0.88}}},
        {"size": "cpu", "trial_minutes": 3.0, "dataset": "dogs-vs-cats"},
        {"task": "tuning", "experiment": "vgg"})
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    assert rows[what("kaggle")][-1].startswith("differs: unscored here: the public score is "
                                               "Kaggle's")
    assert rows[what("tuning-depth")][-1] == (
        "differs: the report's best depth is 16; this run's trials had 3 minutes each, in "
        "which a deeper or slower net gets fewer epochs; the report trained its VGGs far "
        "longer, on a GPU")


# -- the page's head, each row's provenance, and why a finding was not run ----------------
def test_the_page_opens_with_the_counts_and_the_machine(runs):
    from suite.provenance import machine, machine_line

    lines = [line for line in build_report(runs, runs / "REPORT.md")[0].render().splitlines()
             if line.strip()]
    assert lines[0] == "# What was reproduced"
    assert re.fullmatch(r"\*\*1 reproduced, 2 differ, \d+ not run\*\* \(of \d+ findings\)\.",
                        lines[1])
    assert lines[2].startswith(f"**Machine:** {machine_line(machine())}")
    assert "no folder records its machine" in lines[2]  # the fixture's folders have none


def test_each_row_says_where_and_when_it_was_measured(tmp_path):
    from suite.provenance import machine, machine_line
    from suite.runs import RunDir

    root = tmp_path / "runs"
    run = RunDir(root / "task1/cifar10-numpy", {"dataset": "cifar10"},
                 about={"task": "task1", "experiment": "cifar10-numpy"})
    run.write_metrics({"test_accuracy": 0.46})
    results_folder(root, "task2/best", {"dataset": "cifar10", "test_accuracy": 0.54},
                   {"dataset": "cifar10"}, {"task": "task2", "experiment": "best"})
    text = build_report(root, root / "REPORT.md")[0].render()
    rows = page_rows(text)
    measured = rows[what("cifar10-numpy")][5]
    assert machine_line(machine()).replace("|", "/") in measured
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d to \d\d:\d\d; ", measured)
    assert "load " in measured and ("commit " in measured)
    assert rows[what("mlp-cifar10")][5] == "unknown (no provenance.json: an older folder)"
    assert "every figure was measured on it" in text


def test_a_finding_not_run_says_why_from_the_runners_records(tmp_path):
    root = tmp_path / "runs"
    task3 = results_folder(root, "task3", {}, {"dataset": "report"},
                           {"task": "task3", "experiment": "all"})
    (task3 / "not_run.json").write_text(json.dumps(
        {"cifar10-cnn": "CIFAR-10 not found: looked for cifar-10-batches-py in --data-dir"}))
    (root / "reproduce.json").write_text(json.dumps({"steps": {
        "task2": {"status": "failed", "exit_status": 1, "covers": ["task2"]},
        "tuning": {"status": "not run", "why": "Dogs vs. Cats not found", "covers": ["tuning"]},
        "task4-train": {"status": "running", "covers": ["task4/train"]},
        "task1": {"status": "done", "covers": ["task1"]}}}))
    rows = page_rows(build_report(root, root / "REPORT.md")[0].render())
    assert rows[what("course-convnet")][-1] == ("not run: CIFAR-10 not found: looked for "
                                                "cifar-10-batches-py in --data-dir")
    assert rows[what("mlp-cifar10")][-1] == ("not run: the reproduce step task2 failed (exit "
                                             "status 1; see logs/task2.log)")
    assert rows[what("tuning-depth")][-1] == ("not run: reproduce did not run tuning: Dogs vs. "
                                              "Cats not found")
    assert rows[what("vgg13")][-1].startswith("not run: the reproduce step task4-train did not "
                                              "finish")
    assert rows[what("init-a")][-1] == "not run: no task1 init folder of these settings"
