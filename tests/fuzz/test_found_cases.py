"""The cases the first fuzz runs found in task 4's train, tuning.vgg, portable,
bench/train_speed.py and the report's reading of results folders, one test each, now that
they hold the contract.

The contract is the fuzz suite's (`harness.problems`): exit 0 or 2, a 2 being one line on
stderr; a file the suite reads that is unreadable is one sentence naming it, or skipped
(caches, reports) with a one-line warning.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from suite.errors import UsageError
from suite.runs import RunDir
from tests.fuzz import harness
from tests.fuzz.clis import all_clis
from tests.support import make_kaggle

pytestmark = pytest.mark.faults
CLIS = {cli.name: cli for cli in all_clis()}


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    from suite.tf_quiet import import_tensorflow

    import_tensorflow()
    return tmp_path_factory.mktemp("keras")


@pytest.mark.parametrize("name, argv", [
    pytest.param("tasks report", ["--runs", "@truncated_results", "--out", "@out"],
                 id="report-truncated"),
    pytest.param("tasks report", ["--runs", "@list_results", "--out", "@out"],
                 id="report-list"),
    pytest.param("tasks report", ["--runs", "@other_results", "--out", "@folder"],
                 id="report-out-folder"),
    pytest.param("tasks report", ["--runs", "@other_results", "--out", "/proc/nope/x"],
                 id="report-out-proc"),
    pytest.param("tasks.task4.portable pack", [],
                 id="portable-pack-usage"),
    pytest.param("tasks.task4.portable train", ["--photos", "@packed", "--out", "@out",
                                                "--minutes", "x"],
                 id="portable-train-usage"),
    pytest.param("bench/train_speed.py", ["--repeats", "0"],
                 id="train-speed-repeats"),
    pytest.param("bench/train_speed.py", ["--photos", "many"],
                 id="train-speed-usage"),
])
def test_argument_lists_that_broke_the_contract_hold_it(name, argv, keras_home):
    outcome = harness.run(CLIS[name], argv, keras_home)
    assert not harness.problems(outcome), harness.problems(outcome)


# -- task 4's train: --hparams values and its resume files -----------------------------------
def train(argv, data: Path) -> tuple[int, str]:
    from tasks.task4.experiments import task

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            status = task.main(["train", "--data-dir", str(data), "--quick",
                                "--image-size", "16", *argv])
        except SystemExit as exit_:
            status = exit_.code
    return status, err.getvalue()


# --hparams' values are read by the recipe's own rules (training.recipes.RULES).
@pytest.mark.parametrize("hparams", [
    pytest.param({"batch_size": 0, "learning_rate": -1}, id="batch-0"),
    pytest.param({"learning_rate": "fast"}, id="lr-word"),
    pytest.param({"batch_size": 10**12}, id="batch-huge"),
])
def test_hparams_values_are_one_sentence(hparams, tmp_path, keras_home):
    data = make_kaggle(tmp_path / "dogs", per_class=6, test=0)
    path = tmp_path / "best_hparams.json"
    path.write_text(json.dumps(hparams))
    status, err = train(["--hparams", str(path), "--out", str(tmp_path / "out")], data)
    assert status == 2 and len(err.strip().splitlines()) == 1, err[-2000:]


def stopped_train(out: Path, data: Path) -> None:
    """A train run into `out` stopped where the photos load: its folder, config.json only."""
    with mock.patch("data.dogs.load_dogs_vs_cats", side_effect=harness.ReachedTraining):
        with pytest.raises(harness.ReachedTraining):
            train(["--out", str(out)], data)


@pytest.mark.parametrize("corrupt", ["history.csv", "finished metrics.json"])
def test_an_unreadable_resume_file_of_train_is_one_sentence(corrupt, tmp_path, keras_home):
    data = make_kaggle(tmp_path / "dogs", per_class=6, test=0)
    out = tmp_path / "out"
    stopped_train(out, data)
    if corrupt == "history.csv":
        (out / "history.csv").write_text("epoch,loss\n1,0.5\nthree,\x00\n")
    else:
        (out / "model.keras").write_text("a model")
        (out / "metrics.json").write_text('{"val_accuracy": 0.9')
    status, err = train(["--out", str(out)], data)
    assert status == 2 and len(err.strip().splitlines()) == 1, err[-2000:]


def test_an_unreadable_best_record_is_one_sentence(tmp_path):
    from training.checkpoints import BEST_FILE, BEST_RECORD, best_record

    run = RunDir(tmp_path / "run", {"test": 1})
    run.file(BEST_FILE).write_text("weights")
    run.file(BEST_RECORD).write_text('{"epoch": 3, "val_acc')
    with pytest.raises(UsageError, match=BEST_RECORD):
        best_record(run)


# -- caches: skipped with a warning and rebuilt ----------------------------------------------
def test_an_unreadable_split_cache_is_listed_again(tmp_path, capsys):
    from tuning.vgg import parser, resolve, search_split

    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    args = resolve(parser().parse_args(["--quick", "--data-dir", str(data),
                                        "--out", str(tmp_path / "out")]))
    run = RunDir(tmp_path / "out", {"test": 1})
    run.file("cache").mkdir()
    run.file("cache/split.json").write_text('{"request": ')
    split = search_split(args, run)
    assert len(split["train_files"]) + len(split["val_files"]) == 8
    assert "split.json" in capsys.readouterr().err


def test_an_unreadable_decode_cache_is_rebuilt(tmp_path, capsys):
    from data.dogs import load_dogs_vs_cats
    from training.photos import cached_arrays

    split = load_dogs_vs_cats(make_kaggle(tmp_path / "dogs", per_class=4, test=0))
    cache = tmp_path / "photos-16px.npz"
    cache.write_bytes(np.random.default_rng(0).bytes(300))
    images, labels = cached_arrays(split.train_files, split.train_labels, 16, cache)
    assert images.shape == (len(split.train_files), 16, 16, 3)
    assert "photos-16px.npz" in capsys.readouterr().err

