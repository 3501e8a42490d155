"""One page of what was reproduced: `python -m tasks report [--runs runs] [--out ...]`.

Every results folder under `--runs` (a folder with `config.json` and `metrics.json`) is
matched to the findings of tasks/findings.py by its task and experiment; the newest folder
of each finding is judged, and the page shows, per finding, the reported figure, ours, the
dataset it ran on, the command that produced it, links to its report.md and plots, and the
verdict: reproduced, differs or not run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from suite.errors import UsageError
from suite.io import atomic_write_text, read_json
from suite.report import Report
from tasks.findings import FINDINGS, Finding

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


def read_results(folder: Path, runs: Path) -> Results:
    about = read_json(folder / "config.json")
    metrics_file = folder / "metrics.json"
    return Results(folder, about.get("task") or task_of(folder, runs),
                   about.get("experiment") or folder.name, about.get("config", {}),
                   about.get("command"), read_json(metrics_file), metrics_file.stat().st_mtime)


def gather(runs: Path) -> list[Results]:
    """Every results folder under `runs` that has its figures (metrics.json)."""
    if not runs.is_dir():
        raise UsageError(f"{runs} is not a folder of results; run an experiment first "
                         f"(e.g. `make run`) or pass --runs <folder>.")
    return [read_results(config.parent, runs) for config in sorted(runs.rglob("config.json"))
            if (config.parent / "metrics.json").is_file()]


def newest(finding: Finding, folders: list[Results]) -> Results | None:
    matching = [r for r in folders if (r.task, r.experiment) == (finding.task, finding.experiment)
                and finding.when(r.config)]
    return max(matching, key=lambda r: r.written, default=None)


def judge(finding: Finding, results: Results) -> tuple[str, str]:
    """(ours, verdict) of one finding on one folder: the finding's own judgement, unless the
    run was a --quick smoke run or on another dataset than the report's."""
    try:
        ours, verdict = finding.judge(results.metrics, results.path)
    except (KeyError, FileNotFoundError) as missing:
        return "–", f"not run: its results lack {missing} (an older or unfinished folder?)"
    dataset = results.dataset or finding.dataset
    if results.config.get("quick"):
        verdict = "differs: --quick smoke run"
    elif dataset != finding.dataset:
        verdict = (f"differs: ran on {DATASET_NAMES.get(dataset, dataset)}, not the report's "
                   f"{DATASET_NAMES[finding.dataset]} (on its own terms: {verdict})")
    return f"{ours} [{DATASET_NAMES.get(dataset, dataset)}]", verdict


def links(results: Results, page: Path) -> str:
    """Relative links from the page to the folder's report.md and plots."""
    files = [results.path / "report.md"] if (results.path / "report.md").is_file() else []
    files += sorted(results.path.glob("*.png"))
    return ", ".join(f"[{file.name}]({Path(os.path.relpath(file, page.parent)).as_posix()})"
                     for file in files) or "–"


def row(finding: Finding, results: Results | None, page: Path) -> list[str]:
    if results is None:
        return [finding.what, finding.reported, "–", "–", "–",
                f"not run: no {finding.task} {finding.experiment} folder of these settings"]
    ours, verdict = judge(finding, results)
    command = f"`{results.command}`" if results.command else "unknown (an older folder)"
    return [finding.what, finding.reported, ours, command, links(results, page), verdict]


def clean(cell: str) -> str:
    """A table cell: a '|' would end it early."""
    return cell.replace("|", "/")


def build_report(runs: Path, page: Path) -> tuple[Report, dict[str, int]]:
    """The page and the count of each verdict."""
    folders = gather(runs)
    report = Report("What was reproduced",
                    f"Each finding of the course reports (`../shared/REPORTED.md`) beside the "
                    f"newest results folder under `{runs}` that reproduces it. A run on another "
                    f"dataset than the report's, or a `--quick` smoke run, never counts as "
                    f"reproduced. Tolerances are stated in each verdict.")
    counts = dict.fromkeys(VERDICTS, 0)
    for task in dict.fromkeys(f.task for f in FINDINGS):
        rows = [row(f, newest(f, folders), page) for f in FINDINGS if f.task == task]
        for cells in rows:
            counts[next(v for v in VERDICTS if cells[-1].startswith(v))] += 1
        report.heading(TITLES[task])
        report.table(["finding", "reported", "ours [dataset]", "command", "files", "verdict"],
                     [[clean(cell) for cell in cells] for cells in rows])
    report.paragraph(counts_line(counts))
    return report, counts


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
