"""One page of what was reproduced: `python -m tasks report [--runs runs] [--out ...]`.

Every results folder under `--runs` (a folder with `config.json` and `metrics.json`) is
matched to the findings of tasks/findings.py by its task and experiment; the newest folder
of each finding is judged, and the page shows, per finding, the reported figure, ours, the
dataset it ran on, the command that produced it, links to its report.md and plots, where and
when it was measured (`provenance.json`), and the verdict: reproduced, differs or not run.
Where the report's own model was not run but the suite's default stands in for it (task 4's
`cpu_net` under a CPU budget for the report's VGG-13), the default is judged, as differing.

The page opens with the counts and the machine. A folder whose `config.json`, `metrics.json`
or `history.csv` cannot be read (truncated, empty, not JSON, the wrong JSON type) is skipped
with one warning line on stderr and listed on the page; the rest of the page is written.
A finding with no folder says why where a runner recorded it: an experiment a task's `all`
could not run (`not_run.json`), a step of `python -m tasks reproduce` that failed or was not
run (`reproduce.json`).
"""

from __future__ import annotations

import csv
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from suite.errors import UsageError
from suite.io import atomic_write_text, read_json
from suite.provenance import (code_line, dates_line, load_line, machine, machine_line,
                              read_provenance, suite_code_version)
from suite.report import Report
from tasks.findings import FINDINGS, Finding
from tasks.reproduce import steps_not_done

VERDICTS = ("reproduced", "differs", "not run")
DATASET_NAMES = {"mnist": "MNIST", "digits": "8x8 digits", "fashion_mnist": "Fashion-MNIST",
                 "cifar10": "CIFAR-10", "dogs_vs_cats": "Dogs vs. Cats"}
# Folders named for a task (runs/task3, runs/task1-digits, runs/tuning): an older config.json
# without "task" is placed by the nearest of them above it.
TASK_FOLDER = re.compile(r"^(task[1-4]|tuning)")
TITLES = {"task1": "Task 1: the NumPy MLP", "task2": "Task 2: Keras MLPs on CIFAR-10",
          "task3": "Task 3: CNNs and regularisation", "task4": "Task 4: Dogs vs. Cats",
          "tuning": "Tuning: KerasTuner on the Dogs-vs-Cats VGG"}


@dataclass
class Results:
    """One results folder: where, what wrote it, its flags and its figures."""

    path: Path
    task: str | None
    experiment: str
    config: dict
    command: str | None
    metrics: dict
    written: float  # metrics.json's modification time: the newest folder wins

    @property
    def dataset(self) -> str | None:
        name = self.metrics.get("dataset") or self.config.get("dataset")
        # tuning's --dataset is spelled as its folder is ("dogs-vs-cats"), the tasks' as Keras
        # names datasets ("dogs_vs_cats").
        return name.replace("-", "_") if name else None


def task_of(folder: Path, runs: Path) -> str | None:
    """The task of an older results folder, from the nearest folder above it named for one
    (up to `runs` itself: runs/task1-digits/init is task 1's)."""
    chain = [folder.resolve(), *folder.resolve().parents]
    for parent in chain[: chain.index(runs.resolve()) + 1]:
        match = TASK_FOLDER.match(parent.name)
        if match:
            return match.group(1)
    return None


class Unreadable(Exception):
    """A results folder whose files cannot be read: the message says which and how."""


def read_object(path: Path) -> dict:
    """A JSON file that must hold an object (a dict)."""
    try:
        value = read_json(path)
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError too
        empty = path.is_file() and path.stat().st_size == 0
        raise Unreadable(f"{path.name} is {'empty' if empty else 'not valid JSON'} "
                         f"({type(error).__name__}; truncated or overwritten?)") from None
    if not isinstance(value, dict):
        raise Unreadable(f"{path.name} holds a JSON {type(value).__name__}, not an object")
    return value


def check_history(path: Path) -> None:
    """history.csv, if there, must be a CSV with a header and whole rows."""
    if not path.exists():
        return
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header, rows = reader.fieldnames, list(reader)
    except (OSError, ValueError, csv.Error) as error:
        raise Unreadable(f"history.csv cannot be read ({type(error).__name__})") from None
    if not header:
        raise Unreadable("history.csv is empty (no header)")
    if any(None in row or None in row.values() for row in rows):
        raise Unreadable("history.csv has rows of the wrong length (truncated?)")


def read_results(folder: Path, runs: Path) -> Results:
    """One folder's results; `Unreadable` if its config, metrics or history are garbled."""
    about = read_object(folder / "config.json")
    config = about.get("config", {})
    if not isinstance(config, dict):
        raise Unreadable(f"config.json's \"config\" is a {type(config).__name__}, not an object")
    metrics_file = folder / "metrics.json"
    metrics = read_object(metrics_file)
    check_history(folder / "history.csv")
    text = lambda key: about.get(key) if isinstance(about.get(key), str) else None
    return Results(folder, text("task") or task_of(folder, runs),
                   text("experiment") or folder.name, config, text("command"), metrics,
                   metrics_file.stat().st_mtime)


def gather(runs: Path) -> tuple[list[Results], list[tuple[Path, str]]]:
    """Every results folder under `runs` that has its figures (metrics.json), and the
    folders skipped as unreadable, each with why (also one warning line each on stderr)."""
    if not runs.is_dir():
        raise UsageError(f"{runs} is not a folder of results; run an experiment first "
                         f"(e.g. `make run`) or pass --runs <folder>.")
    folders, skipped = [], []
    for config in sorted(runs.rglob("config.json")):
        if not (config.parent / "metrics.json").is_file():
            continue
        try:
            folders.append(read_results(config.parent, runs))
        except Unreadable as why:
            skipped.append((config.parent, str(why)))
            print(f"report: warning: skipped {config.parent}: {why}.", file=sys.stderr)
    return folders, skipped


def newest(finding: Finding, folders: list[Results], stand_in: bool = False) \
        -> Results | None:
    """The newest folder of `finding`'s settings (or with `stand_in`, of its stand-in's)."""
    when = finding.stand_in if stand_in else finding.when
    if when is None:
        return None
    matching = [r for r in folders if (r.task, r.experiment) == (finding.task, finding.experiment)
                and when(r.config)]
    return max(matching, key=lambda r: r.written, default=None)


def judge(finding: Finding, results: Results, stand_in: bool = False) -> tuple[str, str]:
    """(ours, verdict) of one finding on one folder: the finding's own judgement, unless the
    run was a --quick smoke run, on another dataset than the report's, or of the suite's
    default model standing in for the report's (`stand_in`)."""
    try:
        ours, verdict = finding.judge(results.metrics, results.path)
    except (KeyError, FileNotFoundError, TypeError, ValueError, IndexError,
            AttributeError, csv.Error) as missing:
        return "–", (f"not run: its results lack or garble {missing} (an older or "
                     f"unfinished folder?)")
    dataset = results.dataset or finding.dataset
    if results.config.get("quick"):
        verdict = "differs: --quick smoke run"
    elif dataset != finding.dataset:
        verdict = (f"differs: ran on {DATASET_NAMES.get(dataset, dataset)}, not the report's "
                   f"{DATASET_NAMES[finding.dataset]} (on its own terms: {verdict})")
    elif stand_in:
        verdict = (f"differs: {finding.stand_in_why(results.metrics, results.path)} (on its "
                   f"own terms: {verdict})")
    return f"{ours} [{DATASET_NAMES.get(dataset, dataset)}]", verdict


def links(results: Results, page: Path) -> str:
    """Relative links from the page to the folder's report.md and plots."""
    files = [results.path / "report.md"] if (results.path / "report.md").is_file() else []
    files += sorted(results.path.glob("*.png"))
    return ", ".join(f"[{file.name}]({relative(file, page)})" for file in files) or "–"


def measured(results: Results) -> str:
    """Where and when a folder's figures were measured, from its provenance.json."""
    record = read_provenance(results.path)
    if not record:
        return "unknown (no provenance.json: an older folder)"
    return (f"{dates_line(record)}; {machine_line(record.get('machine'))}; "
            f"{code_line(record.get('code'))}; {load_line(record.get('load'))}")


def row(finding: Finding, folders: list[Results], page: Path, not_run: dict) -> list[str]:
    """One finding's cells: the report's own run judged, the suite's default beside it; or
    the default judged as differing; or why neither was run."""
    own, default = newest(finding, folders), newest(finding, folders, stand_in=True)
    results = own or default
    if results is None:
        why = (not_run.get((finding.task, finding.experiment)) or not_run.get(finding.task)
               or f"no {finding.task} {finding.experiment} folder of these settings")
        return [finding.what, finding.reported, "–", "–", "–", "–", f"not run: {why}"]
    ours, verdict = judge(finding, results, stand_in=own is None)
    if own is not None and default is not None:
        ours += f"; the suite's default: {judge(finding, default, stand_in=True)[0]}"
    command = f"`{results.command}`" if results.command else "unknown (an older folder)"
    return [finding.what, finding.reported, ours, command, links(results, page),
            measured(results), verdict]


def clean(cell: str) -> str:
    """A table cell: a '|' would end it early."""
    return cell.replace("|", "/")


def not_run_reasons(runs: Path) -> dict:
    """Why experiments have no folder, as runners recorded it: {(task, experiment): why}
    from each task runner's not_run.json, {task: why} from reproduce's unfinished steps."""
    reasons = dict(steps_not_done(runs))
    for path in sorted(runs.rglob("not_run.json")):
        try:
            recorded = read_object(path)
        except Unreadable:
            continue
        try:
            about = read_object(path.parent / "config.json")
        except Unreadable:
            about = {}  # an older runner's folder: placed by its path
        task = about.get("task") if isinstance(about.get("task"), str) else None
        task = task or task_of(path.parent, runs)
        reasons.update({(task, name): str(why) for name, why in recorded.items()})
    return reasons


def machines_paragraph(folders: list[Results]) -> str:
    """The machine the page was written on, and the machines its figures were measured on."""
    here = machine_line(machine())
    measured_on = dict.fromkeys(machine_line(record.get("machine")) for record in
                                map(read_provenance, (r.path for r in folders)) if record)
    where = ("every figure was measured on it" if list(measured_on) == [here] else
             "the figures were measured on " + "; ".join(measured_on) if measured_on else
             "no folder records its machine")
    return (f"**Machine:** {here}, {code_line(suite_code_version())} (this page was written "
            f"there); {where}. Each row says where and when.")


def build_report(runs: Path, page: Path) -> tuple[Report, dict[str, int]]:
    """The page and the count of each verdict."""
    folders, skipped = gather(runs)
    not_run = not_run_reasons(runs)
    tables = {task: [row(f, folders, page, not_run) for f in FINDINGS if f.task == task]
              for task in dict.fromkeys(f.task for f in FINDINGS)}
    counts = dict.fromkeys(VERDICTS, 0)
    for cells in (cells for rows in tables.values() for cells in rows):
        counts[next(v for v in VERDICTS if cells[-1].startswith(v))] += 1
    report = Report("What was reproduced", counts_line(counts))
    report.paragraph(machines_paragraph(folders))
    report.paragraph(f"Each finding of the course reports (`../shared/REPORTED.md`) beside the "
                     f"newest results folder under `{runs}` that reproduces it. A run on another "
                     f"dataset than the report's, of another model or budget, or a `--quick` "
                     f"smoke run, never counts as reproduced. Tolerances are stated in each "
                     f"verdict.")
    for task, rows in tables.items():
        report.heading(TITLES[task])
        report.table(["finding", "reported", "ours [dataset]", "command", "files", "measured",
                      "verdict"], [[clean(cell) for cell in cells] for cells in rows])
    if skipped:
        report.heading("Folders skipped as unreadable")
        report.table(["folder", "why"], [[clean(relative(path, page)), clean(why)]
                                         for path, why in skipped])
    report.paragraph(counts_line(counts))
    return report, counts


def relative(path: Path, page: Path) -> str:
    return Path(os.path.relpath(path, page.parent)).as_posix()


def counts_line(counts: dict[str, int]) -> str:
    return (f"**{counts['reproduced']} reproduced, {counts['differs']} differ, "
            f"{counts['not run']} not run** (of {sum(counts.values())} findings).")


def write_report(runs: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Gather `runs`, write the page to `out` and return its path."""
    page = Path(out)
    report, counts = build_report(Path(runs), page)
    atomic_write_text(page, report.render())
    print(counts_line(counts).replace("**", ""))
    return page
