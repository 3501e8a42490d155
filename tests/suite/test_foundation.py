"""The shared machinery: dataset lookup and its errors, splits, atomic writes, results folders."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data import DatasetNotFound, load_digits, load_mnist
from data.locate import locate
from suite.errors import UsageError
from suite.io import atomic_write_json, atomic_write_text, read_json
from suite.runs import RunDir
from tests.conftest import ROOT, SHARED_DATASETS


def fake_mnist(folder, n_train=300, n_test=50):
    rng = np.random.default_rng(0)
    np.savez(folder / "mnist.npz",
             x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test, dtype=np.uint8))


def test_lookup_order_flag_then_env_then_cache(tmp_path, monkeypatch):
    flag, env, cache = (tmp_path / d for d in ("flag", "env", "keras"))
    for d in (flag, env, cache / "datasets"):
        d.mkdir(parents=True)
        (d / "x.npz").write_text(d.name)
    monkeypatch.setenv("SUITE_DATA_DIR", str(env))
    monkeypatch.setenv("KERAS_HOME", str(cache))
    assert locate("X", ["x.npz"], flag) == flag / "x.npz"
    assert locate("X", ["x.npz"], None) == env / "x.npz"
    monkeypatch.delenv("SUITE_DATA_DIR")
    assert locate("X", ["x.npz"], None) == cache / "datasets" / "x.npz"


def test_absent_dataset_is_one_sentence_naming_places_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DatasetNotFound) as error:
        load_mnist(tmp_path)
    message = str(error.value)
    assert "mnist.npz" in message and str(tmp_path) in message and "Keras's cache" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_download_is_tried_when_online_and_its_failure_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("SUITE_OFFLINE")
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    calls = []

    def download():
        calls.append(1)
        raise ConnectionError("offline")

    with pytest.raises(DatasetNotFound, match="download failed"):
        locate("X", ["x.npz"], None, download)
    assert calls == [1]


def test_mnist_split_is_50k_10k_10k_and_seeded():
    if not (SHARED_DATASETS / "mnist.npz").exists():
        pytest.skip("no ../shared/datasets/mnist.npz")
    a, b, c = (load_mnist(SHARED_DATASETS, seed=s) for s in (0, 0, 1))
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (50_000, 10_000, 10_000)
    assert a.x_train.shape[1:] == (28, 28, 1) and a.x_train.dtype == np.uint8
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_val, c.y_val)
    # the split partitions the 60,000 training images: no image in both parts
    assert len(np.unique(np.concatenate([a.y_train, a.y_val]))) == 10


def test_mnist_reads_a_fake_file_exactly(tmp_path):
    fake_mnist(tmp_path)
    splits = load_mnist(tmp_path, seed=3)
    with np.load(tmp_path / "mnist.npz") as f:
        np.testing.assert_array_equal(splits.x_test[..., 0], f["x_test"])
        pool = {img.tobytes(): int(lab) for img, lab in zip(f["x_train"], f["y_train"])}
    for x, y in zip(splits.x_val[..., 0], splits.y_val):
        assert pool[x.tobytes()] == y


def test_digits_split_and_flat_scaling():
    splits = load_digits(seed=0)
    total = len(splits.x_train) + len(splits.x_val) + len(splits.x_test)
    assert total == 1797 and splits.x_train.max() == 255
    x, *_ = splits.flat()
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() == 1 and x.shape[1] == 64


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": np.float32(2.5), "b": np.arange(3)})
    assert read_json(path) == {"a": 2.5, "b": [0, 1, 2]}
    assert os.listdir(tmp_path) == ["m.json"]


def test_atomic_write_failure_keeps_old_content(tmp_path):
    path = tmp_path / "r.md"
    atomic_write_text(path, "old")
    with pytest.raises(TypeError):
        atomic_write_json(path, {"bad": object()})
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["r.md"]


def test_run_dir_refuses_another_config_unless_overwrite(tmp_path):
    run = RunDir(tmp_path / "r", {"lr": 0.1})
    run.write_metrics({"val_accuracy": 0.9})
    RunDir(tmp_path / "r", {"lr": 0.1})  # same config: fine, results kept
    assert (tmp_path / "r" / "metrics.json").exists()
    with pytest.raises(UsageError, match="another configuration.*lr"):
        RunDir(tmp_path / "r", {"lr": 0.2})
    assert read_json(tmp_path / "r" / "metrics.json") == {"val_accuracy": 0.9}
    RunDir(tmp_path / "r", {"lr": 0.2}, overwrite=True)
    assert not (tmp_path / "r" / "metrics.json").exists()
    assert read_json(tmp_path / "r" / "config.json")["config"] == {"lr": 0.2}


def test_run_dir_never_writes_into_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a results folder"):
        RunDir(tmp_path, {"lr": 0.1})


def test_run_dir_shares_a_folder_whose_config_another_process_is_writing(tmp_path):
    # A distributed search's chief and workers open one folder at once: the chief's
    # half-written config.json (a temporary file beside it) is not a foreign file.
    (tmp_path / ".config.json.k2x9.tmp").write_text('{"config": ')
    RunDir(tmp_path, {"lr": 0.1})
    assert read_json(tmp_path / "config.json")["config"] == {"lr": 0.1}
    other = tmp_path / "other"
    other.mkdir()
    (other / ".metrics.json.k2x9.tmp").write_text("{")  # not config.json's: foreign
    with pytest.raises(UsageError, match="not a results folder"):
        RunDir(other, {"lr": 0.1})


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tasks.task1", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SUITE_OFFLINE": "1", **(env or {})})


def test_cli_missing_data_exits_2_with_one_sentence(tmp_path):
    result = cli("init", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                 env={"SUITE_DATA_DIR": "", "KERAS_HOME": str(tmp_path / "k")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mnist.npz" in lines[0] and "--data-dir" in lines[0]


@pytest.mark.parametrize("argv,expected", [
    (["nonsense"], "<experiment> must be one of init, "),
    (["init", "--batch-size", "0"], "positive integer"),
    (["init", "--lr", "-1"], "positive number"),
    (["init", "--lr", "inf"], "positive number"),
    (["init", "--data-dir", "/no/such/folder"], "is not a folder"),
])
def test_cli_bad_arguments_exit_2_without_traceback(argv, expected, tmp_path):
    result = cli(*argv, "--out", str(tmp_path / "o")) if argv[0] != "nonsense" else cli(*argv)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_help_lists_every_experiment():
    result = cli("--help")
    for name in ("init", "search", "gradcheck", "tricks", "topology", "regularize",
                 "cifar10-numpy", "all"):
        assert name in result.stdout
    assert json.loads(json.dumps(result.returncode)) == 0


def test_a_killed_writers_temporary_file_is_removed_by_the_next_run(tmp_path):
    from suite.io import _HOST

    run = RunDir(tmp_path / "run", {"a": 1})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid names a writer that no longer runs
    stale = run.file(f".metrics.json.{dead.pid}@{_HOST}.abc123.tmp")
    nested = run.file("tensorboard")
    nested.mkdir()
    stale_nested = nested / f".history.csv.{dead.pid}@{_HOST}.zz9.tmp"
    writing = run.file(f".report.md.{os.getpid()}@{_HOST}.q1w2.tmp")  # a live writer's
    elsewhere = run.file(f".metrics.json.{dead.pid}@{_HOST}x.abc.tmp")  # another host's
    for path in (stale, stale_nested, writing, elsewhere):
        path.write_text("half")
    RunDir(tmp_path / "run", {"a": 1})  # the same command again
    assert not stale.exists() and not stale_nested.exists()
    assert writing.exists() and elsewhere.exists()


def test_atomic_writes_name_their_temporary_file_after_the_writer(tmp_path, monkeypatch):
    from suite import io as suite_io

    seen = []
    original = os.replace
    monkeypatch.setattr(suite_io.os, "replace", lambda a, b: (seen.append(a), original(a, b)))
    atomic_write_text(tmp_path / "x.txt", "y")
    assert suite_io._TEMPORARY.match(os.path.basename(seen[0]))
    assert f".{os.getpid()}@{suite_io._HOST}." in seen[0]


CHATTER = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795888359.868490    3018 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1795888359.868954    3018 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795888431.535485    3154 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.
E0000 00:00:1795888389.656122    3065 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: UNKNOWN ERROR (303)
"""  # noqa: E501 (TensorFlow 2.21's own lines, as printed on a CPU-only AVX-512 machine)
REAL = "W0000 00:00:1795888389.7 3065 op_kernel.cc:1] Out of memory while allocating\n" \
       "UserWarning: a real Python warning\n"


def test_tensorflow_start_up_chatter_is_dropped_and_real_warnings_kept():
    from suite.tf_quiet import drop_chatter

    assert drop_chatter(CHATTER + REAL, gpu_driver=False) == REAL
    # Where an NVIDIA driver is installed, a failing CUDA is worth seeing (INFO lines never).
    kept = drop_chatter(CHATTER + REAL, gpu_driver=True)
    assert kept == CHATTER.splitlines(keepends=True)[-1] + REAL


QUIET_IMPORT = """
import sys, warnings
from suite.tf_quiet import import_tensorflow
keras = import_tensorflow()
import tensorflow as tf
print((tf.constant(2.0) * 3).numpy(), keras.layers.Dense(2)(tf.ones((1, 3))).shape)
warnings.warn("still shown")
"""


@pytest.mark.parametrize("onednn", ["0", "1"])
def test_importing_tensorflow_prints_nothing_but_real_warnings(onednn):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", QUIET_IMPORT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**env, "TF_ENABLE_ONEDNN_OPTS": onednn,
                                                         "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6.0", "(1,", "2)"]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "UserWarning: still shown" in lines[0], result.stderr


ONEDNN_AFTER_TASK4 = """
import runpy, sys
sys.argv = ["tasks.task4", "--help"]  # parses, prints, exits: TensorFlow not loaded yet
try:
    runpy.run_module("tasks.task4", run_name="__main__")
except SystemExit:
    pass
from tensorflow.python.util import _pywrap_util_port  # what TensorFlow itself decided
print(_pywrap_util_port.IsMklEnabled())
"""


@pytest.mark.parametrize(("setting", "enabled"), [(None, "True"), ("0", "False")])
def test_task4_turns_onednn_on_unless_the_environment_says(setting, enabled):
    """`python -m tasks.task4` loads TensorFlow with oneDNN on, on any CPU (TensorFlow's
    own default is off without AVX-512), and leaves `TF_ENABLE_ONEDNN_OPTS=0` alone."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    result = subprocess.run([sys.executable, "-c", ONEDNN_AFTER_TASK4], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**env, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == enabled


def test_prefer_onednn_only_fills_in_an_unset_choice(monkeypatch):
    from suite.env import ONEDNN, prefer_onednn

    monkeypatch.delenv(ONEDNN, raising=False)
    prefer_onednn()
    assert os.environ[ONEDNN] == "1"
    monkeypatch.setenv(ONEDNN, "0")
    prefer_onednn()
    assert os.environ[ONEDNN] == "0"


def test_no_help_text_shows_a_default_of_none():
    import importlib

    from tuning.vgg import parser as tuning_parser

    helps = [tuning_parser().format_help()]
    for n in (1, 2, 3, 4):
        task = importlib.import_module(f"tasks.task{n}").task
        experiments = task.parser()._subparsers._group_actions[0].choices
        helps += [experiments[name].format_help() for name in task.experiments]
    assert all("default: None" not in text for text in helps)
    # Task 4's train and all, and tuning: a choice of six (the same six).
    assert sum("--augment [{flip,light,medium,strong,report,none}]" in text for text in helps) >= 2
    assert "--augment {flip,light,medium,strong,report,none}" in helps[0]


@pytest.mark.parametrize("task_name,argv", [
    ("task1", ["search", "--quick", "--dataset", "digits", "--batch-sizes", "16,64"]),
    ("task3", ["cifar10-cnn", "--models", "strong", "--budget-minutes", "20"]),
    ("task4", ["train", "--no-augment", "--lr", "0.01", "--data-dir", "/data"]),
    ("task4", ["submit", "--tta", "flip", "--out", "runs/x"]),
])
def test_the_recorded_command_reproduces_the_flags(task_name, argv, tmp_path):
    import importlib
    import shlex

    task = importlib.import_module(f"tasks.{task_name}").task
    args = task.parser().parse_args(argv)
    words = shlex.split(task.command(args))
    assert words[:3] == ["python", "-m", f"tasks.{task_name}"]
    assert vars(task.parser().parse_args(words[3:])) == vars(args)


def test_a_results_folder_records_what_wrote_it(tmp_path):
    run = RunDir(tmp_path / "r", {"seed": 1}, about={"task": "task9", "command": "python -m x"})
    written = read_json(run.file("config.json"))
    assert written["config"] == {"seed": 1}
    assert written["task"] == "task9" and written["command"] == "python -m x"
    RunDir(tmp_path / "r", {"seed": 1}, about={"command": "another"})  # not compared: no clash


def test_all_runs_what_it_can_and_says_what_it_could_not(tmp_path, capsys):
    from data.errors import DatasetNotFound
    from suite.cli import Task, write_index

    toy = Task("toy", "A toy task.", datasets=("digits", "cifar10"))

    @toy.experiment("fine", "Writes its report.")
    def fine(args, run):
        (run.path / "report.md").write_text("# fine\n")

    @toy.experiment("offline", "Needs a dataset that is not here.", datasets=("cifar10",))
    def offline(args, run):
        raise DatasetNotFound("CIFAR-10 not found: looked for cifar-10-batches-py")

    @toy.experiment("all", "Both.")
    def run_all(args, run):
        done = toy.run_all(args, ["offline", "fine"], run)
        assert list(done) == ["fine"]
        write_index(run, "Toy: every experiment", "", ["offline", "fine"])

    assert toy.main(["all", "--out", str(tmp_path / "all"), "--dataset", "digits"]) == 0
    report = (tmp_path / "all" / "report.md").read_text()
    assert "| offline | not run: CIFAR-10 not found: looked for cifar-10-batches-py |" in report
    assert "| fine | [fine/report.md](fine/report.md) |" in report
    assert "toy offline: not run: CIFAR-10 not found" in capsys.readouterr().err


def test_an_unknown_dataset_is_worded_like_every_bad_value():
    from data import DataError, load_dataset

    with pytest.raises(DataError, match=r"^dataset must be one of mnist, digits, fashion_mnist, "
                                        r"cifar10; got 'nope'\.$"):
        load_dataset("nope")
