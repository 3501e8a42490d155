"""Fault 7 for tasks 1-3: bad arguments and missing data cost one sentence, never results.

(task 4 and tuning.vgg have theirs in test_faults_task4.py and test_faults_tuning.py.)
"""

import os
import subprocess
import sys

import pytest

from tasks.common.io import atomic_write_json
from tests.conftest import ROOT

pytestmark = pytest.mark.faults

# (task, experiment, a flag that takes a batch size, a budget flag or None)
CLIS = [
    ("task1", "search", "--batch-sizes", None),
    ("task2", "best", "--batch-size", None),
    ("task3", "cifar10-cnn", "--batch-size", "--budget-minutes"),
]


def run(task, *args, env=None):
    return subprocess.run([sys.executable, "-m", f"tasks.{task}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SUITE_OFFLINE": "1", "SUITE_DATA_DIR": "",
                               **(env or {})})


def assert_one_sentence(result):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr[-2000:]


def bad_argument_cases():
    for task, experiment, batch_flag, budget_flag in CLIS:
        yield task, ["no-such-experiment"]
        yield task, [experiment, batch_flag, "0"]
        yield task, [experiment, "--data-dir", "/no/such/folder"]
        if budget_flag:
            yield task, [experiment, budget_flag, "-5"]


@pytest.mark.parametrize("task,argv", list(bad_argument_cases()),
                         ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_arguments_exit_2_with_one_sentence(task, argv, tmp_path):
    out = [] if argv[0] == "no-such-experiment" else ["--out", str(tmp_path / "out")]
    result = run(task, *argv, *out, env={"KERAS_HOME": str(tmp_path / "keras")})
    assert_one_sentence(result)
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("task,experiment", [(t, e) for t, e, _, _ in CLIS])
def test_folder_of_another_configuration_is_left_untouched(task, experiment, tmp_path):
    out = tmp_path / "out"
    atomic_write_json(out / "config.json", {"config": {"seed": 123, "other": "run"}})
    atomic_write_json(out / "metrics.json", {"val_accuracy": 0.5})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run(task, experiment, "--out", str(out), "--dataset", "digits"
                 if task == "task1" else "mnist", "--quick",
                 env={"KERAS_HOME": str(tmp_path / "keras")})
    assert_one_sentence(result)
    assert "another configuration" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
