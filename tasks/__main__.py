"""`python -m tasks report`: one page of what the results folders reproduced.

    python -m tasks report                       # runs/ -> runs/REPORT.md
    python -m tasks report --runs runs/task1-digits --out /tmp/REPORT.md

Each task's experiments run from their own command line (`python -m tasks.task1 ...`).
"""

from __future__ import annotations

import argparse

from suite.cli import HelpFormatter, Parser, exit_status


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
    report.add_argument("--out", default=None,
                        help="the page to write (default: REPORT.md inside --runs)")
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body():
        from tasks.report import write_report

        page = write_report(args.runs, args.out or f"{args.runs}/REPORT.md")
        print(f"report: {page}")
        return 0

    return exit_status("tasks report", body)


if __name__ == "__main__":
    raise SystemExit(main())
