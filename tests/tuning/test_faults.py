"""Fault injection for `python -m tuning.vgg` (issue 9, faults 2-5, 7 and 9): real processes,
killed with SIGKILL and started again, on tiny generated Dogs-vs-Cats folders.

Each search runs a 6-conv VGG at 1/16 of the report's widths on 32x32 images, so a trial
takes seconds; a small discrete space makes "every combination exactly once" checkable.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.support import child_env

pytestmark = pytest.mark.faults

# 6 combinations: 2 kernels x 3 learning rates (lr 5 is poisoned, its loss NaN: fault 9).
SPACE = ["--depths", "6", "--kernel-sizes", "2,3", "--learning-rates", "0.01,0.03,5",
         "--batch-sizes", "16", "--optimizers", "sgd", "--max-trials", "10"]
# The same space without the NaN rate, for the kill tests (every trial takes a while).
LONG_SPACE = ["--depths", "6", "--kernel-sizes", "2,3", "--learning-rates", "0.01,0.02,0.03",
              "--batch-sizes", "16", "--optimizers", "sgd", "--max-trials", "10",
              "--epochs", "4"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A Dogs-vs-Cats folder of 40 cats (dark) and 40 dogs (bright), 32x32 JPEGs."""
    from PIL import Image

    root = tmp_path_factory.mktemp("dogs")
    (root / "train").mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        for label, name in enumerate(("cat", "dog")):
            pixels = rng.normal(60 + 120 * label, 30, (32, 32, 3)).clip(0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / "train" / f"{name}.{i}.jpg")
    return root


def _env(**extra):
    env = {**os.environ, "SUITE_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONUNBUFFERED": "1", **extra}
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        if name not in extra:
            env.pop(name, None)
    return env


def _command(images, out, *flags):
    return [sys.executable, "-m", "tuning.vgg", "--quick", "--image-size", "32", "--quiet",
            "--data-dir", str(images), "--out", str(out), *flags]


def _start(command, log: Path, **env):
    return subprocess.Popen(command, cwd=ROOT, env=_env(**env), stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT)


def _rows(out) -> list[dict]:
    path = Path(out) / "trials.csv"
    return list(csv.DictReader(open(path))) if path.exists() else []


def _log_tail(log: Path) -> str:
    return f"log:\n{log.read_text()[-3000:]}"


def _wait_for(predicate, timeout: float, what: str, procs=(), log: Path | None = None):
    def tail():
        return f"; {_log_tail(log)}" if log else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for p in procs:
            assert p.poll() is None, f"a process exited with {p.returncode} before {what}{tail()}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}{tail()}")


def _finish(procs, timeout: float, log: Path) -> list[int]:
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError(f"a process hung; {_log_tail(log)}") from None
    return codes


def _combination(row):
    return (row["depth"], row["kernel_size"], float(row["learning_rate"]), row["batch_size"],
            row["optimizer"])


def _assert_each_combination_once(rows, count=6):
    assert len(rows) == count, rows
    assert len({r["trial_id"] for r in rows}) == count
    assert len({_combination(r) for r in rows}) == count


def _distributed(images, out, log, *flags, lease="6"):
    """A chief and two workers started by hand (so the test can kill any one of them)."""
    from tuning.distributed import free_port

    address = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port())}
    command = _command(images, out, *LONG_SPACE, "--lease-seconds", lease, *flags)
    chief = _start([*command, "--chief"], log, KERASTUNER_TUNER_ID="chief", **address)
    workers = [_start([*command, "--worker"], log, KERASTUNER_TUNER_ID=f"worker{i}",
                      **address) for i in range(2)]
    return command, address, chief, workers


# -- fault 7: bad arguments and missing data ----------------------------------------------------
@pytest.mark.parametrize("flags, words", [
    (["exhaustive"], "unrecognized arguments"),  # no experiments: a stray word
    (["--max-trials", "-3"], "positive integer"),  # a negative budget
    (["--epochs", "0"], "an integer from 1 up to"),
    (["--batch-sizes", "0"], "an integer from 1 up to"),
    (["--depths", "7"], "--depths must be one of 6, 10, 13, 16, 19; got 7."),
    (["--kernel-sizes", "12"], "--kernel-sizes must be an integer from 1 up to 11; got '12'"),
    (["--optimizers", "sgd,rmsprop"],
     "--optimizers must be a comma-separated list of sgd and adam; got 'sgd,rmsprop'"),
    (["--tuner", "grid"], "--tuner must be one of random, bayesian, hyperband; got 'grid'"),
    (["--data-dir", "/no/such/folder"], "is not a folder"),
])
def test_bad_arguments_are_one_sentence_and_exit_2(images, tmp_path, flags, words):
    result = subprocess.run(_command(images, tmp_path / "out", *flags), cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_another_configuration_is_refused_and_nothing_overwritten(images, tmp_path):
    from suite.runs import RunDir

    out = tmp_path / "out"
    RunDir(out, {"tuner": "bayesian"})
    (out / "trials.csv").write_text("precious\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = subprocess.run(_command(images, out), cwd=ROOT, env=_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "another configuration" in result.stderr and "--overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# -- fault 2: a one-machine search killed with SIGKILL, then run again -------------------------
def test_killed_search_continues_without_rerunning_finished_trials(images, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    command = _command(images, out, *LONG_SPACE)
    first = _start(command, log)
    _wait_for(lambda: sum(r["status"] == "completed" for r in _rows(out)) >= 2
              and any(r["status"] == "running" for r in _rows(out)), 240,
              "two finished trials and a running one", [first], log)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = {r["trial_id"]: r for r in _rows(out) if r["status"] == "completed"}
    interrupted = [r["trial_id"] for r in _rows(out) if r["status"] == "running"]

    second = _start(command, log)
    assert _finish([second], 300, log) == [0]
    rows = _rows(out)
    _assert_each_combination_once(rows)
    assert {r["status"] for r in rows} == {"completed"}
    by_id = {r["trial_id"]: r for r in rows}
    for trial_id, row in finished.items():
        assert by_id[trial_id] == row  # same result, same seconds: never run again
    for trial_id in interrupted:  # rerun to the end
        assert by_id[trial_id]["status"] == "completed"
    assert (out / "best_hparams.json").exists() and (out / "report.md").exists()


# -- a trial per process: Ctrl-C and SIGKILL mid-chain, then run again -----------------------
def test_trial_processes_stop_on_ctrl_c_and_the_rerun_finishes_each_trial_once(images, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    command = _command(images, out, *LONG_SPACE, "--trials-per-process", "1")
    first = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=open(log, "ab"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    _wait_for(lambda: sum(r["status"] == "completed" for r in _rows(out)) >= 2
              and any(r["status"] == "running" for r in _rows(out)), 240,
              "two trial processes finished and a third running", [first], log)
    os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
    assert _finish([first], 120, log) == [130], _log_tail(log)
    assert "run the same command again" in log.read_text()
    finished = {r["trial_id"]: r for r in _rows(out) if r["status"] == "completed"}
    assert len(finished) >= 2 and (out / "report.md").exists()
    # A process per trial: each finished trial's process loaded the photos (the cache after
    # the first); one process would have loaded them once.
    assert log.read_text().count("training and 16 validation images") >= 2

    second = _start(command, log)
    assert _finish([second], 300, log) == [0], _log_tail(log)
    rows = _rows(out)
    _assert_each_combination_once(rows)
    assert {r["status"] for r in rows} == {"completed"}
    for trial_id, row in finished.items():
        assert {r["trial_id"]: r for r in rows}[trial_id] == row  # never run again
    assert (out / "best_hparams.json").exists()


# -- faults 5 and 9, and issue 5's distributed test ---------------------------------------------
def test_local_workers_run_every_combination_once(images, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    search = _start(_command(images, out, *SPACE, "--local-workers", "2"), log,
                    **child_env(5.0))
    assert _finish([search], 300, log) == [0], _log_tail(log)
    rows = _rows(out)
    _assert_each_combination_once(rows)  # max-trials 10 >= the 6 combinations
    assert {r["worker"] for r in rows} == {"worker0", "worker1"}
    for row in rows:
        if float(row["learning_rate"]) == 5:  # the NaN trials fail; the search goes on
            assert row["status"] == "failed" and "nan" in row["reason"].lower()
        else:
            assert row["status"] == "completed" and row["val_accuracy"]
    text = log.read_text()
    assert "chief: search finished" in text
    assert text.count("tuning: worker worker") == 2  # both exited by themselves


# -- fault 4: a worker killed mid-trial -------------------------------------------------------
def test_killed_worker_loses_no_trial_and_hangs_nobody(images, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    _, _, chief, (worker0, worker1) = _distributed(images, out, log)
    _wait_for(lambda: any(r["worker"] == "worker1" and r["status"] == "running"
                          for r in _rows(out)), 240, "worker1 running a trial",
              [chief, worker0, worker1], log)
    victim = next(r["trial_id"] for r in _rows(out)
                  if r["worker"] == "worker1" and r["status"] == "running")
    worker1.send_signal(signal.SIGKILL)
    worker1.wait()
    assert _finish([chief, worker0], 300, log) == [0, 0]
    rows = _rows(out)
    _assert_each_combination_once(rows)
    assert {r["status"] for r in rows} == {"completed"}
    lost = next(r for r in rows if r["trial_id"] == victim)
    assert lost["worker"] == "worker0" and "worker1 stopped answering" in lost["reason"]


# -- fault 3: the chief killed and started again ---------------------------------------------
def test_restarted_chief_resumes_where_it_was(images, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    command, address, chief, workers = _distributed(images, out, log, lease="20")
    _wait_for(lambda: sum(r["status"] == "completed" for r in _rows(out)) >= 2, 240,
              "two finished trials", [chief, *workers], log)
    chief.send_signal(signal.SIGKILL)
    chief.wait()
    finished = {r["trial_id"]: r for r in _rows(out) if r["status"] == "completed"}
    time.sleep(2)  # the workers notice the chief is gone and keep retrying
    chief = _start([*command, "--chief"], log, KERASTUNER_TUNER_ID="chief", **address)
    assert _finish([chief, *workers], 300, log) == [0, 0, 0], _log_tail(log)
    rows = _rows(out)
    _assert_each_combination_once(rows)  # not from trial 1 again (keras-team/keras-tuner#976)
    assert {r["status"] for r in rows} == {"completed"}
    by_id = {r["trial_id"]: r for r in rows}
    for trial_id, row in finished.items():
        assert by_id[trial_id] == row
