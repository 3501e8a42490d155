"""The command line every task shares: `python -m tasks.taskN <experiment> [flags]`.

A task is a `Task`; an experiment is a function registered on it by name:

    task = Task("task1", "The NumPy MLP on MNIST.")

    @task.experiment("init", "Zero, normal and Glorot initialisation: training loss per epoch.",
                     arguments=[arg("--lr", type=positive_float, default=7e-4, help="...")])
    def init(args, run):
        ...  # train, then run.write_metrics(...), run.write_report(...)

    if __name__ == "__main__":
        raise SystemExit(task.main())

Every experiment gets the common flags (`--data-dir`, `--out`, `--seed`, `--quick`,
`--dataset`, `--overwrite`, `--threads`). Its function receives the parsed flags and its
`RunDir`. A `UsageError` or `DataError` anywhere becomes one sentence on stderr and exit
status 2; Ctrl-C becomes a line saying how to resume and exit status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from data.errors import DataError
from data.locate import check_data_dir
from suite.env import default_threads, limit_threads, set_seed
from suite.errors import UsageError, must_be
from suite.io import check_writable, read_record
from suite.report import Report
from suite.provenance import PROVENANCE_FILE
from suite.runs import CONFIG_FILE, RunDir
from suite.tf_quiet import import_tensorflow

# Flags that say where and how fast to run, not what: they do not make a new configuration.
# `recipe` is what an experiment's `prepare` resolved its flags to (task 4's train): recorded
# in config.json beside them, compared through them.
NOT_CONFIG = {"experiment", "out", "overwrite", "threads", "data_dir", "recipe"}


def arg(*names, **kwargs):
    """One experiment flag, as `argparse.add_argument` takes it (its default shown in --help)."""
    kwargs.setdefault("help", " ")
    return names, kwargs


# Upper bounds a run can meet: a flag above one is a slip of the keyboard, not a plan (task 2's
# `best --epochs 1000000000000` trained until it was killed). Each is well above what any
# report or README row used (200 epochs, batches of 1,000, 1,000 units, 4 hidden layers,
# 120-minute budgets, learning rates up to 1.0).
MAX_EPOCHS = 1_000
MAX_STEPS = 10_000_000
MAX_BATCH_SIZE = 65_536
MAX_UNITS = 16_384  # units of one hidden layer
MAX_LAYERS = 64  # entries of a list flag: hidden layers, values to compare
MAX_LEARNING_RATE = 10.0
MAX_MINUTES = 10_080  # a week
MAX_THREADS = 1_024
SEEDS = 2**32  # NumPy takes seeds 0 ... 2**32 - 1


def _number(kind, test, wanted, most=None):
    """A flag's parser: `kind(text)` if finite, `test` holds and it is at most `most`.

    `parse.up_to(most)` is the same parser with an upper bound (`positive_int.up_to(1000)`:
    "a positive integer up to 1,000"), for a flag, an --hparams key or a tuner value alike
    (see `checked`).
    """
    described = wanted if most is None else \
        f"{wanted} up to {most:,}" if kind is int else f"{wanted} up to {most:g}"

    def parse(text):
        try:
            value = kind(text)
        except (ValueError, TypeError):
            value = None
        # "inf" and "nan" parse as floats but are no one's learning rate or budget.
        if value is None or (kind is float and not math.isfinite(value)) or not test(value) \
                or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"must be {described}; got {text!r}")
        return value

    parse.__name__ = described
    parse.up_to = lambda most: _number(kind, test, wanted, most)
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: v > 0, "a positive number")
nonnegative_float = _number(float, lambda v: v >= 0, "a number >= 0")
fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
seed_value = _number(int, lambda v: 0 <= v < SEEDS, "an integer from 0 to 2**32 - 1")


def list_of(item, most: int = MAX_LAYERS):
    """A parser of a comma-separated list of at least one and at most `most` values, each
    read by `item` (`list_of(positive_int.up_to(MAX_UNITS))`: '400,500' -> [400, 500])."""
    wanted = f"a comma-separated list of 1 to {most} values, each {item.__name__}"

    def parse(text):
        words = [t for t in str(text).split(",") if t.strip()]
        try:
            values = [item(t) for t in words]
        except argparse.ArgumentTypeError:
            values = []
        if not 1 <= len(values) <= most:
            raise argparse.ArgumentTypeError(f"must be {wanted}; got {text!r}")
        return values

    parse.__name__ = wanted
    return parse


int_list = list_of(positive_int)  # '400,500,600' -> [400, 500, 600]
float_list = list_of(positive_float)
hidden_sizes = list_of(positive_int.up_to(MAX_UNITS))  # an MLP's hidden layers: '500,400'


def choice_list(choices):
    """A parser of a comma-separated list of one or more of `choices` ('zero,glorot')."""
    wanted = f"one or more of {', '.join(choices)} (comma separated)"

    def parse(text):
        values = [t for t in str(text).split(",") if t]
        if not values or any(v not in choices for v in values):
            raise argparse.ArgumentTypeError(f"must be {wanted}; got {text!r}")
        return values

    parse.__name__ = wanted
    return parse


def checked(what: str, value, parse):
    """`value`, from a file or a search space rather than the command line, read by a
    flag's parser: the same rules for a flag, an --hparams key and a tuner value. A bad one
    is a `UsageError` worded as `must_be` words every bad value:

        checked("--hparams' learning_rate", "fast", positive_float.up_to(MAX_LEARNING_RATE))
        -> UsageError("--hparams' learning_rate must be a positive number up to 10; got 'fast'.")
    """
    text = value if isinstance(value, str) else \
        ",".join(map(json.dumps, value)) if isinstance(value, list) else json.dumps(value)
    try:
        return parse(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{what} {error}.") from None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` with each flag's default, except where there is none to show (None): such a
    flag's help says what happens when it is left out."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (not usage plus error) and exit status 2, worded
    as `must_be` words every other bad value."""

    def error(self, message):
        choice = re.match(r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)$", message)
        if choice:
            flag, got, allowed = choice.groups()
            message = must_be(flag, f"one of {allowed.replace(chr(39), '')}",
                              got.strip("'")).rstrip(".")
        else:
            message = re.sub(r"^argument (\S+): must be", r"\1 must be", message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_common_flags(p, default_out: str, datasets, default_dataset,
                     check_out: bool = True) -> None:
    """The flags every command shares: where the data and results are, seed, budget, threads.

    `check_out`: --out must name a folder that can be made and written in, checked as it
    is read (`writable_folder`); off where the command checks it later itself.
    """
    g = p.add_argument_group("common flags")
    g.add_argument("--data-dir", help="folder holding the dataset files (else "
                   "$SUITE_DATA_DIR, then ~/.keras/datasets, then a download)")
    g.add_argument("--out", default=default_out, type=writable_folder if check_out else None,
                   help="results folder")
    g.add_argument("--seed", type=seed_value, default=0,
                   help="seed for splits, init and shuffling (0 to 2**32 - 1)")
    g.add_argument("--quick", action="store_true", help="a tiny budget, for smoke runs")
    g.add_argument("--dataset", choices=datasets, default=default_dataset,
                   help="dataset to run on")
    g.add_argument("--overwrite", action="store_true",
                   help="replace results written by another configuration")
    g.add_argument("--threads", type=positive_int.up_to(MAX_THREADS), default=default_threads(),
                   help="CPU threads for NumPy and TensorFlow ($SUITE_THREADS)")


@dataclass
class Experiment:
    name: str
    help: str
    func: Callable
    arguments: list = field(default_factory=list)
    datasets: tuple = ()
    default_dataset: str | None = None
    prepare: Callable | None = None  # rewrites the parsed flags before the folder is made


@dataclass(frozen=True)
class Records:
    """Files in a results folder that a rerun resumes from: `pattern` (a glob), the keys
    each must hold, and what is done again when one cannot be read (`forget_unreadable`)."""

    pattern: str
    keys: tuple[str, ...]
    redone: str


# training.variants' per-variant records, which a study reads back when run again.
VARIANT_RECORDS = Records("variants/*.json", ("rows", "result"), "that variant is trained again")


class Task:
    """A task's experiments and its command line.

    Args:
        name: `task1` ... (also the results folder `runs/<name>/`).
        description: the first line of `--help`.
        datasets: the datasets its experiments accept by default; the first is the default.
        records: the `Records` its experiments resume from, checked before each runs.
    """

    def __init__(self, name: str, description: str, datasets=("mnist",), records=()):
        self.name = name
        self.description = description
        self.datasets = tuple(datasets)
        self.records = tuple(records)
        self.experiments: dict[str, Experiment] = {}

    def experiment(self, name: str, help: str, arguments=(), datasets=None,
                   default_dataset=None, prepare=None):
        """Register `func(args, run)` as experiment `name` (decorator).

        `prepare(args)`, if given, may rewrite the parsed flags before the results folder is
        made (task 4's `submit --out x.csv` names the CSV, not the folder).
        """

        def register(func):
            sets = tuple(datasets or self.datasets)
            self.experiments[name] = Experiment(name, help, func, list(arguments), sets,
                                                default_dataset or sets[0], prepare)
            return func

        return register

    # -- command line ------------------------------------------------------------------
    def parser(self) -> argparse.ArgumentParser:
        parser = Parser(prog=f"python -m tasks.{self.name}", description=self.description,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="Run `python -m tasks.%s <experiment> --help` for its flags. "
                                "Results go to runs/%s/<experiment>/ (or --out)."
                                % (self.name, self.name))
        sub = parser.add_subparsers(dest="experiment", metavar="<experiment>", required=True,
                                    parser_class=Parser)
        for exp in self.experiments.values():
            self._add_flags(sub.add_parser(exp.name, help=exp.help, description=exp.help,
                                           formatter_class=HelpFormatter), exp)
        return parser

    def _add_flags(self, p: argparse.ArgumentParser, exp: Experiment):
        # An experiment whose `prepare` may rewrite --out (submit's `--out x.csv` names the
        # file) has it checked in `run`, after; every other as the flag is read.
        add_common_flags(p, f"runs/{self.name}/{exp.name}", exp.datasets, exp.default_dataset,
                         check_out=exp.prepare is None)
        for names, kwargs in exp.arguments:
            p.add_argument(*names, **kwargs)
        return p

    def command(self, args) -> str:
        """The command line that reproduces parsed `args`: the experiment and every flag whose
        value differs from its default (lists written back comma-separated)."""
        exp = self.experiments[args.experiment]
        parser = self._add_flags(Parser(add_help=False), exp)
        words = ["python", "-m", f"tasks.{self.name}", exp.name]
        return shlex.join(words + changed_flags(parser, args, skip=("threads",)))

    def flags_for(self, name: str, args) -> list[str]:
        """Experiment `name`'s own flags (not the common ones) whose value in `args`, parsed
        for another experiment, differs from `name`'s default: a runner's way of handing
        its flags on (`all` to `train`)."""
        parser = Parser(add_help=False)
        for names, kwargs in self.experiments[name].arguments:
            parser.add_argument(*names, **kwargs)
        return changed_flags(parser, args)

    def main(self, argv=None) -> int:
        """Parse `argv`, run the experiment, return the exit status."""
        args = self.parser().parse_args(argv)

        def body():
            limit_threads(args.threads)
            run = self.run(args)
            print(f"\nreport: {run.file('report.md')}")
            return 0

        return exit_status(self.name, body)

    def run(self, args) -> RunDir:
        """Run one experiment with parsed flags; return its results folder."""
        exp = self.experiments[args.experiment]
        if exp.prepare:
            exp.prepare(args)
        # Both before any folder is written or TensorFlow loads.
        check_data_dir(args.data_dir)
        out = Path(args.out) if args.out else Path("runs") / self.name / exp.name
        check_out_folder(out)
        missing = [folder for folder in [out, *out.parents] if not folder.exists()]
        fresh = not (out / CONFIG_FILE).exists()
        held = {p.name for p in out.iterdir()} if fresh and out.is_dir() else set()
        config = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
        about = {"task": self.name, "experiment": exp.name, "command": self.command(args)}
        if getattr(args, "recipe", None) is not None:
            about["recipe"] = args.recipe.to_dict()
        run = RunDir(out, config, overwrite=args.overwrite, about=about)
        try:
            for records in self.records:
                forget_unreadable(run, records)
            import_tensorflow()  # quietly, now: every task uses Keras (task 1 its Progbar)
            set_seed(args.seed)
            start = time.time()
            exp.func(args, run)
        except (UsageError, DataError):
            if fresh:  # a mistake found before any result leaves no folder behind
                remove_if_unused(run, held, missing)
            raise
        print(f"{self.name} {exp.name}: done in {time.time() - start:.1f} s")
        return run

    def run_all(self, args, names, run: RunDir, flags=None) -> dict[str, RunDir]:
        """Run experiments `names` with this call's common flags, each in `run`'s subfolder;
        return the results folders of those that ran.

        `flags` maps an experiment's name to more flags of its own (a list of strings), for
        a runner that chains experiments (`analyze --model <best's model>`). An experiment
        whose data cannot be had (CIFAR-10 offline) is not run: the others still are, and
        the reason is kept in `not_run.json` for the runner's report (`write_index`).
        """
        parser = self.parser()
        done, not_run = {}, read_not_run(run)
        for name in names:
            # "--out=...": a folder named "-1" is not a flag.
            argv = [name, *self.common_argv(args, name), f"--out={run.path / name}",
                    *(flags or {}).get(name, [])]
            print(f"\n=== {self.name} {name}")
            try:
                done[name] = self.run(parser.parse_args(argv))
                not_run.pop(name, None)
            except DataError as error:
                print(f"{self.name} {name}: not run: {error}", file=sys.stderr)
                not_run[name] = str(error)
            run.write_json(NOT_RUN_FILE, not_run)
        return done

    def common_argv(self, args, name: str) -> list[str]:
        """The common flags of parsed `args` as a command line for experiment `name`
        (`--dataset` only where that experiment takes it)."""
        argv = ["--seed", str(args.seed), "--threads", str(args.threads)]
        argv += ["--quick"] * args.quick + ["--overwrite"] * args.overwrite
        if args.data_dir:
            argv.append(f"--data-dir={args.data_dir}")
        if args.dataset in self.experiments[name].datasets:
            argv += ["--dataset", args.dataset]
        return argv


def changed_flags(parser, args, skip=()) -> list[str]:
    """The words of every flag of `parser` whose value in `args` differs from its default
    (lists written back comma-separated), `skip`'s destinations left out. Two flags of one
    destination (`--augment none`, `--no-augment`) give one."""
    words, done = [], set(skip)
    for action in parser._actions:
        value = getattr(args, action.dest, action.default)
        if not action.option_strings or value == action.default or action.dest in done:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            words.append(action.option_strings[0 if value else 1])
        elif action.nargs == 0:
            if value != action.const:  # another flag of this destination set it
                continue
            words.append(action.option_strings[0])
        else:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
            flag, text = action.option_strings[0], str(text)
            # "--out=-1": a value that starts with "-" would be read as a flag.
            words += [f"{flag}={text}"] if text.startswith("-") else [flag, text]
        done.add(action.dest)
    return words


OUT_WANTED = "a folder that can be made and written in"


def writable_folder(text: str) -> str:
    """--out's parser: `text`, unchanged, if it names a folder this process can make (or
    has) and write in; checked as the flag is read, before TensorFlow loads."""
    reason = _unwritable(Path(text))
    if reason:
        raise argparse.ArgumentTypeError(f"must be {OUT_WANTED} ({reason}); got {text!r}")
    return text


def writable_file(text: str) -> str:
    """A file flag's parser (`tasks report --out PAGE`): `text`, unchanged, if it names no
    folder and its folder can be made and written in."""
    path = Path(text)
    reason = "a folder is there" if path.is_dir() else _unwritable(path.parent)
    if reason:
        raise argparse.ArgumentTypeError(f"must be a file in {OUT_WANTED} ({reason}); got "
                                         f"{text!r}")
    return text


def check_out_folder(path, flag: str = "--out") -> None:
    """`writable_folder` for a path already parsed: a `UsageError` in the same words."""
    reason = _unwritable(Path(path))
    if reason:
        raise UsageError(must_be(flag, f"{OUT_WANTED} ({reason})", str(path)))


def _unwritable(path: Path) -> str | None:
    """Why `path` is no folder this process can make and write in (a path through a file,
    a file, a place under /proc, too long a name), or None. Found by making the missing
    folders and a temporary file in the last, then removing what was made: as root, or on a
    read-only mount, asking `os.access` says yes to what then fails."""
    made = []
    try:
        for folder in reversed([path, *path.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        if not path.is_dir():
            return "it exists and is not a folder"
        check_writable(path, CONFIG_FILE)
        return None
    except OSError as error:
        return error.strerror or str(error)
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):  # another process may be writing in it
                folder.rmdir()


def remove_if_unused(run: RunDir, held=(), made=()) -> None:
    """Remove `run`'s config.json and provenance.json when they are all the run added to
    what the folder `held`,
    and then the folders `made` for it, deepest first: a run stopped by a mistake before
    any result leaves nothing behind (and its rerun with the mistake fixed is not another
    configuration)."""
    ours = {CONFIG_FILE, PROVENANCE_FILE}  # what `RunDir` writes when it opens a folder
    if not {p.name for p in run.path.iterdir()} <= {*held, *ours}:
        return
    for name in ours - set(held):
        run.file(name).unlink(missing_ok=True)
    for folder in made:
        with contextlib.suppress(OSError):
            folder.rmdir()


def forget_unreadable(run: RunDir, records: Records) -> None:
    """Delete each of `records` in `run` that cannot be read (truncated, empty, random
    bytes, another kind of file), with a one-line warning naming it and saying what is done
    again: a rerun resumes from the others instead of failing on it."""
    for path in sorted(run.path.glob(records.pattern)):
        if read_record(path, records.keys) is None:
            holding = f" with {', '.join(records.keys)}" if records.keys else ""
            print(f"warning: {path} cannot be read as this run's record (a JSON object"
                  f"{holding}); {records.redone}.", file=sys.stderr)
            path.unlink()


NOT_RUN_FILE = "not_run.json"


def read_not_run(run: RunDir) -> dict[str, str]:
    """The experiments a runner could not run in `run`, each with the reason (none when
    the file cannot be read: the runner records them again as it goes)."""
    path = run.file(NOT_RUN_FILE)
    not_run = read_record(path) if path.exists() else {}
    if not_run is None or not all(isinstance(v, str) for v in not_run.values()):
        print(f"warning: {path} cannot be read; the experiments' reasons for not running "
              f"are recorded again.", file=sys.stderr)
        return {}
    return not_run


def write_index(run: RunDir, title: str, intro: str, names) -> None:
    """The runner's `report.md`: a link to each experiment's report, or why it did not run."""
    not_run = read_not_run(run)
    report = Report(title, intro)
    report.table(["experiment", "report"],
                 [[name, f"not run: {not_run[name]}" if name in not_run
                   else f"[{name}/report.md]({name}/report.md)"] for name in names])
    run.write_report(report)
    if not_run:
        print(f"not run: {', '.join(not_run)} (see {run.file('report.md')})")


def exit_status(name: str, body: Callable[[], int],
                interrupted: str = "run the same command again to resume") -> int:
    """Run a command's `body` and return its exit status: a user's mistake (`UsageError`,
    `DataError`) is one line on stderr and 2, Ctrl-C a line saying what to do and 130."""
    try:
        return body()
    except (UsageError, DataError) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; {interrupted}.", file=sys.stderr)
        return 130
