"""`python -m tasks reproduce`: the plan from this machine's data, the runner (steps as child
processes, their status in reproduce.json, resuming, failures, --only / --skip, Ctrl-C) and
the estimate. The runner's tests run stand-in steps (a few lines of Python each, no
TensorFlow); the whole plan on generated data is in test_faults_reproduce.py."""

import json
import os
import re
import signal
import textwrap

import pytest

from suite.io import read_json
from suite.provenance import machine
from tasks import reproduce as rp
from tasks.__main__ import main
from tasks.reproduce import Step, build_plan, duration, find_datasets
from tasks.timing import Work, mlp

# A stand-in step: `python -m fakestep <out> <mode>`. It counts its runs in calls.txt; "ok"
# writes a results folder, "fail-once" fails its first run, "interrupt-once" presses Ctrl-C
# on its parent (the runner) the first time and waits to be stopped.
FAKE_STEP = textwrap.dedent('''
    import json, os, signal, sys, time
    from pathlib import Path

    # Ctrl-C as in a terminal, even where this test runs with SIGINT ignored (a job started
    # in the background with `&` inherits that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out, mode = Path(sys.argv[1]), sys.argv[2]
    with open(out.parent / "calls.txt", "a") as f:
        f.write(out.name + "\\n")
    marker = out.parent / (out.name + ".marker")
    if mode.endswith("-once") and not marker.exists():
        marker.write_text("1")
        if mode == "fail-once":
            print("fakestep: error: boom.", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.5)
        os.kill(os.getppid(), signal.SIGINT)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            print("fakestep: interrupted", file=sys.stderr)
            sys.exit(130)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"config": {}, "task": "fake",
                                                 "experiment": out.name}))
    (out / "metrics.json").write_text("{}")
    print(f"fakestep {out.name}: done")
''')
COST = {"start": 2.0, "numpy": 1e-4, "keras": 1e-4, "model": 1.0, "cnn": 1e-3, "photo": 1e-3,
        "view": 1e-3}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Make `reproduce` plan `fake.steps` [(name, mode, after)] and never time the machine."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "fakestep.py").write_text(FAKE_STEP)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path / "code"), os.environ.get("PYTHONPATH", "")]))
    runs = tmp_path / "runs"

    class Fake:
        steps = [("a", "ok", ()), ("b", "ok", ())]
        not_run = {}

        def plan(self, runs_dir, quick, data_dir, found):
            return [Step(name, f"step {name}", ("fakestep", str(runs_dir / name), mode),
                         (f"fake/{name}",), Work(numpy=10_000), after=after)
                    for name, mode, after in self.steps], dict(self.not_run)

        def calls(self):
            path = runs / "calls.txt"
            return path.read_text().split() if path.exists() else []

    state = Fake()
    monkeypatch.setattr(rp, "build_plan", state.plan)
    monkeypatch.setattr(rp, "find_datasets", lambda data_dir: {})
    monkeypatch.setattr(rp, "measure_cost", lambda data_dir: dict(COST))
    state.runs = runs
    return state


def reproduce(runs, *flags):
    return main(["reproduce", "--runs", str(runs), *flags])


def test_the_plan_comes_first_then_one_line_as_each_step_starts_and_ends(fake, capsys):
    assert reproduce(fake.runs) == 0
    out = capsys.readouterr().out.splitlines()
    plan = out.index(next(line for line in out if line.startswith("reproduce: 2 step(s)")))
    assert re.match(r"  1\. a +~3 s  step a", out[plan + 1])
    assert "python -m fakestep" in out[plan + 2]
    assert out[plan + 5].startswith("  in all about 6 s (an estimate")
    progress = [line for line in out if line.startswith("[")]
    assert re.fullmatch(r"\[1/2\] a: started, expected ~3 s \(log: .*/logs/a\.log\)",
                        progress[0])
    assert re.fullmatch(r"\[1/2\] a: done in \d+ s; \d+ s elapsed, about \d+ s left",
                        progress[1])
    assert progress[3].startswith("[2/2] b: done in")
    assert out[-1] == f"report: {fake.runs / 'REPORT.md'}"
    status = read_json(fake.runs / "reproduce.json")
    assert {name: s["status"] for name, s in status["steps"].items()} == {"a": "done",
                                                                          "b": "done"}
    assert status["cost"] == COST and status["cost_machine"] == machine()
    assert "fakestep a: done" in (fake.runs / "logs" / "a.log").read_text()
    assert (fake.runs / "REPORT.md").is_file()


def test_a_failed_step_is_reported_the_others_run_and_the_next_run_resumes(fake, capsys):
    fake.steps = [("a", "ok", ()), ("b", "fail-once", ()), ("c", "ok", ("b",)),
                  ("d", "ok", ())]
    assert reproduce(fake.runs) == 1
    out = capsys.readouterr().out
    assert re.search(r"\[2/4\] b: FAILED with exit status 1 after \d+ s: fakestep: error: "
                     r"boom\.", out)
    assert "[3/4] c: not run: needs b, which did not finish" in out
    assert "reproduce: b failed with exit status 1; see" in out
    assert "reproduce: c not run: needs b, which did not finish" in out
    assert fake.calls() == ["a", "b", "d"]
    status = read_json(fake.runs / "reproduce.json")["steps"]
    assert (status["b"]["status"], status["b"]["exit_status"]) == ("failed", 1)
    assert status["c"] == {"status": "not run", "why": "needs b, which did not finish",
                           "covers": ["fake/c"]}

    assert reproduce(fake.runs) == 0  # again: the unfinished steps, and only those
    out = capsys.readouterr().out
    assert "[1/4] a: done earlier, not redone" in out and "[4/4] d: done earlier" in out
    assert "done earlier" in out.split("reproduce: 2 step(s)")[1].split("\n")[1]
    assert fake.calls() == ["a", "b", "d", "b", "c"]
    assert (fake.runs / "logs" / "b.log").read_text().count(rp.LOG_HEADER) == 2  # both attempts


def test_only_and_skip_pick_steps_and_a_bad_name_is_one_sentence(fake, capsys):
    fake.steps = [("a", "ok", ()), ("b", "ok", ()), ("c", "ok", ())]
    assert reproduce(fake.runs, "--only", "a,c", "--skip", "c") == 0
    assert fake.calls() == ["a"]
    left_out = {"status": "not run", "why": "left out of the last run (--only / --skip)"}
    status = read_json(fake.runs / "reproduce.json")["steps"]
    assert status["b"] == {**left_out, "covers": ["fake/b"]}  # the page says why, not "absent"
    assert status["c"] == {**left_out, "covers": ["fake/c"]}
    assert rp.steps_not_done(fake.runs)["fake", "b"].endswith("left out of the last run "
                                                               "(--only / --skip)")
    assert reproduce(fake.runs, "--only", "b") == 0  # a done step is never marked left out
    assert read_json(fake.runs / "reproduce.json")["steps"]["a"]["status"] == "done"
    assert fake.calls() == ["a", "b"]
    capsys.readouterr()
    assert reproduce(fake.runs, "--skip", "x") == 2
    err = capsys.readouterr().err
    assert err == "tasks reproduce: error: --skip must be step names among a, b, c; got 'x'.\n"
    assert fake.calls() == ["a", "b"]
    (fake.runs.parent / "a-file").write_text("")
    assert reproduce(fake.runs.parent / "a-file") == 2
    assert "--runs must be a folder of results" in capsys.readouterr().err


def test_what_the_data_does_not_allow_is_listed_and_recorded(fake, capsys):
    fake.steps = [("a", "ok", ()), ("b", "ok", ())]
    fake.not_run = {"b": "Dogs vs. Cats not found here", "CIFAR-10": "absent (looked in x)"}
    assert reproduce(fake.runs) == 0
    out = capsys.readouterr().out
    assert "  not run: b: Dogs vs. Cats not found here" in out
    assert "reproduce: not run: CIFAR-10: absent (looked in x)" in out
    assert fake.calls() == ["a"]
    status = read_json(fake.runs / "reproduce.json")
    assert status["steps"]["b"]["status"] == "not run"
    assert status["absent"] == {"CIFAR-10": "absent (looked in x)"}
    assert rp.steps_not_done(fake.runs) == {
        ("fake", "b"): "reproduce did not run b: Dogs vs. Cats not found here",
        ("task3", "cifar10-cnn"): "CIFAR-10 absent (looked in x)"}


def test_another_mode_or_a_step_still_running_is_refused(fake, capsys):
    assert reproduce(fake.runs, "--quick") == 0
    capsys.readouterr()
    assert reproduce(fake.runs) == 2
    assert "holds a --quick smoke run of reproduce" in capsys.readouterr().err
    status = read_json(fake.runs / "reproduce.json")
    status["steps"]["a"].update(status="running", pid=os.getpid(), host=os.uname().nodename)
    (fake.runs / "reproduce.json").write_text(json.dumps(status))
    assert reproduce(fake.runs, "--quick") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"step a of an earlier reproduce into {fake.runs} still " \
                                   f"runs (process {os.getpid()})" in err


@pytest.fixture
def terminal_ctrl_c():
    """Ctrl-C raises KeyboardInterrupt here, as in a terminal, even where the tests run with
    SIGINT ignored (a job started in the background with `&` inherits that)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_step_says_how_to_resume_and_the_next_run_does(fake, capsys,
                                                                         terminal_ctrl_c):
    fake.steps = [("a", "ok", ()), ("b", "interrupt-once", ()), ("c", "ok", ())]
    assert reproduce(fake.runs) == 130
    err = capsys.readouterr().err
    assert err.strip() == ("tasks reproduce: interrupted; run the same command again to "
                           "resume at the unfinished step (finished steps are kept).")
    status = read_json(fake.runs / "reproduce.json")["steps"]
    assert status["a"]["status"] == "done" and status["b"]["status"] == "interrupted"
    assert "fakestep: interrupted" in (fake.runs / "logs" / "b.log").read_text()
    assert reproduce(fake.runs) == 0
    assert fake.calls() == ["a", "b", "b", "c"]


# -- the plan from the data found ----------------------------------------------------------
def placeholder_data(root, cifar10=False, test_photos=True):
    """The files the plan looks for (their content is never read by it)."""
    (root / "fashion-mnist").mkdir(parents=True)
    (root / "mnist.npz").write_bytes(b"")
    (root / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (root / "dogs-vs-cats" / "train").mkdir(parents=True)
    for i in range(3):
        (root / "dogs-vs-cats" / "train" / f"cat.{i}.jpg").write_bytes(b"")
        (root / "dogs-vs-cats" / "train" / f"dog.{i}.jpg").write_bytes(b"")
    if test_photos:
        (root / "dogs-vs-cats" / "test1").mkdir()
        (root / "dogs-vs-cats" / "test1" / "1.jpg").write_bytes(b"")
    if cifar10:
        (root / "cifar-10-batches-py").mkdir()
    return root


@pytest.fixture
def nowhere_else(tmp_path, monkeypatch):
    monkeypatch.delenv("SUITE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def test_the_plan_runs_what_this_machines_data_allows(tmp_path, nowhere_else):
    data = placeholder_data(tmp_path / "data", test_photos=False)
    found = find_datasets(str(data))
    assert [name for name, why in found.items() if why] == ["cifar10"]
    steps, not_run = build_plan(tmp_path / "runs", False, str(data), found)
    commands = {step.name: " ".join(step.argv) for step in steps}
    assert commands["task2"].startswith("tasks.task2 all --dataset fashion_mnist --out ")
    assert "cifar10-numpy --dataset fashion_mnist" in commands["task1-cifar10-numpy"]
    assert "--budget-minutes 30" in commands["task4-train"] and "--quick" not in commands[
        "task4-train"]
    assert commands["tuning"].startswith("tuning.vgg --one-at-a-time --trial-minutes 3")
    assert all(f"--data-dir {data}" in command for command in commands.values())
    assert set(not_run) == {"CIFAR-10", "task4-submit"}
    assert not_run["CIFAR-10"].startswith("absent (looked for cifar-10-batches-py")
    assert "Fashion-MNIST instead" in not_run["CIFAR-10"]
    assert not_run["task4-submit"] == "Dogs vs. Cats has no test1/ (or test/) folder here"

    quick, _ = build_plan(tmp_path / "runs", True, str(data), found)
    assert all("--quick" in step.argv for step in quick)
    assert not any("--budget-minutes" in step.argv or "--trial-minutes" in step.argv
                   for step in quick)


def test_with_cifar10_here_its_steps_run_on_it_and_without_data_nothing_runs(tmp_path,
                                                                             nowhere_else):
    data = placeholder_data(tmp_path / "data", cifar10=True)
    steps, not_run = build_plan(tmp_path / "runs", False, str(data), find_datasets(str(data)))
    assert not_run == {}
    assert "--dataset cifar10" in " ".join(next(s for s in steps if s.name == "task2").argv)
    (tmp_path / "empty").mkdir()
    steps, not_run = build_plan(tmp_path / "runs", False, str(tmp_path / "empty"),
                                find_datasets(str(tmp_path / "empty")))
    assert set(not_run) == {"CIFAR-10"} | {step.name for step in steps}
    assert not_run["task1"].startswith("MNIST not found: looked for mnist.npz in --data-dir")


def test_expected_times_budgets_and_counted_work():
    assert mlp(500, 400) == 0.59691  # 784-500-400-10: report A's 596,910 parameters (w + b)
    assert Work(processes=2, numpy=1e6, model=3).seconds({"start": 4, "numpy": 1e-6,
                                                          "model": 2}) == 2 * 4 + 1 + 3 * 2
    budgeted = Step("t", "", (), (), Work(processes=16, model=16), minutes=48)
    assert budgeted.expected_seconds({"start": 3.0, "model": 1.0}) == 48 * 60 + 16 * 4
    assert budgeted.expected_seconds({}) == 48 * 60  # the timing failed: the budget alone
    assert Step("u", "", (), (), Work(numpy=5)).expected_seconds({}) is None
    assert [duration(s) for s in (None, 12, 89, 600, 7260)] == ["?", "12 s", "89 s",
                                                                 "10 min", "2 h 01 min"]
    # A full run of task 1 trains far more than its --quick run.
    assert rp.task1_work(False).numpy > 20 * rp.task1_work(True).numpy
