"""`python -m tasks.task4 submit`: the file Kaggle takes, and its validator."""

import numpy as np
import pytest

from suite.io import read_json
from tasks.task4.experiments import task
from tasks.task4.submit import submission_text, validate_submission
from tests.support import UNREADABLE, write_bad_files


def test_submission_is_sorted_by_numeric_id_and_validated():
    text = submission_text([10, 9, 100, 1], np.array([0.9, 0.2, 0.5, 0.49]))
    assert text == "id,label\n1,Cat\n9,Cat\n10,Dog\n100,Dog\n"
    validate_submission(text, [1, 9, 10, 100])
    probs = submission_text([2, 1], np.array([0.25, 1.0]), probabilities=True)
    assert probs == "id,label\n1,1.000000\n2,0.250000\n"
    validate_submission(probs, [1, 2], probabilities=True)


@pytest.mark.parametrize("text, ids, problem", [
    ("id,label\n1,Cat\n", [1, 2], "1 ids are missing"),
    ("id,label\n1,Cat\n2,Dog\n3,Dog\n", [1, 2], "1 are extra"),
    ("id,label\n1,Cat\n1,Dog\n", [1], "more than once"),
    ("id,label\n2,Cat\n1,Dog\n", [1, 2], "increasing"),
    ("id,label\n1,cat\n", [1], "not Cat or Dog"),
    ("file,label\n1,Cat\n", [1], "header"),
    ("id,label\n1,Cat,0.3\n", [1], "not '<id>,<label>'"),
])
def test_validator_rejects_bad_files(text, ids, problem):
    with pytest.raises(ValueError, match=problem):
        validate_submission(text, ids)
    with pytest.raises(ValueError, match="outside"):
        validate_submission("id,label\n1,1.5\n", [1], probabilities=True)


def test_submit_writes_one_row_per_readable_photo(trained, tmp_path, capsys, monkeypatch):
    data, run = trained.data, trained.out
    bad = write_bad_files(data / "test1", stem="90")  # ids 900 ... 906
    monkeypatch.chdir(tmp_path)  # the report goes to ./runs/task4/submit
    csv = tmp_path / "submission.csv"
    argv = ["submit", "--model", str(run / "model.keras"), "--images", str(data / "test1"),
            "--out", str(csv), "--tta", "flip-shift", "--threads", "1"]
    assert task.main(argv) == 0
    err = capsys.readouterr().err
    lines = csv.read_text().splitlines()
    unreadable = sorted(int(bad[k].stem) for k in UNREADABLE)
    readable = [1, 2, 3, 4, 5, 6] + sorted(int(p.stem) for k, p in bad.items()
                                           if k not in UNREADABLE)
    assert lines[0] == "id,label" and [int(x.split(",")[0]) for x in lines[1:]] == readable
    assert all(x.split(",")[1] in ("Cat", "Dog") for x in lines[1:])
    assert f"no row for 3 unreadable test photos, ids {', '.join(map(str, unreadable))}" in err
    assert read_json(tmp_path / "runs/task4/submit/metrics.json")["rows"] == len(readable)
    assert task.main(argv + ["--probabilities"]) == 0  # replaces the report folder
    assert all(0 <= float(x.split(",")[1]) <= 1 for x in csv.read_text().splitlines()[1:])


@pytest.mark.parametrize("experiment", ["analyze", "submit"])
def test_a_missing_model_is_one_sentence_in_the_suite_wording(experiment, tmp_path, capsys):
    missing = str(tmp_path / "nope.keras")
    argv = [experiment, "--model", missing, "--out", str(tmp_path / "out"), "--threads", "1"]
    assert task.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"task4: error: --model must be a saved model.keras file (train first: "
                    f"python -m tasks.task4 train); got {missing!r}.")
