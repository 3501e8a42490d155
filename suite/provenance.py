"""Where and when a results folder's figures were measured: `provenance.json`.

A figure means little without its machine: the same command trains twice as many epochs on
one CPU as on another, and a loaded machine runs slower than a quiet one. So every results
folder (`suite.runs.RunDir`) records, beside its `config.json`:

    machine   the CPU's model name, the instruction-set flags that change how the suite
              runs (AVX2, AVX-512, bfloat16, AMX: task 4 computes in bfloat16 only where
              it is native), the cores this process may use, the memory, the GPUs
    code      the git commit of the code that ran, and whether tracked files differed from
              it (a checkout of the suite only; null otherwise)
    started   when the first process that wrote into the folder started
    ended     when a result (metrics.json or report.md) was last written; null until then
    load      the 1-minute load average, sampled every few seconds while the run went on:
              min, median, max and the number of samples

The file is rewritten whole (atomically) whenever the folder's results are, so a run killed
at any moment leaves a valid file with what was known at its last write. A run resumed into
the same folder adds to it: the earliest start, every load sample, and the machines and
commits it ran on if they changed. Provenance is never part of a folder's configuration:
`config.json`'s comparison of configurations does not see it.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from suite.io import atomic_write_json, read_json

PROVENANCE_FILE = "provenance.json"
# The flags that change how the suite runs: AVX-512 turns TensorFlow's oneDNN kernels on by
# default, bfloat16 (avx512_bf16, amx_bf16) makes task 4's `--precision auto` compute in it.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
SAMPLE_SECONDS = 5.0  # how often the load average is sampled
MAX_SAMPLES = 20_000  # a folder's samples kept: more than a day of running at SAMPLE_SECONDS
GIT_SECONDS = 10  # at most this long for each git question, so a slow disk never stalls a run


# -- the machine -----------------------------------------------------------------------------
def parse_cpuinfo(text: str) -> dict:
    """The CPU's model name and the flags of `CPU_FLAGS` it has, from /proc/cpuinfo's text
    (the first processor's entry; x86 names them `model name` and `flags`)."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    name = fields.get("model name") or fields.get("Model") or fields.get("Hardware")
    return {"cpu": name or None, "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def parse_gpus(text: str) -> list[str]:
    """GPU names from `nvidia-smi -L`'s lines ('GPU 0: NVIDIA H200 (UUID: GPU-...)')."""
    return [re.sub(r"\s*\(UUID:.*\)$", "", line.split(":", 1)[1]).strip()
            for line in text.splitlines() if line.startswith("GPU ") and ":" in line]


def gpus() -> list[str]:
    """This machine's NVIDIA GPUs, from `nvidia-smi -L` where it is installed."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=GIT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_gpus(listing.stdout) if listing.returncode == 0 else []


@lru_cache(maxsize=1)
def machine() -> dict:
    """This machine, as the results depend on it (read once per process)."""
    try:
        cpu = parse_cpuinfo(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:  # not Linux
        import platform

        cpu = {"cpu": platform.processor() or platform.machine() or None, "flags": []}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    return {**cpu, "cores": cores, "memory_gib": round(memory, 1) if memory else None,
            "gpus": gpus()}


# -- the code --------------------------------------------------------------------------------
def git(folder: Path, *args: str) -> str | None:
    """`git <args>`'s output in `folder`, or None when git or the checkout is not there."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=GIT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(folder: str | os.PathLike) -> dict | None:
    """The commit checked out at `folder` and whether tracked files differ from it, or None
    when `folder` is not in a git checkout. Untracked files are not counted: a results
    folder or a virtual environment inside the checkout is no change to the code."""
    folder = Path(folder)
    commit = git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    changes = git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(changes) if changes is not None else None}


@lru_cache(maxsize=1)
def suite_code_version() -> dict | None:
    """The suite's own commit: the checkout its packages are imported from (None when they
    were installed elsewhere, even inside another project's checkout)."""
    root = Path(__file__).resolve().parents[1]
    top = git(root, "rev-parse", "--show-toplevel")
    return code_version(root) if top and Path(top).resolve() == root else None


# -- the load --------------------------------------------------------------------------------
class LoadSampler:
    """A daemon thread that samples the 1-minute load average every `every` seconds.

    Example:
        sampler = LoadSampler(every=5.0).start()
        ...
        values = sampler.since(started)  # the samples taken since then
    """

    def __init__(self, every: float = SAMPLE_SECONDS, read=os.getloadavg):
        self.every = every
        self.read = read
        self.samples: list[tuple[float, float]] = []  # (time, load)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def sample(self) -> None:
        try:
            load = self.read()[0]
        except OSError:  # no load average on this system
            return
        with self._lock:
            self.samples.append((time.time(), round(load, 2)))

    def start(self) -> LoadSampler:
        """Start sampling (once per process: a forked child starts its own thread)."""
        if self._thread is None or self._pid != os.getpid():
            self._pid = os.getpid()
            self.sample()
            self._thread = threading.Thread(target=self._run, name="load-sampler",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._stop.set()

    def since(self, start: float, until: float = float("inf")) -> list[float]:
        """The loads sampled at `start` < time <= `until`."""
        with self._lock:
            return [load for when, load in self.samples if start < when <= until]


_SAMPLER = LoadSampler()


def load_summary(samples: list[float]) -> dict | None:
    if not samples:
        return None
    return {"min": min(samples), "median": round(statistics.median(samples), 2),
            "max": max(samples), "samples": len(samples)}


# -- the file --------------------------------------------------------------------------------
def now_text(seconds: float | None = None) -> str:
    """A time as ISO 8601 with this machine's UTC offset: '2026-12-04T14:27:03+01:00'."""
    return datetime.fromtimestamp(time.time() if seconds is None else seconds).astimezone() \
        .isoformat(timespec="seconds")


def earliest(*times: str | None) -> str:
    """The earliest of ISO 8601 times (a garbled one is ignored)."""
    parsed = []
    for text in times:
        try:
            parsed.append((datetime.fromisoformat(text), text))
        except (TypeError, ValueError):
            pass
    return min(parsed, key=lambda pair: pair[0].timestamp())[1]


def read_provenance(folder: str | os.PathLike) -> dict | None:
    """A folder's provenance.json, or None when it has none or it cannot be read."""
    try:
        record = read_json(Path(folder) / PROVENANCE_FILE)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


class Provenance:
    """One results folder's `provenance.json`, kept by the process that writes into it.

    Args:
        folder: the results folder (it must exist; nothing is written once it is gone).
        sampler: the load sampler (the process's own by default).
    """

    def __init__(self, folder: str | os.PathLike, sampler: LoadSampler | None = None):
        self.folder = Path(folder)
        self.sampler = (sampler or _SAMPLER).start()
        self.started = time.time()
        self.written_until = self.started - 1e-6  # the sampler's first sample may be now
        self.first_write = True

    def record(self, ended: bool = False) -> dict:
        """The file's new content: what is on disk merged with this process's news."""
        previous = read_provenance(self.folder) or {}
        self.sampler.sample()
        until = time.time()
        new = self.sampler.since(self.written_until, until)
        self.written_until = until
        samples = (list(previous.get("load_samples", [])) + new)[-MAX_SAMPLES:]
        here = {"machine": machine(), "code": suite_code_version()}
        earlier = list(previous.get("earlier", []))
        was = {k: previous.get(k) for k in here}
        if previous and was != here and was not in earlier:
            earlier.append(was)  # resumed on another machine or with other code
        record = {**here, "started": earliest(previous.get("started"), now_text(self.started)),
                  "ended": now_text() if ended else previous.get("ended"),
                  "updated": now_text(), "load": load_summary(samples),
                  "processes": previous.get("processes", 0) + int(self.first_write),
                  "load_samples": samples}
        return {**record, "earlier": earlier} if earlier else record

    def write(self, ended: bool = False) -> dict | None:
        """Rewrite the file (`ended`: a result was just written); return what it holds."""
        if not self.folder.is_dir():
            return None  # the folder was removed (--overwrite, a test's clean-up)
        record = self.record(ended)
        atomic_write_json(self.folder / PROVENANCE_FILE, record)
        self.first_write = False
        return record


# -- one line of it --------------------------------------------------------------------------
def machine_line(about: dict | None) -> str:
    """'AMD EPYC (avx2 avx512f; 2 cores, 23.4 GiB, no GPU)'."""
    if not about:
        return "an unknown machine"
    flags = " ".join(about.get("flags") or []) or "none of " + "/".join(CPU_FLAGS)
    gpu = ", ".join(about.get("gpus") or []) or "no GPU"
    memory = f", {about['memory_gib']} GiB" if about.get("memory_gib") else ""
    cores = about.get("cores")
    return (f"{about.get('cpu') or 'an unknown CPU'} ({flags}; {cores} "
            f"core{'' if cores == 1 else 's'}{memory}, {gpu})")


def code_line(code: dict | None) -> str:
    if not code:
        return "commit unknown"
    return f"commit {code['commit'][:10]}" + (" with local changes" if code.get("dirty") else "")


def dates_line(record: dict) -> str:
    """'2026-12-04 14:27 to 15:02' (the day once when the run ended the day it began)."""
    started = (record.get("started") or "?")[:16].replace("T", " ")
    ended = record.get("ended")
    if not ended:
        return f"started {started}, no result written yet"
    ended = ended[:16].replace("T", " ")
    return f"{started} to {ended[11:] if ended[:10] == started[:10] else ended}"


def load_line(load: dict | None) -> str:
    if not load:
        return "load not sampled"
    return (f"load {load['min']:.2f}-{load['max']:.2f} (median {load['median']:.2f}, "
            f"{load['samples']} samples)")


def provenance_line(record: dict | None) -> str:
    """The one line a report shows: machine, flags, commit, dates, load."""
    if not record:
        return "Provenance unknown (a folder written before the suite recorded it)."
    line = (f"Measured on {machine_line(record.get('machine'))}, "
            f"{code_line(record.get('code'))}, {dates_line(record)}, "
            f"{load_line(record.get('load'))}")
    if record.get("earlier"):
        line += f"; resumed from {len(record['earlier'])} other machine(s) or commit(s)"
    return line + "."
