"""Results folders: `runs/<task>/<experiment>/` with config, metrics, history, plots, report.

A folder remembers the configuration that wrote it (`config.json`). Running again with the
same configuration continues or replaces it; a different configuration is refused unless
`--overwrite` is given, so one run's results never silently replace another's.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

from suite.env import library_versions
from suite.errors import UsageError
from suite.io import (atomic_write_bytes, atomic_write_csv, atomic_write_json,
                      atomic_write_text, read_json, read_record, remove_stale_temporaries,
                      to_json)
from suite.provenance import Provenance, provenance_line

CONFIG_FILE = "config.json"
PROVENANCE_REFRESH_SECONDS = 60  # other writes refresh provenance.json at most this often


class RunDir:
    """One experiment's results folder.

    Args:
        path: the folder (created if missing).
        config: the settings that define the results (flags, hyper-parameters); compared
            with the folder's `config.json` when it exists.
        overwrite: replace a folder written by another configuration.
        about: what wrote it, recorded beside the configuration but not compared: the task,
            the experiment and the command line (`python -m tasks report` quotes them).
    """

    def __init__(self, path, config: dict, overwrite: bool = False, about: dict | None = None):
        self.path = Path(path)
        self.config = config
        config_path = self.path / CONFIG_FILE
        if not config_path.exists() and not overwrite and _holds_foreign_files(self.path):
            # A folder with files but no config.json is not ours: never write into it.
            raise UsageError(f"{self.path} exists and is not a results folder of this suite; "
                             f"choose an empty or new folder with --out.")
        normal = _normalise(config)
        if config_path.exists():  # looked at after the files: it may have just appeared
            previous = _previous_config(config_path)
            if previous is None and not overwrite:
                raise UsageError(f"{config_path} cannot be read as a results folder's "
                                 f"configuration (cut short, or another file); pass "
                                 f"--overwrite to replace {self.path} or --out to write "
                                 f"elsewhere.")
            if previous != normal:
                if not overwrite:
                    changed = sorted(k for k in set(previous) | set(normal)
                                     if previous.get(k) != normal.get(k))
                    raise UsageError(
                        f"{self.path} holds results of another configuration (differs in "
                        f"{', '.join(changed)}); pass --overwrite to replace them or --out "
                        f"to write elsewhere.")
                shutil.rmtree(self.path)
            elif overwrite:
                shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        self.started = time.time()
        atomic_write_json(config_path, {"config": normal, **(about or {}),
                                        "versions": library_versions()})
        # Where and when, beside the configuration (never compared): suite/provenance.py.
        self.provenance = Provenance(self.path)
        self.provenance.write()
        self._provenance_written = time.time()

    def _refresh_provenance(self, ended: bool = False) -> dict | None:
        """Rewrite provenance.json: always when a result is written (`ended`), else at most
        every PROVENANCE_REFRESH_SECONDS, so a long run killed mid-way keeps recent load."""
        if not ended and time.time() - self._provenance_written < PROVENANCE_REFRESH_SECONDS:
            return None
        self._provenance_written = time.time()
        return self.provenance.write(ended)

    def file(self, name: str) -> Path:
        return self.path / name

    def record(self, **about) -> Path:
        """Add `about` to config.json beside the configuration (not compared): what the run
        resolved once it began (task 4's recipe fitted to its budget)."""
        path = self.file(CONFIG_FILE)
        return atomic_write_json(path, {**read_json(path), **about})

    def write_json(self, name: str, obj) -> Path:
        path = atomic_write_json(self.file(name), obj)
        self._refresh_provenance()
        return path

    def write_metrics(self, metrics: dict) -> Path:
        """`metrics.json`: every figure the report quotes, snake_case keys."""
        path = atomic_write_json(self.file("metrics.json"), metrics)
        self._refresh_provenance(ended=True)
        return path

    def write_csv(self, name: str, rows: list[dict], fieldnames=None) -> Path:
        path = atomic_write_csv(self.file(name), rows, fieldnames)
        self._refresh_provenance()
        return path

    def write_history(self, rows: list[dict], fieldnames=None) -> Path:
        """`history.csv`: one row per epoch (or per evaluation step)."""
        return self.write_csv("history.csv", rows, fieldnames)

    def save_figure(self, fig, name: str) -> str:
        """Save a matplotlib figure as PNG (atomically), close it, return the file name."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        atomic_write_bytes(self.file(name), buffer.getvalue())
        return name

    def write_report(self, report) -> Path:
        """`report.md`, ending with one line of where and when it was measured."""
        record = self._refresh_provenance(ended=True)
        return atomic_write_text(self.file("report.md"),
                                 report.render() + f"\n*{provenance_line(record)}*\n")


def _previous_config(path: Path) -> dict | None:
    """The configuration an existing config.json records ({} for an older one without it),
    or None when the file cannot be read as one."""
    record = read_record(path)
    if record is None or not isinstance(record.get("config", {}), dict):
        return None
    return record.get("config", {})


def _normalise(config: dict) -> dict:
    """The config as it reads back from JSON (tuples become lists, paths strings)."""
    import json

    return json.loads(to_json(config))


def _holds_foreign_files(folder: Path) -> bool:
    """Whether `folder` holds files that are not this suite's.

    `config.json` itself, or its temporary file (`.config.json.*.tmp`), may appear while we
    look: another process of the same run (the chief of a distributed search, say) is
    writing it. Those are ours.
    """
    if not folder.is_dir():
        return False
    names = [p.name for p in folder.iterdir()]
    if CONFIG_FILE in names:
        return False  # it appeared meanwhile: the folder is ours, its configuration is compared
    return any(not (name.startswith(f".{CONFIG_FILE}.") and name.endswith(".tmp"))
               for name in names)
