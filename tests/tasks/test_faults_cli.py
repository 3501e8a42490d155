"""Fault 7 for every command line: bad arguments and missing data cost one line on stderr
and exit status 2, never results (task 4 and tuning.vgg have more in test_faults_task4.py and
test_faults_tuning.py).
"""

import os
import subprocess
import sys

import pytest

from suite.io import atomic_write_json
from tests.conftest import ROOT

pytestmark = pytest.mark.faults

# (module, experiment or None, a flag that takes a batch size, a budget flag or None)
CLIS = [
    ("tasks.task1", "search", "--batch-sizes", None),
    ("tasks.task2", "best", "--batch-size", None),
    ("tasks.task3", "cifar10-cnn", "--batch-size", "--budget-minutes"),
    ("tasks.task4", "train", "--batch-size", "--budget-minutes"),
    ("tuning.vgg", None, "--batch-sizes", "--max-trials"),
]


def run(module, *args, env=None):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SUITE_OFFLINE": "1", "SUITE_DATA_DIR": "",
                               **(env or {})})


def assert_one_sentence(result):
    """Exit status 2 and exactly one line on stderr: no traceback, no TensorFlow chatter."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(result.stderr.splitlines()) == 1, result.stderr[-2000:]
    assert "error" in result.stderr


def bad_argument_cases():
    for module, experiment, batch_flag, budget_flag in CLIS:
        first = [experiment] if experiment else []
        yield module, ["no-such-experiment"]
        yield module, [*first, batch_flag, "0"]
        yield module, [*first, batch_flag, "many"]
        yield module, [*first, "--data-dir", "/no/such/folder"]
        if budget_flag:
            yield module, [*first, budget_flag, "-5"]


@pytest.mark.parametrize("module,argv", list(bad_argument_cases()),
                         ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_bad_arguments_exit_2_with_one_sentence(module, argv, tmp_path):
    out = [] if argv[0] == "no-such-experiment" else ["--out", str(tmp_path / "out")]
    result = run(module, *argv, *out, env={"KERAS_HOME": str(tmp_path / "keras")})
    assert_one_sentence(result)
    assert not (tmp_path / "out").exists()  # nothing written, not even config.json


DATASET_FLAGS = {"tasks.task1": ["--dataset", "digits"], "tasks.task2": ["--dataset", "mnist"],
                 "tasks.task3": ["--dataset", "mnist"]}


@pytest.mark.parametrize("module,experiment", [(m, e) for m, e, _, _ in CLIS])
def test_folder_of_another_configuration_is_left_untouched(module, experiment, tmp_path):
    out = tmp_path / "out"
    atomic_write_json(out / "config.json", {"config": {"seed": 123, "other": "run"}})
    atomic_write_json(out / "metrics.json", {"val_accuracy": 0.5})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run(module, *([experiment] if experiment else []), "--out", str(out),
                 *DATASET_FLAGS.get(module, []), "--quick",
                 env={"KERAS_HOME": str(tmp_path / "keras")})
    assert_one_sentence(result)
    assert "another configuration" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
