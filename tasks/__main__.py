"""The commands across tasks: `report` (one page of what the results folders reproduced)
and `reproduce` (every experiment this machine's data allows, then that page).

    python -m tasks report                       # runs/ -> runs/REPORT.md
    python -m tasks report --runs runs/task1-digits --out /tmp/REPORT.md
    python -m tasks reproduce --data-dir ../shared/datasets   # hours: every task, then the page
    python -m tasks reproduce --quick --runs /tmp/smoke       # the same plan as a smoke run

Each task's experiments run from their own command line (`python -m tasks.task1 ...`).
"""

from __future__ import annotations

import argparse

from suite.cli import HelpFormatter, Parser, exit_status, writable_file


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="python -m tasks", description="The course suite's commands across "
                 "tasks (each task's experiments: python -m tasks.taskN --help).")
    sub = top.add_subparsers(dest="command", metavar="<command>", required=True,
                             parser_class=Parser)
    report = sub.add_parser(
        "report", formatter_class=HelpFormatter,
        help="one Markdown page: each reported finding, ours, and a verdict",
        description="Gather every results folder under --runs into one Markdown page: for "
                    "each finding of the course reports (../shared/REPORTED.md), the reported "
                    "figure, ours from the newest matching folder (and the dataset it ran "
                    "on), the command that produced it, links to its report.md and plots, and "
                    "a verdict: reproduced, differs or not run.")
    report.add_argument("--runs", default="runs", help="folder holding the results folders")
    report.add_argument("--out", default=None, type=writable_file,
                        help="the page to write (default: REPORT.md inside --runs)")
    add_reproduce(sub)
    return top


def names(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def add_reproduce(sub) -> None:
    reproduce = sub.add_parser(
        "reproduce", formatter_class=HelpFormatter,
        help="every experiment this machine's data allows, then the page (hours)",
        description="Run every experiment of the five reports that this machine's data "
                    "allows, with the reports' settings, into one results tree, then write "
                    "its REPORT.md (as `report` does). Steps: task1 (all, MNIST), "
                    "task1-init-b and task1-search-b (report B's nets), "
                    "task1-cifar10-numpy and task2 (all) on CIFAR-10, or on Fashion-MNIST "
                    "standing in where CIFAR-10 is absent, task3 (all), task4-train (the "
                    "default net, a 30-minute budget), task4-analyze, task4-submit (Kaggle's "
                    "test1/), tuning (tuning.vgg --one-at-a-time). Each is its own command "
                    "line in a child process, its output in <runs>/logs/<step>.log; a step "
                    "that fails is reported and the others still run. Data is looked for as "
                    "every task looks (--data-dir, $SUITE_DATA_DIR, Keras's cache) and never "
                    "downloaded: a step whose data is absent is listed as not run, with why. "
                    "The plan comes first, each step with its expected time on this machine "
                    "(its budget, or its work timed here in well under a minute). Run the "
                    "same command again to resume at the first unfinished step: a finished "
                    "step is never redone (run its command, shown in the plan, to redo it). "
                    "Ctrl-C stops it; exit status 130.")
    reproduce.add_argument("--runs", default="runs", help="the results tree to fill")
    reproduce.add_argument("--data-dir", help="folder holding the datasets (else "
                           "$SUITE_DATA_DIR, then ~/.keras/datasets)")
    reproduce.add_argument("--quick", action="store_true",
                           help="the same plan with each command's --quick: a smoke run of "
                                "minutes (into its own --runs folder)")
    reproduce.add_argument("--only", type=names, help="run only these steps (comma separated)")
    reproduce.add_argument("--skip", type=names, help="leave out these steps (comma separated)")


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body():
        if args.command == "reproduce":
            from tasks.reproduce import reproduce

            return reproduce(args)
        from tasks.report import write_report

        page = write_report(args.runs, args.out or f"{args.runs}/REPORT.md")
        print(f"report: {page}")
        return 0

    return exit_status(f"tasks {args.command}", body,
                       interrupted="run the same command again to resume at the unfinished "
                                   "step (finished steps are kept)")


if __name__ == "__main__":
    raise SystemExit(main())
