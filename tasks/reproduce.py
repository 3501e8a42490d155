"""`python -m tasks reproduce`: every experiment of the five reports that this machine's data
allows, with the reports' settings, into one results tree, then its `REPORT.md`.

    python -m tasks reproduce --data-dir ../shared/datasets          # runs/ -> runs/REPORT.md
    python -m tasks reproduce --quick --runs /tmp/smoke                # the same plan, minutes
    python -m tasks reproduce --only task3 --skip ...                  # some steps

Each step is one of the suite's own command lines, run as a child process (so a crash of
one step never takes the others down), its output kept in `<runs>/logs/<step>.log`, its
results where the command puts them by default (`<runs>/task1/all/`, `<runs>/task4/train/`,
`<runs>/tuning/vgg/`, ...; report B's task-1 runs in `<runs>/task1/init-b/` and
`search-b/`), so a folder an earlier run of the same command left there is resumed or reused:

    task1                python -m tasks.task1 all                  MNIST, report A's nets
    task1-init-b         python -m tasks.task1 init --hidden 24,12  MNIST, report B's net
    task1-search-b       python -m tasks.task1 search --hidden1 64  MNIST, report B's net
    task1-cifar10-numpy  python -m tasks.task1 cifar10-numpy        CIFAR-10, or Fashion-MNIST
    task2                python -m tasks.task2 all --dataset ...    CIFAR-10, or Fashion-MNIST
    task3                python -m tasks.task3 all                  MNIST (cifar10-cnn: CIFAR-10)
    task4-train          python -m tasks.task4 train --budget-minutes 30
    task4-analyze        python -m tasks.task4 analyze              (train's model)
    task4-submit         python -m tasks.task4 submit               Kaggle's test1/
    tuning               python -m tuning.vgg --one-at-a-time       the report's 4 tables

(Fashion-MNIST stands in for CIFAR-10 where CIFAR-10 is absent, and the page says so.)

A step runs on the data found on this machine (`--data-dir`, `$SUITE_DATA_DIR`, Keras's
cache) and never downloads: one whose data is absent is listed as not run, with why. The
plan, printed first, gives each step's expected time: its budget where it has one, else its
work (counted from its experiments' settings) at this machine's speed, timed now
(tasks/timing.py, well under a minute). `<runs>/reproduce.json` records each step's status,
written atomically as it starts and ends: run the same command again and it resumes at the
first unfinished step (a finished step is never redone; an interrupted one resumes inside,
as every task's command does).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from suite.errors import UsageError, must_be
from suite.io import atomic_write_json, read_json
from suite.provenance import machine, now_text
from tasks.timing import Work, mlp

STATUS_FILE = "reproduce.json"
LOGS = "logs"
LOG_HEADER = "--- reproduce"  # opens each attempt's output in a step's log
CODE_ROOT = Path(__file__).resolve().parents[1]  # the children import this very code
TRAIN_MINUTES = 30  # task 4's train: its README's budget
TRIALS, TRIAL_MINUTES = 16, 3  # tuning's --one-at-a-time: 14 trials, the centre twice more
STOP_SECONDS = 30  # after Ctrl-C, how long a step may take to stop before it is killed
CIFAR10 = "CIFAR-10"  # the plan's entry for what runs without it
# Report B's task-1 settings (../shared/REPORTED.md; tasks/task1/reported.py): its init study
# on 784-24-12-10 (lr 0.01, batch 1000), and its one net, 64-32 ReLU, lr 0.01, batch 64, 50
# epochs, as a search of that single configuration (no parameter budget).
REPORT_B_INIT = ("--hidden", "24,12", "--lr", "0.01", "--batch-size", "1000")
REPORT_B_SEARCH = ("--lrs", "0.01", "--batch-sizes", "64", "--hidden1", "64", "--hidden2", "32",
                   "--activations", "relu", "--configs", "1", "--rungs", "1", "--epochs", "50",
                   "--min-params", "0")
CIFAR10_ONLY = ("task3/cifar10-cnn",)  # findings no stand-in runs for


@dataclass(frozen=True)
class Step:
    """One command of the plan.

    Args:
        name: its name for --only / --skip and in reproduce.json.
        what: a few words for the plan.
        argv: the command after `python -m`, its results folder included.
        covers: the findings it fills: a task (`task3`) or `task/experiment`.
        work: what it computes (tasks/timing.py), outside its budget if it has one.
        minutes: its budget in minutes, or None.
        after: steps whose results it needs.
    """

    name: str
    what: str
    argv: tuple
    covers: tuple
    work: Work = field(default_factory=Work)
    minutes: float | None = None
    after: tuple = ()

    def expected_seconds(self, cost: dict) -> float | None:
        """Its budget (which counts the whole process) and its work at `cost` besides; None
        when there is no `cost` (the timing failed) and it is not budgeted."""
        if not cost:
            return self.minutes * 60 if self.minutes else None
        return (self.minutes or 0) * 60 + self.work.seconds(cost)


# -- what each step computes, from its experiments' settings ---------------------------------
N, HELD = 50_000, 10_000  # MNIST's and Fashion-MNIST's training and held-out splits
QUICK_N, QUICK_HELD = 2_000, 500  # every task's --quick (training.fitting.load_splits)
EVAL = 1 / 3  # a forward pass: about a third of a training step's arithmetic
# weight-decay's nets train for at most 100 epochs, but its early stopping (patience 10)
# ends them sooner, most often past half way: the plan counts this many for each
WEIGHT_DECAY_EPOCHS = 70


def task1_work(quick: bool) -> Work:
    """init, search, gradcheck, tricks, topology, regularize (tasks/task1/experiments.py)."""
    n, held = (QUICK_N, QUICK_HELD) if quick else (N, HELD)
    e = (lambda epochs: min(epochs, 2)) if quick else (lambda epochs: epochs)
    table = n + (n + 2 * held) * EVAL  # a table study evaluates train, val and test
    # search: 27 configurations to epoch 1, 9 on to 3, 3 on to 9, the winner on to 20
    search = (27 + 1) if quick else (27 + 9 * 2 + 3 * 6 + 11)
    topology = sum(mlp(*h) for h in ((5,), (10,), (20,), (32,), (64,), (128,), (60, 60)))
    return Work(numpy=3 * e(10) * n * mlp(500, 400) + search * (n + held * EVAL) * mlp(500, 500)
                + n * mlp(500, 400) + 5 * e(15) * table * mlp(64) + e(15) * table * topology
                + 5 * e(15) * table * mlp(256, 256))


def cifar10_numpy_work(quick: bool, inputs: int) -> Work:
    return Work(numpy=(50 if quick else 1500) * 200 * mlp(100, inputs=inputs))


def task2_work(quick: bool, cifar10: bool) -> Work:
    """The seven studies (10 epochs a variant), `best`, `analyze` (tasks/task2)."""
    inputs = 3072 if cifar10 else 784
    n, held = (QUICK_N, QUICK_HELD) if quick else ((45_000, 5_000) if cifar10 else (N, HELD))
    one = lambda *hidden: mlp(*hidden, inputs=inputs)
    studies = [[one(300)] * 3, [one(300)] * 4, [one(300)] * 7, [one(300)] * 5,
               [one(u) for u in (50, 100, 300, 1000)],
               [one(*[300] * depth) for depth in (1, 2, 3, 4)], [one(300)] * 4]
    variants = sum(sum(s[:2] if quick else s) for s in studies)
    best = one(300) if cifar10 else one(512, 512)
    best_epochs = 2 if quick else (31 if cifar10 else 40)
    nets = sum(len(s[:2] if quick else s) for s in studies) + 2  # best's, analyze's
    return Work(keras=(1 if quick else 10) * (n + held * EVAL) * variants
                + best_epochs * (n + held * EVAL) * best + held * EVAL * best, model=nets)


def task3_work(quick: bool, cifar10: bool) -> Work:
    """cnn-vs-mlp, weight-decay (at most 100 epochs: early stopping ends it sooner),
    dropout-inference, bn-vs-dropout, and cifar10-cnn where CIFAR-10 is (tasks/task3)."""
    n, held = (QUICK_N, QUICK_HELD) if quick else (N, HELD)
    e = (lambda epochs, q=1: q) if quick else (lambda epochs, q=1: epochs)
    seen = n + held * EVAL
    cnn = 3 * e(10) * seen + 3 * e(10) * (n + 2 * held * EVAL)  # cnn-vs-mlp, bn-vs-dropout
    keras = e(10) * seen * (mlp(64, 32) + mlp(600, 400)) \
        + 2 * e(WEIGHT_DECAY_EPOCHS, 2) * (n + 2 * held * EVAL) * mlp(800, 800) \
        + e(10) * seen * mlp(512, 512)
    numpy = (10 if quick else 100) * held * EVAL * mlp(512, 512)  # dropout-inference's masks
    if cifar10:  # two nets of 4,000 steps of 128 (the course net's 5x5 convs cost more)
        cnn += 2 * (50 if quick else 4000) * 128
    nets = 5 + 2 + 1 + 3 + (2 if cifar10 else 0)  # cnn-vs-mlp's, weight-decay's, ...
    return Work(keras=keras, cnn=cnn, numpy=numpy, model=nets)


def photos_work(photos: int, views_each: float = 1.0, nets: int = 1) -> Work:
    """Photos decoded, their views through cpu_net, and the nets built or loaded."""
    return Work(photo=photos, view=photos * views_each, model=nets)


# -- which datasets are here ----------------------------------------------------------------
def find_datasets(data_dir) -> dict[str, str | None]:
    """{dataset: None if found here, else why not}, without downloading anything."""
    from data.cifar10 import ARCHIVE, FOLDER, KERAS3_FOLDER
    from data.dogs import find_root
    from data.errors import DataError
    from data.fashion_mnist import FILES, SUBFOLDER
    from data.locate import ENV_OFFLINE, locate
    from data.mnist import MNIST_FILE

    looks = {"mnist": lambda: locate("MNIST", [MNIST_FILE], data_dir),
             "fashion_mnist": lambda: locate("Fashion-MNIST",
                                             [FILES[0], f"{SUBFOLDER}/{FILES[0]}"], data_dir),
             "cifar10": lambda: locate("CIFAR-10", [FOLDER, KERAS3_FOLDER, ARCHIVE], data_dir),
             "dogs_vs_cats": lambda: find_root(data_dir)}
    found, offline = {}, os.environ.get(ENV_OFFLINE)
    os.environ[ENV_OFFLINE] = "1"  # look, never fetch
    try:
        for name, look in looks.items():
            try:
                look()
                found[name] = None
            except DataError as error:
                found[name] = str(error).split(" and downloads are off")[0].rstrip(".")
    finally:
        if offline is None:
            del os.environ[ENV_OFFLINE]
        else:
            os.environ[ENV_OFFLINE] = offline
    return found


def photo_counts(data_dir) -> tuple[int, int]:
    """(labelled photos, test photos) of Dogs vs. Cats here."""
    from data.dogs import find_root, list_labelled, list_test

    root = find_root(data_dir)
    return len(list_labelled(root)[0]), len(list_test(root)[0])


# -- the plan --------------------------------------------------------------------------------
def mnist_steps(out, quick: bool, cifar10: bool) -> list[tuple[Step, str]]:
    """Tasks 1-3, each with the dataset it needs. Task 1's `all` runs report A's settings;
    report B's init and search have steps of their own. Where CIFAR-10 is absent,
    Fashion-MNIST stands in for it (and the page says so)."""
    on = "cifar10" if cifar10 else "fashion_mnist"
    named = "CIFAR-10" if cifar10 else "Fashion-MNIST, standing in for CIFAR-10"
    n = QUICK_N if quick else N
    epochs = 2 if quick else 50
    return [
        (Step("task1", "task 1, every experiment (report A's settings), on MNIST",
              ("tasks.task1", "all", *out("task1", "all")), ("task1",), task1_work(quick)),
         "mnist"),
        (Step("task1-init-b", "task 1's initialisation study, report B's 784-24-12-10",
              ("tasks.task1", "init", *REPORT_B_INIT, *out("task1", "init-b")),
              ("task1/init",), Work(numpy=3 * (2 if quick else 10) * n * mlp(24, 12))),
         "mnist"),
        (Step("task1-search-b", "task 1's report B net, 64-32 ReLU, 50 epochs",
              ("tasks.task1", "search", *REPORT_B_SEARCH, *out("task1", "search-b")),
              ("task1/search",), Work(numpy=epochs * (n + HELD * EVAL) * mlp(64, 32))),
         "mnist"),
        (Step("task1-cifar10-numpy", f"task 1's NumPy MLP on {named}",
              ("tasks.task1", "cifar10-numpy", "--dataset", on,
               *out("task1", "cifar10-numpy")),
              ("task1/cifar10-numpy",), cifar10_numpy_work(quick, 3072 if cifar10 else 784)),
         on),
        (Step("task2", f"task 2, every study, best and analyze, on {named}",
              ("tasks.task2", "all", "--dataset", on, *out("task2", "all")), ("task2",),
              task2_work(quick, cifar10)), on),
        (Step("task3", "task 3, every experiment, each on its report's dataset",
              ("tasks.task3", "all", *out("task3", "all")), ("task3",),
              task3_work(quick, cifar10)),
         "mnist"),
    ]


def dogs_steps(runs: Path, out, quick: bool, photos: tuple[int, int]) -> list[Step]:
    """Task 4's train (the default net under its budget), analyze and submit, and the
    tuning report's tables, with the (labelled, test) photos here."""
    labelled, tests = photos
    model = ("--model", str(runs / "task4" / "train" / "model.keras"))
    budget = () if quick else ("--budget-minutes", str(TRAIN_MINUTES))
    trial = () if quick else ("--trial-minutes", str(TRIAL_MINUTES))
    return [
        Step("task4-train", "task 4's default net" + ("" if quick else
                                                      f", a {TRAIN_MINUTES}-minute budget"),
             ("tasks.task4", "train", *budget, *out("task4", "train")), ("task4/train",),
             photos_work(120, 6) if quick else Work(processes=0),
             None if quick else TRAIN_MINUTES),
        Step("task4-analyze", "task 4's analysis of that net", ("tasks.task4", "analyze",
             *model, *out("task4", "analyze")), ("task4/analyze",), photos_work(labelled),
             after=("task4-train",)),
        Step("task4-submit", "task 4's Kaggle submission for test1/", ("tasks.task4", "submit",
             *model, *out("task4", "submit")), ("task4/submit",), photos_work(tests, 4),
             after=("task4-train",)),
        Step("tuning", "the tuning report's four tables, one hyper-parameter at a time",
             ("tuning.vgg", "--one-at-a-time", *trial, *out("tuning", "vgg")), ("tuning",),
             photos_work(200, 4, nets=4) if quick else
             Work(processes=TRIALS, photo=labelled, model=TRIALS),
             None if quick else TRIALS * TRIAL_MINUTES),
    ]


def build_plan(runs: Path, quick: bool, data_dir, found: dict) -> tuple[list[Step], dict]:
    """(every step, {what this machine's data does not allow: why}): a step named there
    is not run."""
    flags = [*(["--quick"] if quick else []), *(["--data-dir", data_dir] if data_dir else [])]
    out = lambda *parts: ("--out", str(runs.joinpath(*parts)), *flags)
    cifar10 = found["cifar10"] is None
    photos = photo_counts(data_dir) if found["dogs_vs_cats"] is None else (0, 0)
    steps = [*mnist_steps(out, quick, cifar10),
             *((step, "dogs_vs_cats") for step in dogs_steps(runs, out, quick, photos))]
    absent = found["cifar10"] and found["cifar10"].replace("CIFAR-10 not found: ", "")
    not_run = {} if cifar10 else {CIFAR10: f"absent ({absent}): task 2 and task 1's "
                                  f"cifar10-numpy run on Fashion-MNIST instead, task 3's "
                                  f"cifar10-cnn is not run"}
    not_run.update({step.name: found[needs] for step, needs in steps if found[needs]})
    if found["dogs_vs_cats"] is None and not photos[1]:
        not_run["task4-submit"] = "Dogs vs. Cats has no test1/ (or test/) folder here"
    return [step for step, _ in steps], not_run


# -- reproduce.json: each step's status ------------------------------------------------------
def read_status(runs: Path) -> dict:
    """The results tree's reproduce.json (empty when there is none or it is garbled)."""
    try:
        status = read_json(runs / STATUS_FILE)
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def write_status(runs: Path, status: dict) -> None:
    atomic_write_json(runs / STATUS_FILE, {**status, "updated": now_text()})


def not_run_record(step: Step, why: str) -> dict:
    """reproduce.json's record of a step that was not run, and why."""
    return {"status": "not run", "why": why, "covers": list(step.covers)}


def covered(key: str):
    """'task3' -> 'task3'; 'task4/train' -> ('task4', 'train'): how the report looks it up."""
    return tuple(key.split("/", 1)) if "/" in key else key


def steps_not_done(runs: Path) -> dict:
    """{task or (task, experiment): why} for every step of the last `reproduce` into `runs`
    that did not finish: failed, interrupted, or not run (its data absent, a step it needs
    failed). Read by `python -m tasks report` to say why a finding has no folder."""
    status = read_status(runs)
    reasons = {}
    if isinstance(status.get("absent"), dict) and CIFAR10 in status["absent"]:
        reasons.update({covered(key): f"CIFAR-10 {status['absent'][CIFAR10]}"
                        for key in CIFAR10_ONLY})
    for name, step in status.get("steps", {}).items():
        if not isinstance(step, dict) or step.get("status") == "done":
            continue
        if step.get("status") == "failed":
            why = (f"the reproduce step {name} failed (exit status {step.get('exit_status')}; "
                   f"see {LOGS}/{name}.log)")
        elif step.get("status") == "not run":
            why = f"reproduce did not run {name}: {step.get('why')}"
        else:
            why = f"the reproduce step {name} did not finish (run reproduce again to resume it)"
        reasons.update({covered(key): why for key in step.get("covers", [])})
    return reasons


def process_alive(pid) -> bool:
    """Whether process `pid` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the parenthesised command name in /proc/<pid>/stat
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def check_resumable(runs: Path, status: dict, quick: bool) -> None:
    """Refuse a tree of the other mode (--quick or not) or with a step still running."""
    if status and bool(status.get("quick")) != quick:
        held = "a --quick smoke run" if status.get("quick") else "a full run"
        raise UsageError(f"{runs} holds {held} of reproduce; pass --runs with another folder "
                         f"for this one.")
    for name, step in status.get("steps", {}).items():
        if isinstance(step, dict) and step.get("status") == "running" \
                and step.get("host") == os.uname().nodename and process_alive(step.get("pid")):
            raise UsageError(f"step {name} of an earlier reproduce into {runs} still runs "
                             f"(process {step['pid']}); wait for it or stop it, then run "
                             f"again.")


# -- this machine's speed --------------------------------------------------------------------
def child_env() -> dict:
    """A step's environment: this code first on the path, no downloads, output unbuffered."""
    path = os.pathsep.join([str(CODE_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "SUITE_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def measure_cost(data_dir) -> dict:
    """Seconds per unit of work on this machine, from tasks/timing.py in a child process;
    {} when the timing fails (the plan then gives the budgeted steps' times only)."""
    command = [sys.executable, "-m", "tasks.timing", *(["--data-dir", data_dir] if data_dir
                                                        else [])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=child_env(),
                              timeout=600)
        return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {}


def machine_cost(status: dict, data_dir) -> dict:
    """This machine's cost per unit: timed once per results tree and machine."""
    if status.get("cost") and status.get("cost_machine") == machine():
        return status["cost"]
    print("reproduce: timing this machine (tasks/timing.py) ...", flush=True)
    status["cost"], status["cost_machine"] = measure_cost(data_dir), machine()
    return status["cost"]


def duration(seconds: float | None) -> str:
    """'45 s', '12 min', '2 h 05 min'; '?' when unknown."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


# -- running the plan ------------------------------------------------------------------------
def command_line(step: Step) -> str:
    return shlex.join(["python", "-m", *step.argv])


def print_plan(runs: Path, steps: list[Step], done: set, cost: dict, not_run: dict) -> None:
    to_run = [step for step in steps if step.name not in done]
    expected = [step.expected_seconds(cost) for step in to_run]
    known = [e for e in expected if e is not None]
    print(f"reproduce: {len(to_run)} step(s) into {runs}, then {runs / 'REPORT.md'}; "
          f"expected times on this machine: budgets as set, the rest "
          f"{'from a short timing of it' if cost else 'unknown (the timing failed)'}:")
    for i, step in enumerate(steps, 1):
        when = "done earlier" if step.name in done else \
            "~" + duration(step.expected_seconds(cost))
        print(f"  {i}. {step.name:<20} {when:>13}  {step.what}\n"
              f"     {' ' * 20} {' ' * 13}  {command_line(step)}")
    print(f"  in all about {duration(sum(known))} (an estimate"
          + (", some steps unknown" if len(known) < len(expected) else "") + ")")
    for what, why in not_run.items():
        print(f"  not run: {what}: {why}")
    sys.stdout.flush()


def stop(child: subprocess.Popen) -> None:
    """After Ctrl-C: let the step stop as its own Ctrl-C handling does, then make sure."""
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def run_step(runs: Path, step: Step, status: dict) -> int:
    """Run one step as a child process, its output in logs/<step>.log; return its exit
    status. Its record in reproduce.json says `running` (with the child's pid) meanwhile."""
    log = runs / LOGS / f"{step.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    record = status["steps"][step.name] = {"status": "running", "covers": list(step.covers),
                                           "started": now_text(), "log": f"{LOGS}/{log.name}"}
    child = None
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n{LOG_HEADER} {now_text()}: {command_line(step)}\n")
        out.flush()
        try:
            child = subprocess.Popen([sys.executable, "-m", *step.argv], stdout=out,
                                     stderr=subprocess.STDOUT, env=child_env())
            record.update(pid=child.pid, host=os.uname().nodename)
            write_status(runs, status)
            code = child.wait()
        except KeyboardInterrupt:
            if child is not None:
                stop(child)
            record.update(status="interrupted", ended=now_text())
            write_status(runs, status)
            raise
    record.update(status="done" if code == 0 else "failed", exit_status=code, ended=now_text(),
                  seconds=round(time.time() - started, 1))
    write_status(runs, status)
    return code


def time_left(steps: list[Step], cost: dict, factor: float) -> float | None:
    """The remaining steps' expected seconds, their work's estimate scaled by `factor` (how
    far off it was for the steps finished so far; budgets are kept as they are)."""
    if not cost:
        return None
    return sum((step.minutes or 0) * 60 + step.work.seconds(cost) * factor for step in steps)


def run_plan(runs: Path, steps: list[Step], status: dict, cost: dict) -> list[str]:
    """Run every step not done yet, one progress line as each starts and ends; return the
    steps that failed or could not run because one they need did not finish."""
    start, problems = time.time(), []
    spent = estimated = 0.0  # the unbudgeted steps finished now: actual and expected seconds
    records = status["steps"]
    for i, step in enumerate(steps, 1):
        head = f"[{i}/{len(steps)}] {step.name}:"
        if records.get(step.name, {}).get("status") == "done":
            print(f"{head} done earlier, not redone")
            continue
        missing = [name for name in step.after if records.get(name, {}).get("status") != "done"]
        if missing:
            why = f"needs {', '.join(missing)}, which did not finish"
            records[step.name] = not_run_record(step, why)
            write_status(runs, status)
            print(f"{head} not run: {why}")
            problems.append(step.name)
            continue
        expected = step.expected_seconds(cost)
        print(f"{head} started, expected ~{duration(expected)} (log: {runs / LOGS}/"
              f"{step.name}.log)", flush=True)
        code = run_step(runs, step, status)
        seconds = records[step.name]["seconds"]
        if code == 0 and not step.minutes and expected:
            spent, estimated = spent + seconds, estimated + expected
        outcome = (f"done in {duration(seconds)}" if code == 0 else
                   f"FAILED with exit status {code} after {duration(seconds)}: "
                   f"{last_line(runs / LOGS / (step.name + '.log'))}")
        left = time_left([s for s in steps[i:] if records.get(s.name, {}).get("status")
                          != "done"], cost, spent / estimated if estimated else 1.0)
        print(f"[{i}/{len(steps)}] {step.name}: {outcome}; {duration(time.time() - start)} "
              f"elapsed, about {duration(left)} left", flush=True)
        if code:
            problems.append(step.name)
    return problems


def pick(steps: list[Step], only, skip) -> list[Step]:
    """The steps --only names (all when not given), less those --skip names."""
    names = [step.name for step in steps]
    for flag, chosen in (("--only", only), ("--skip", skip)):
        for name in chosen or []:
            if name not in names:
                raise UsageError(must_be(flag, f"step names among {', '.join(names)}", name))
    return [step for step in steps if (not only or step.name in only)
            and step.name not in (skip or [])]


def reproduce(args) -> int:
    """Plan, run what is not done, say what was not run, write REPORT.md; the exit status
    is 1 when a step failed (or could not run because one it needs failed), else 0."""
    from data.locate import check_data_dir

    check_data_dir(args.data_dir)
    runs = Path(args.runs)
    if runs.exists() and not runs.is_dir():
        raise UsageError(must_be("--runs", "a folder of results (or where to make one)",
                                 str(runs)))
    status = read_status(runs)
    check_resumable(runs, status, args.quick)
    steps, not_run = build_plan(runs, args.quick, args.data_dir, find_datasets(args.data_dir))
    chosen = pick(steps, args.only, args.skip)
    runs.mkdir(parents=True, exist_ok=True)
    status.update(quick=args.quick, data_dir=args.data_dir,
                  absent={what: why for what, why in not_run.items() if what == CIFAR10})
    records = status.setdefault("steps", {})
    for step in chosen:
        if step.name in not_run:
            records[step.name] = not_run_record(step, not_run[step.name])
    left_out = {step.name for step in steps} - {step.name for step in chosen}
    for step in steps:  # so that the page says why their findings have no figure
        if step.name in left_out and records.get(step.name, {}).get("status") != "done":
            records[step.name] = not_run_record(step, "left out of the last run "
                                                "(--only / --skip)")
    cost = machine_cost(status, args.data_dir)
    write_status(runs, status)
    planned = [step for step in chosen if step.name not in not_run]
    done = {step.name for step in planned if records.get(step.name, {}).get("status") == "done"}
    not_run = {what: why for what, why in not_run.items() if what not in left_out}
    print_plan(runs, planned, done, cost, not_run)
    problems = run_plan(runs, planned, status, cost)
    summarise(runs, not_run, {name: records[name] for name in problems})
    from tasks.report import write_report

    print(f"report: {write_report(runs, runs / 'REPORT.md')}")
    return 1 if problems else 0


def summarise(runs: Path, not_run: dict, problems: dict) -> None:
    """What could not be run, and why: the data absent, a step failed, one it needs failed."""
    for what, why in not_run.items():
        print(f"reproduce: not run: {what}: {why}")
    for name, record in problems.items():
        why = (f"not run: {record['why']}" if record.get("why") else
               f"failed with exit status {record.get('exit_status')}; see "
               f"{runs / LOGS / name}.log")
        print(f"reproduce: {name} {why}")
