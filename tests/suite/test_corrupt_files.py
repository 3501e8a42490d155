"""Every file the shared machinery reads, corrupted: an existing results folder's config.json,
a resume's records, a runner's not_run.json, a --model that is no Keras model. Each stops the
command with one sentence naming the file and what to do, or is dropped with a one-line
warning saying what is done again."""

import json

import numpy as np
import pytest

from suite.cli import Records, Task, arg, positive_int, read_not_run
from suite.errors import UsageError
from suite.io import atomic_write_json, read_keras_model, read_record
from suite.runs import RunDir

# The ways a file goes wrong: cut short, emptied, random bytes, JSON of another type, a
# valid file of another kind (another results file in its place), not a file at all.
CORRUPTIONS = {
    "truncated": b'{"config": {"lr": 0.1',
    "empty": b"",
    "random bytes": np.random.default_rng(0).bytes(200),
    "a list": b"[1, 2]\n",
    "another file": b"epoch,loss\n1,0.5\n",
    "config not an object": b'{"config": [0.1]}\n',
}


def corrupt(path, kind):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CORRUPTIONS[kind])


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_an_unreadable_config_is_one_sentence_naming_it_and_what_to_do(kind, tmp_path):
    folder = tmp_path / "run"
    corrupt(folder / "config.json", kind)
    atomic_write_json(folder / "metrics.json", {"val_accuracy": 0.9})
    with pytest.raises(UsageError) as error:
        RunDir(folder, {"lr": 0.1})
    message = str(error.value)
    assert str(folder / "config.json") in message and "--overwrite" in message
    assert "--out" in message and "\n" not in message
    assert (folder / "metrics.json").exists()  # nothing was replaced


@pytest.mark.parametrize("kind", ["truncated", "a list", "random bytes"])
def test_overwrite_replaces_a_folder_whose_config_is_unreadable(kind, tmp_path):
    folder = tmp_path / "run"
    corrupt(folder / "config.json", kind)
    atomic_write_json(folder / "metrics.json", {"val_accuracy": 0.9})
    RunDir(folder, {"lr": 0.1}, overwrite=True)
    assert json.loads((folder / "config.json").read_text())["config"] == {"lr": 0.1}
    assert not (folder / "metrics.json").exists()


def test_a_config_json_that_is_a_folder_is_one_sentence(tmp_path):
    (tmp_path / "run" / "config.json").mkdir(parents=True)
    with pytest.raises(UsageError, match="config.json cannot be read"):
        RunDir(tmp_path / "run", {"lr": 0.1})


def test_read_record_says_none_for_each_corruption_and_missing_keys(tmp_path):
    path = tmp_path / "r.json"
    for kind in CORRUPTIONS:
        corrupt(path, kind)
        assert read_record(path, ("config",)) is None or kind == "config not an object"
    atomic_write_json(path, {"rows": [], "result": {}})
    assert read_record(path, ("rows", "result")) == {"rows": [], "result": {}}
    assert read_record(path, ("rows", "other")) is None
    assert read_record(tmp_path / "missing.json") is None


# -- a task's records and results folder, through a task of one experiment ------------------
RECORDS = Records("parts/*.json", ("value",), "that part is computed again")


def counting_task(computed: list, fail_at: dict):
    """A task whose experiment computes parts 0..n-1, each saved as it ends and read back
    when run again; `fail_at["part"]` = i makes a mistake found just before part i."""
    task = Task("fake", "A test task.", records=[RECORDS])

    @task.experiment("parts", "Parts, resumable.",
                     arguments=[arg("--parts", type=positive_int, default=3)])
    def parts(args, run):
        for i in range(args.parts):
            if fail_at.get("part") == i:
                raise UsageError(f"a mistake before part {i}.")
            if read_record(run.file(f"parts/{i}.json"), ("value",)) is None:
                computed.append(i)
                run.write_json(f"parts/{i}.json", {"value": i})
        run.write_metrics({"parts": args.parts})

    return task


@pytest.mark.parametrize("kind", ["truncated", "empty", "random bytes", "a list",
                                  "another file"])
def test_an_unreadable_record_is_redone_with_a_one_line_warning(kind, tmp_path, capsys):
    computed = []
    task = counting_task(computed, {})
    argv = ["parts", "--out", str(tmp_path / "out")]
    assert task.main(argv) == 0 and computed == [0, 1, 2]
    corrupt(tmp_path / "out" / "parts" / "1.json", kind)
    capsys.readouterr()
    assert task.main(argv) == 0
    assert computed == [0, 1, 2, 1]  # only the unreadable part, again
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")
    assert "parts/1.json" in warnings[0] and "that part is computed again" in warnings[0]


def test_a_mistake_before_any_result_leaves_no_folder_behind(tmp_path, capsys):
    fail_at = {"part": 0}
    task = counting_task([], fail_at)
    out = tmp_path / "runs" / "fake" / "parts"
    assert task.main(["parts", "--out", str(out)]) == 2
    assert "a mistake before part 0." in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nor the folders made for it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert task.main(["parts", "--overwrite", "--out", str(mine)]) == 2
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]  # as it was


def test_a_mistake_after_results_keeps_them_to_resume_from(tmp_path):
    computed, fail_at = [], {"part": 2}
    task = counting_task(computed, fail_at)
    out = tmp_path / "out"
    assert task.main(["parts", "--out", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "parts", "provenance.json"]
    fail_at.clear()
    assert task.main(["parts", "--out", str(out)]) == 0
    assert computed == [0, 1, 2]  # the rerun resumed at part 2


@pytest.mark.parametrize("kind", ["truncated", "a list", "random bytes"])
def test_an_unreadable_not_run_file_is_recorded_again(kind, tmp_path, capsys):
    run = RunDir(tmp_path / "all", {"test": 1})
    corrupt(run.file("not_run.json"), kind)
    assert read_not_run(run) == {}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not_run.json" in err[0] and err[0].startswith("warning: ")


@pytest.mark.parametrize("kind", ["a text file", "empty", "random bytes", "a zip of nothing",
                                  "a folder"])
def test_a_model_file_that_is_no_keras_model_is_one_sentence(kind, tmp_path):
    import zipfile

    path = tmp_path / "model.keras"
    if kind == "a folder":
        path.mkdir()
    elif kind == "a zip of nothing":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", "{}")
    else:
        path.write_bytes({"a text file": b"not a model\n", "empty": b"",
                          "random bytes": np.random.default_rng(1).bytes(300)}[kind])
    with pytest.raises(UsageError) as error:
        read_keras_model(path, "--model", "python -m tasks.task4 train")
    message = str(error.value)
    assert message.startswith("--model must be a model.keras that python -m tasks.task4 "
                              "train wrote (this one cannot be loaded: ")
    assert message.endswith(f"; got {str(path)!r}.") and "\n" not in message
