"""The fuzz suite's table of command lines, and how one argument list is run and judged.

Each `Cli` names a command's in-process `main(argv)`, the parser its flags are read from
(so a new flag is fuzzed without editing this table) and the places where the command has
got past its checks and would start the real work: loading a dataset, building a net,
starting a child process. Those are replaced by `ReachedTraining`, so an argument list that
passes every check costs milliseconds instead of a training run, while parsing, the flags'
checks, the results folder and any file the command reads on the way really run.

`run(cli, argv)` calls the command in a fresh sandbox folder (the working directory, with
files of every wrong kind in it, named by the `@...` placeholders of `PLACES`), and returns
an `Outcome`; `problems(outcome)` lists what broke the contract: a traceback, an exit
status other than 0 or 2, a status 2 that is not exactly one line on stderr or that left a
folder behind or changed one.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np


class ReachedTraining(BaseException):
    """The command got past its checks to where its real work starts; the fuzz stops it
    there. A BaseException, so no `except Exception` of the command swallows it."""


@dataclass(frozen=True)
class Cli:
    """One command line of the suite, as the fuzz suite calls it.

    Args:
        name: as the test ids show it, e.g. "tasks.task1 init".
        main: the command's `main(argv) -> exit status`, called in this process.
        parser: the `argparse` parser its flags are read from.
        prefix: the words before the flags (the experiment, the sub-command).
        stops: "module.attribute" targets that start the real work: each raises
            `ReachedTraining` when called.
        argv_via_sys: `main()` reads `sys.argv` (takes no argv).
    """

    name: str
    main: Callable
    parser: Callable[[], argparse.ArgumentParser]
    prefix: tuple[str, ...] = ()
    stops: tuple[str, ...] = ()
    argv_via_sys: bool = False

    def flags(self) -> list[argparse.Action]:
        """The command's optional flags (every one but --help), read from its parser."""
        parser = self.parser()
        for word in self.prefix:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = sub.choices[word]
        return [a for a in parser._actions if a.option_strings and a.dest != "help"]


# -- the sandbox ---------------------------------------------------------------------------
# Placeholders a generated value may hold, and what each is in the sandbox (relative to it).
PLACES = {
    "@missing": "missing/deeper",  # nothing there, nor its parent
    "@folder": "folder",  # an empty folder (where a file is wanted)
    "@file": "file.txt",  # a text file (where a folder, a model or JSON is wanted)
    "@through_file": "file.txt/below",  # a path through a file
    "@empty": "empty",  # an empty file
    "@random": "random.bin",  # random bytes
    "@list_json": "list.json",  # valid JSON of the wrong type
    "@bad_hparams": "bad_hparams.json",  # a JSON object of wrong values
    "@not_model": "not_a_model.keras",  # text named as a Keras model
    "@photos": "photos",  # two readable test photos, 1.jpg and 2.jpg
    "@other_results": "other_results",  # a results folder of another configuration
    "@truncated_results": "truncated_results",  # config.json cut short
    "@list_results": "list_results",  # config.json a JSON list
    "@packed": "packed.npz",  # portable's pack of four photos
}
# Places outside the sandbox that no one can write: under /proc, and a device file.
UNWRITABLE = ("/proc/nope/x", "/proc/version", "/dev/null", "/dev/null/x")


def make_sandbox(root: Path) -> None:
    """Fill `root` with the files the `PLACES` placeholders name."""
    from PIL import Image

    (root / "folder").mkdir()
    (root / "data").mkdir()  # the default --data-dir: a folder without any dataset
    (root / "file.txt").write_text("not what any flag wants\n")
    (root / "empty").write_bytes(b"")
    (root / "random.bin").write_bytes(np.random.default_rng(0).bytes(512))
    (root / "list.json").write_text("[1, 2]\n")
    (root / "bad_hparams.json").write_text('{"batch_size": 0, "learning_rate": "fast"}\n')
    (root / "not_a_model.keras").write_text("a text file, not a zip of a Keras model\n")
    (root / "photos").mkdir()
    jpegs = []
    for i in range(4):
        buffer = io.BytesIO()
        pixels = np.full((16, 16, 3), 60 * i, np.uint8)
        Image.fromarray(pixels).save(buffer, "JPEG")
        jpegs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        if i < 2:
            (root / "photos" / f"{i + 1}.jpg").write_bytes(buffer.getvalue())
    np.savez(root / "packed.npz", jpeg=np.concatenate(jpegs),
             offsets=np.cumsum([0] + [len(j) for j in jpegs]), labels=np.array([0, 1, 0, 1]),
             split=np.array([0, 0, 1, 1], np.uint8), image_size=16)
    for name, config in (("other_results", '{"config": {"seed": 123}}\n'),
                         ("truncated_results", '{"config": {"se'),
                         ("list_results", "[1, 2]\n")):
        (root / name).mkdir()
        (root / name / "config.json").write_text(config)
        (root / name / "metrics.json").write_text('{"val_accuracy": 0.5}\n')


def resolve(argv: list[str], root: Path) -> list[str]:
    """`argv` with each placeholder replaced by its path in the sandbox `root`."""
    out = []
    for word in argv:
        for name in sorted(PLACES, key=len, reverse=True):
            word = word.replace(name, str(root / PLACES[name]))
        out.append(word.replace("@out", str(root / "out")).replace("@data", str(root / "data")))
    return out


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root`, with a digest of each file's bytes ("dir" for a folder)."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir() and not path.is_symlink():
            state[key] = "dir"
        elif path.is_file():
            state[key] = hashlib.sha1(path.read_bytes()).hexdigest()
    return state


# -- running one argument list -------------------------------------------------------------
@dataclass
class Outcome:
    cli: str
    argv: list[str]
    status: int | str | None = None  # an exit status, or "trains" (`ReachedTraining`)
    stdout: str = ""
    stderr: str = ""
    error: BaseException | None = None  # an exception that escaped: a traceback
    trace: str = ""
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)  # config.json files left: path -> readable

    @property
    def command(self) -> str:
        """The command line as run, each word cut to 60 characters."""
        words = [w if len(w) <= 60 else f"{w[:40]}...({len(w)} characters)" for w in self.argv]
        return f"{self.cli} {' '.join(words[len(self.cli.split()) - 1:])}"

    @property
    def kind(self) -> str:
        """What the outcome was, for counting: "exit 2", "traceback ValueError", ..."""
        if self.error is not None:
            return f"traceback {type(self.error).__name__}"
        return "trains" if self.status == "trains" else f"exit {self.status}"


def environment(home: Path) -> dict:
    """What every run sees: offline, no $SUITE_DATA_DIR, Keras's cache in `home`, no
    distributed-search variables, the default threads."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERASTUNER_") and k not in ("SUITE_DATA_DIR", "SUITE_THREADS")}
    return {**env, "SUITE_OFFLINE": "1", "KERAS_HOME": str(home)}


def run(cli: Cli, argv: list[str], home: Path) -> Outcome:
    """Run `cli` with `argv` (placeholders resolved in a fresh sandbox) in this process."""
    from threadpoolctl import threadpool_limits

    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        root = Path(folder)
        make_sandbox(root)
        words = [*cli.prefix, *resolve(argv, root)]
        outcome = Outcome(cli.name, words, before=snapshot(root))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.chdir(root))
            stack.enter_context(mock.patch.dict(os.environ, environment(home), clear=True))
            stack.enter_context(threadpool_limits(limits=None))  # restored afterwards
            for target in cli.stops:
                stack.enter_context(mock.patch(target, side_effect=ReachedTraining))
            if cli.argv_via_sys:
                stack.enter_context(mock.patch.object(sys, "argv", [cli.name, *words]))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            outcome.status, outcome.error = _call(cli, words)
            if outcome.error is not None:
                outcome.trace = "".join(traceback.format_exception(outcome.error))
        outcome.stdout, outcome.stderr = out.getvalue(), err.getvalue()
        outcome.after = snapshot(root)
        outcome.results = {str(p.relative_to(root)): _readable_json(p)
                           for p in root.rglob("config.json")}
    return outcome


def _call(cli: Cli, words: list[str]):
    try:
        status = cli.main() if cli.argv_via_sys else cli.main(words)
        return (0 if status is None else status), None
    except SystemExit as exit_:
        return (0 if exit_.code is None else exit_.code), None
    except ReachedTraining:
        return "trains", None
    except Exception as error:  # what the fuzz is looking for
        return None, error


def _readable_json(path: Path) -> bool:
    import json

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


# -- the contract ---------------------------------------------------------------------------
def problems(outcome: Outcome) -> list[str]:
    """What `outcome` broke of the contract; empty when it kept it."""
    if outcome.error is not None:
        return [f"a traceback: {type(outcome.error).__name__}: {outcome.error}"[:300]]
    if outcome.status not in (0, 2, "trains"):
        return [f"exit status {outcome.status!r}"]
    found = []
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if outcome.status == 2:
        if len(lines) != 1:
            found.append(f"{len(lines)} lines on stderr, not one: {outcome.stderr[-600:]!r}")
        if outcome.after != outcome.before:
            changed = sorted(set(outcome.after.items()) ^ set(outcome.before.items()))
            found.append(f"exit 2 left the sandbox changed: {changed[:6]}")
    new = {k: v for k, v in outcome.results.items() if k not in outcome.before
           or outcome.after.get(k) != outcome.before.get(k)}
    unreadable = [k for k, ok in new.items() if not ok]
    if unreadable:
        found.append(f"an unreadable config.json was written: {unreadable}")
    left = [k for k in outcome.after if k.endswith(".tmp") and k not in outcome.before]
    if left:
        found.append(f"temporary files left: {left}")
    return found
