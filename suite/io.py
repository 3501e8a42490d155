"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import tempfile
from pathlib import Path

# The writer's pid and host are in a temporary file's name (".metrics.json.4242@node1.x8f.tmp"),
# so a later run can tell the leftovers of a killed writer from a write still under way.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"^\..+\.(\d+)@([A-Za-z0-9-]+)\.[^.]+\.tmp$")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename.

    `os.replace` is atomic on POSIX and Windows, so a process killed at any moment leaves
    either the previous content or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{_HOST}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def check_writable(folder: str | os.PathLike, name: str) -> None:
    """Create and delete the temporary file `atomic_write_bytes` would write beside
    `folder/name`; the OSError if it cannot. Named as a writer's temporary file, so one left
    by a kill is removed as theirs are (`remove_stale_temporaries`)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}@{_HOST}.", suffix=".tmp",
                               dir=folder)
    os.close(fd)
    os.unlink(tmp)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers on this host left when they were killed
    (SIGKILL, power loss) mid-write, anywhere under `folder`; return them.

    A temporary file whose writer still runs, or that another host wrote (a shared folder of
    a distributed search), is left alone.
    """
    removed = []
    for tmp in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(tmp.name)
        if match and match[2] == _HOST and not _process_alive(int(match[1])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def atomic_write_npz(path: str | os.PathLike, **arrays) -> Path:
    """`numpy.savez` of `arrays`, written atomically (`atomic_write_bytes`)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value):
    """NumPy scalars and arrays, paths and tuples as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, to_json(obj))


def atomic_write_csv(path: str | os.PathLike, rows: list[dict], fieldnames=None) -> Path:
    """Rows of dicts as CSV; columns in first-seen order unless `fieldnames` is given."""
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(v) for k, v in row.items()})
    return atomic_write_text(path, buffer.getvalue())


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_record(path: str | os.PathLike, keys=()) -> dict | None:
    """The JSON object in `path` if it holds every one of `keys`; None when the file cannot
    be read as one (missing, truncated, empty, random bytes, a list, another file's keys)."""
    try:
        record = read_json(path)
    except (OSError, ValueError):  # ValueError: JSONDecodeError and UnicodeDecodeError
        return None
    return record if isinstance(record, dict) and all(k in record for k in keys) else None


def read_csv(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_keras_model(path: str | os.PathLike, flag: str, writer: str):
    """`keras.models.load_model(path, compile=False)`, or a `UsageError` in the suite's
    wording when `path` is no Keras model (another file renamed .keras, a truncated one):
    Keras's own errors for those are tracebacks of ValueError, OSError, zipfile's, ...

    Args:
        flag: the flag that named the file, e.g. "--model".
        writer: the command that writes such a file, e.g. "python -m tasks.task4 train".
    """
    import keras

    from suite.errors import UsageError, must_be

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # whatever Keras raises, the file is not a model it can read
        reason = " ".join(str(error).split())[:160] or type(error).__name__
        raise UsageError(must_be(flag, f"a model.keras that {writer} wrote (this one cannot "
                                       f"be loaded: {reason})", str(path))) from None
