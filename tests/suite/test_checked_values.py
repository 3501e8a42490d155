"""Values checked where they enter: bounded numbers, lists, --seed, --out, and a value from a
file read by a flag's own parser (`suite.cli.checked`)."""

import argparse
import sys

import pytest

from suite.cli import (MAX_EPOCHS, SEEDS, checked, choice_list, check_out_folder, list_of,
                       positive_float, positive_int, seed_value, writable_folder)
from suite.errors import UsageError


@pytest.mark.parametrize("text, value", [("1", 1), ("1000", 1000), (" 7 ", 7)])
def test_a_bounded_integer_takes_what_a_run_can_meet(text, value):
    assert positive_int.up_to(MAX_EPOCHS)(text) == value


@pytest.mark.parametrize("text", ["1001", "1000000000000", "0", "-1", "1.5", "", "9" * 400,
                                  "1" * 5000, "nan"])
def test_a_bounded_integer_refuses_the_rest_in_the_one_wording(text):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        positive_int.up_to(1000)(text)
    assert str(error.value) == f"must be a positive integer up to 1,000; got {text!r}"


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400", "10.5", "0", "-0.1"])
def test_a_bounded_number_refuses_infinities_and_values_above(text):
    parse = positive_float.up_to(10.0)
    with pytest.raises(argparse.ArgumentTypeError, match="a positive number up to 10;"):
        parse(text)
    assert parse("10") == 10.0 and parse("1e-9") == 1e-9


def test_an_unbounded_parser_is_unchanged_by_its_bounded_copy():
    positive_int.up_to(5)
    assert positive_int("1000000") == 1_000_000


@pytest.mark.parametrize("text, ok", [("0", True), (str(SEEDS - 1), True), ("-1", False),
                                      (str(SEEDS), False), (str(2**40), False)])
def test_a_seed_is_what_numpy_takes(text, ok):
    import numpy as np

    if ok:
        np.random.seed(seed_value(text))  # NumPy takes it
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="from 0 to 2\\*\\*32 - 1"):
            seed_value(text)
        with pytest.raises(ValueError):
            np.random.seed(int(text))  # where it would have ended


def test_a_list_has_one_to_most_values_each_checked():
    parse = list_of(positive_int.up_to(10), most=3)
    assert parse("1,2,3") == [1, 2, 3] and parse("4,") == [4]
    for text in ("", ",", "1,2,3,4", "1,11", "1,x"):
        with pytest.raises(argparse.ArgumentTypeError) as error:
            parse(text)
        assert str(error.value) == ("must be a comma-separated list of 1 to 3 values, each a "
                                    f"positive integer up to 10; got {text!r}")


def test_a_list_of_choices_names_them():
    parse = choice_list(("course", "strong"))
    assert parse("strong,course") == ["strong", "course"]
    with pytest.raises(argparse.ArgumentTypeError, match="one or more of course, strong"):
        parse("course,,big")


@pytest.mark.parametrize("value, expected", [
    (0.01, 0.01), ("0.01", 0.01), (64, 64), (True, None), ("fast", None), (-1, None),
    (1e9, None), (float("nan"), None), (None, None), ([1, 2], None),
])
def test_a_value_from_a_file_is_read_by_the_flags_parser(value, expected):
    parse = positive_float.up_to(10.0) if expected != 64 else positive_int.up_to(100)
    if expected is None:
        with pytest.raises(UsageError) as error:
            checked("--hparams' learning_rate", value, parse)
        message = str(error.value)
        assert message.startswith("--hparams' learning_rate must be a positive ")
        assert message.endswith(".") and message.count("\n") == 0
    else:
        assert checked("--hparams' learning_rate", value, parse) == expected


def test_a_list_value_from_a_file_is_read_as_the_flag_would_read_it():
    assert checked("dense", [512, 512], list_of(positive_int)) == [512, 512]


@pytest.mark.parametrize("where", ["through_file", "file", "proc", "too_long", "dev_null"])
def test_out_that_cannot_be_made_or_written_is_one_sentence(where, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    path = {"through_file": tmp_path / "f.txt" / "out", "file": tmp_path / "f.txt",
            "proc": "/proc/nope/x", "too_long": tmp_path / ("x" * 300),
            "dev_null": "/dev/null"}[where]
    with pytest.raises(argparse.ArgumentTypeError, match="a folder that can be made and "
                                                         "written in"):
        writable_folder(str(path))
    with pytest.raises(UsageError) as error:
        check_out_folder(path)
    assert str(error.value).startswith("--out must be a folder") and str(path) in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # nothing made is left


def test_out_checked_leaves_no_folder_and_takes_an_existing_one(tmp_path):
    new = tmp_path / "a" / "b" / "c"
    assert writable_folder(str(new)) == str(new)
    assert list(tmp_path.iterdir()) == []  # the folders it made to try are gone
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    check_out_folder(tmp_path / "kept")
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_bad_seed_and_out_are_one_line_before_tensorflow_loads(tmp_path):
    import subprocess

    code = ("import sys\nfrom tasks.task1 import task\ntry:\n    status = task.main(sys.argv[1:])"
            "\nexcept SystemExit as exit_:\n    status = exit_.code\n"
            "print('tensorflow' in sys.modules)\nsys.exit(status)")
    for argv in (["init", "--seed", "-1"], ["init", "--seed", str(2**40)],
                 ["init", "--out", "/proc/nope/x"],
                 ["init", "--out", str(tmp_path / "f.txt" / "o")]):
        (tmp_path / "f.txt").write_text("x")
        result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                                text=True, timeout=120, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert "must be" in lines[0] and "Traceback" not in result.stderr
        assert result.stdout.strip() == "False"  # TensorFlow never loaded

