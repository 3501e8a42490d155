"""Every command line, fuzzed: generated argument lists end in exit 0 or 2, never a traceback.

For each command of `clis.all_clis()` (every experiment of tasks 1-4, `tasks report`,
`tasks reproduce`, `tuning.vgg`, task 4's `portable`, the benchmarks), Hypothesis draws
argument lists from the command's own flags (read from its parser), each flag with values of
the wrong type, sign or size, NaN and infinities, empty, very long and non-ASCII text, and
paths that are missing, unwritable, a file where a folder is wanted and the reverse, or files
of the wrong kind. Each run must end in exit status 0 or 2; a 2 is exactly one line on
stderr and leaves the sandbox as it was (no half-written results folder). An argument list
that passes every check is stopped where the real work would start (`harness.ReachedTraining`).

Derandomised, `EXAMPLES` argument lists per command: the same lists on every run, so CI is
repeatable. `FUZZ_EXAMPLES=N` tries more. What the first runs found is kept case by case
in test_found_cases.py.
"""

from __future__ import annotations

import argparse
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness
from tests.fuzz.clis import all_clis

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
CLIS = [pytest.param(cli, id=cli.name) for cli in all_clis()]

# Values no flag should take without a sentence: wrong type, sign, size, NaN, empty, long.
HOSTILE = ["", " ", "0", "-1", "-0", "1", "2", "3", "0.5", "1.5", "-5", "1e308", "1e-320",
           "nan", "NaN", "inf", "-inf", "1000000000000", str(2**32), str(2**40), "abc",
           "1,2,3", ",", "0,0", "-1,2", "1,,2", "x" * 5000, "9" * 400, "é漢字🙂", "None",
           "true", "[1, 2]", "{}"]
PATHS = [*harness.PLACES, *harness.UNWRITABLE]
# Free text keeps clear of '/', '.' and '~': a path outside the sandbox comes only from
# `UNWRITABLE` (a generated "/" or ".." with --overwrite would empty a real folder).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/.~\\"),
               max_size=12)


def plausible(action: argparse.Action) -> list[str]:
    """Values the flag would take: its choices and its default, as typed."""
    values = [str(c) for c in action.choices or ()]
    default = action.default
    if isinstance(default, (list, tuple)):
        values.append(",".join(map(str, default)))
    elif default is not None and not isinstance(default, bool) and default != argparse.SUPPRESS:
        values.append(str(default))
    return values


def values(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    """The words that follow `action`'s flag: none for a switch, else one or more values."""
    if action.nargs == 0:
        return st.just([])
    one = st.one_of(st.sampled_from(HOSTILE), st.sampled_from(PATHS),
                    st.integers(-2**70, 2**70).map(str), st.floats().map(repr), TEXT,
                    *([st.sampled_from(plausible(action))] if plausible(action) else []))
    if action.nargs == "?":
        return st.lists(one, max_size=1)
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=1, max_size=2)
    return st.lists(one, min_size=action.nargs or 1, max_size=action.nargs or 1)


@st.composite
def argument_lists(draw, cli: harness.Cli) -> list[str]:
    """Up to four of `cli`'s flags with drawn values. --out and --data-dir, where the
    command has them and they were not drawn, are the folders everything turns on: each is
    left out, a new folder (an empty one for the data) or one of the wrong `PATHS`."""
    actions = cli.flags()
    chosen = draw(st.lists(st.sampled_from(actions), max_size=4)) if actions else []
    argv = []
    for action in chosen:
        argv += [draw(st.sampled_from(action.option_strings)), *draw(values(action))]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(
            ["--no-such-flag", "stray", "-x"])))
    flags = {s for a in actions for s in a.option_strings}
    for flag, place in (("--out", "@out"), ("--data-dir", "@data")):
        if flag in flags and flag not in argv:
            value = draw(st.one_of(st.just(place), st.none(), st.sampled_from(PATHS)))
            argv += [flag, value] if value else []
    return argv


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    from suite.tf_quiet import import_tensorflow

    import_tensorflow()  # once, before the first run: its start-up lines are not a run's
    return tmp_path_factory.mktemp("keras")


@pytest.mark.parametrize("cli", CLIS)
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_argument_list_reaches_a_traceback(cli, data, keras_home):
    argv = data.draw(argument_lists(cli), label="argv")
    outcome = harness.run(cli, argv, keras_home)
    found = harness.problems(outcome)
    if outcome.error is not None and found:
        outcome.error.add_note(f"argument list: {outcome.command}")
        raise outcome.error  # its own traceback, and Hypothesis tells each apart
    assert not found, f"{outcome.command}: {found}"
