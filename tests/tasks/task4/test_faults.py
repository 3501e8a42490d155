"""Fault injection for `python -m tasks.task4` with real processes (issue 9, faults 1, 6,
7 and 9's training part), on tiny generated data. Run with `make faults`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from suite.io import read_csv, read_json
from tests.support import child_env
from tests.support import UNREADABLE, make_kaggle, write_bad_files
from tests.conftest import ROOT
from tests.support import saved_val_accuracy

pytestmark = pytest.mark.faults
# float32: the tests compare fit's figures with the saved model's to the last bit.
TINY = ["--image-size", "32", "--batch-size", "8", "--model", "cpu_net", "--threads", "1",
        "--precision", "float32"]


def env(**extra):
    return {**os.environ, "SUITE_THREADS": "1", "SUITE_OFFLINE": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **extra}


def task4(*argv, timeout=600, **extra_env):
    return subprocess.run([sys.executable, "-m", "tasks.task4", *map(str, argv)], cwd=ROOT,
                          env=env(**extra_env), capture_output=True, text=True,
                          timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error:" in line]


def epochs_of(out: Path) -> list[int]:
    return [int(r["epoch"]) for r in read_csv(out / "history.csv")]


# -- 1. training killed mid-epoch ------------------------------------------------------------
def test_train_killed_mid_epoch_resumes_and_loses_nothing(tmp_path):
    data = make_kaggle(tmp_path / "dogs", per_class=48, test=0)
    out = tmp_path / "run"
    epochs = 10  # enough that a fast machine is still training when the kill comes
    argv = ["train", "--data-dir", data, "--out", out, "--epochs", epochs, *TINY]
    process = subprocess.Popen([sys.executable, "-m", "tasks.task4", *map(str, argv)],
                               cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    while time.time() < deadline and process.poll() is None:
        if (out / "history.csv").exists() and len(epochs_of(out)) >= 2:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # into the next epoch
    assert process.poll() is None, "training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = epochs_of(out)
    assert 2 <= len(done_before) < epochs and (out / "backup").is_dir()

    again = task4(*argv)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"Epoch 1/{epochs}" not in again.stdout  # resumed, not restarted
    rows = read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))  # each exactly once
    best = max(float(r["val_accuracy"]) for r in rows)
    # The kept model is the best over the whole run, before and after the kill.
    metrics = read_json(out / "metrics.json")
    assert metrics["val_accuracy"] == pytest.approx(best, abs=1e-6)
    assert saved_val_accuracy(out / "model.keras", data) == pytest.approx(
        metrics["val_accuracy"], abs=1e-6)
    assert not (out / "backup").exists()


# -- 6. bad images -----------------------------------------------------------------------------
def test_bad_images_are_skipped_in_training_and_submission(tmp_path):
    data = make_kaggle(tmp_path / "dogs", per_class=10, test=4)
    write_bad_files(data / "train", stem="cat.")
    bad_test = write_bad_files(data / "test1", stem="90")
    out = tmp_path / "run"
    trained = task4("train", "--data-dir", data, "--out", out, "--epochs", 1, *TINY)
    assert trained.returncode == 0, trained.stderr[-2000:]
    warnings = [line for line in trained.stderr.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "skipped 3 of 27" in warnings[0]
    assert read_json(out / "metrics.json")["skipped_images"] == 3

    csv = tmp_path / "submission.csv"
    submitted = task4("submit", "--model", out / "model.keras", "--images", data / "test1",
                      "--out", tmp_path / "sub_run", "--threads", 1)
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    csv = tmp_path / "sub_run" / "submission.csv"
    ids = [int(line.split(",")[0]) for line in csv.read_text().splitlines()[1:]]
    unreadable = sorted(int(bad_test[k].stem) for k in UNREADABLE)
    readable = sorted(int(p.stem) for k, p in bad_test.items() if k not in UNREADABLE)
    assert ids == [1, 2, 3, 4] + readable
    assert f"ids {', '.join(map(str, unreadable))}" in submitted.stderr


# -- 7. bad arguments and missing data ---------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["nope"],
    ["train", "--budget-minutes", "-5"],
    ["train", "--batch-size", "0"],
    ["train", "--data-dir", "/nonexistent/dogs"],
    ["submit", "--model", "/nonexistent/model.keras", "--images", "/tmp"],
    ["analyze", "--model", "/nonexistent/model.keras"],
])
def test_bad_arguments_are_one_sentence_and_exit_2(argv, tmp_path):
    result = task4(*argv, "--out", tmp_path / "out") if argv != ["nope"] else task4(*argv)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "history.csv").exists()


def test_a_results_folder_of_another_configuration_is_not_overwritten(tmp_path):
    from suite.runs import RunDir

    out = tmp_path / "run"
    RunDir(out, {"experiment": "train", "model": "vgg13"})
    (out / "history.csv").write_text("epoch,val_accuracy\n1,0.9\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    result = task4("train", "--data-dir", data, "--out", out, "--epochs", 1, *TINY)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "another configuration" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# -- 9. NaN loss -------------------------------------------------------------------------------
def test_nan_loss_stops_with_a_message_and_exit_1(tmp_path):
    data = make_kaggle(tmp_path / "dogs", per_class=16, test=0)
    out = tmp_path / "run"
    hparams = tmp_path / "best_hparams.json"
    hparams.write_text('{"model": "vgg13", "filters": [[8], [16]], "dense": [16]}')
    result = task4("train", "--data-dir", data, "--out", out, "--epochs", 3, "--hparams",
                   hparams, "--optimizer", "sgd", "--lr", 5.0, *TINY, **child_env(5.0))
    assert result.returncode == 1, result.stderr[-2000:]
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "the loss became" in lines[0] and "lower the learning rate" \
        in lines[0]
    assert not (out / "model.keras").exists()
    if (out / "best.keras").exists():  # a checkpoint kept is one from before the NaN
        import keras

        weights = keras.models.load_model(out / "best.keras", compile=False).get_weights()
        assert all(np.isfinite(w).all() for w in weights)


def test_a_nan_epoch_never_replaces_the_last_good_checkpoint(tmp_path):
    import keras

    from models.vgg import build_cpu_net
    from training.checkpoints import FiniteBackup, FiniteCheckpoint

    class Run:
        def file(self, name):
            return tmp_path / name

    model = build_cpu_net(input_shape=(16, 16, 3))
    model.compile("sgd", "sparse_categorical_crossentropy")
    checkpoint, backup = FiniteCheckpoint(Run(), best_so_far=0.5), FiniteBackup(tmp_path / "backup")
    for callback in (checkpoint, backup):
        callback.set_model(model)
    nan = {"loss": float("nan"), "val_accuracy": 0.99}
    checkpoint.on_epoch_end(0, nan)
    backup.on_epoch_end(0, nan)
    assert not (tmp_path / "best.keras").exists() and not (tmp_path / "backup").exists()
    checkpoint.on_epoch_end(1, {"loss": 0.6, "val_accuracy": 0.4})  # below earlier best 0.5
    assert not (tmp_path / "best.keras").exists()
    checkpoint.on_epoch_end(2, {"loss": 0.6, "val_accuracy": 0.7, "val_loss": 0.5})
    backup.on_epoch_end(2, {"loss": 0.6, "val_accuracy": 0.7})
    assert (tmp_path / "best.keras").is_file() and (tmp_path / "backup").is_dir()
    # Its figures beside it, for the report: no second validation pass at the end.
    assert read_json(tmp_path / "best.json") == {"epoch": 3, "val_accuracy": 0.7,
                                                 "val_loss": 0.5}
    assert isinstance(checkpoint, keras.callbacks.ModelCheckpoint)
