"""Memory across a search: each trial's peak resident memory over N `--quick` trials, with
every trial in one process and with a process per trial (`--trials-per-process 1`).

    python bench/tuning_memory.py [--data-dir ../shared/datasets] [--trials 100]

Runs `python -m tuning.vgg --quick --max-trials N` both ways and reads the `peak_rss_mib`
column of `trials.csv` (the peak of the process that ran the trial, so far). In one process
that peak only grows with whatever each trial leaves behind; in a process per trial it is
that trial's alone. Flat memory means the last trial's figure stays near the fifth's (the
first ones warm imports, caches and TensorFlow's allocator up). Prints one JSON line; the
headline is `per_process_rss_last_to_trial5_ratio` (1.0 = no growth at all), beside
`one_process_rss_last_to_trial5_ratio`. Memory does not depend on the load of the machine,
only the run's length does: about 25 minutes each way on 2 cores for 100 trials.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data.errors import DataError
from data.locate import check_data_dir
from suite.cli import Parser, positive_int

ROOT = Path(__file__).resolve().parents[1]
MAX_TRIALS = 10_000  # a bound a run can meet: 100 trials take about 25 minutes each way
MODES = {"one_process": "0", "per_process": "1"}  # --trials-per-process


def peaks(data_dir: str, trials: int, per_process: str) -> tuple[list[float], float]:
    """Each completed trial's `peak_rss_mib`, in trial order, and the run's seconds."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tuning.vgg", "--quick", "--quiet",
                        "--max-trials", str(trials), "--trials-per-process", per_process,
                        "--data-dir", data_dir, "--out", out], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        rows = list(csv.DictReader(open(Path(out) / "trials.csv")))
    rows.sort(key=lambda r: int(r["trial_id"]))
    return [float(r["peak_rss_mib"]) for r in rows if r["status"] == "completed"], seconds


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python bench/tuning_memory.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "datasets"),
                   help="the folder holding dogs-vs-cats/")
    p.add_argument("--trials", type=positive_int.up_to(MAX_TRIALS), default=100,
                   help="quick trials in each run")
    return p


def main(argv=None) -> None:
    p = parser()
    args = p.parse_args(argv)
    try:  # here, not in the first child's traceback
        check_data_dir(args.data_dir, "dogs-vs-cats/")
    except DataError as error:
        p.error(str(error))

    result = {"bench": "tuning_memory", "trials": args.trials}
    for mode, per_process in MODES.items():
        values, seconds = peaks(args.data_dir, args.trials, per_process)
        warm = values[min(4, len(values) - 1)]
        result.update({
            f"{mode}_seconds": round(seconds),
            f"{mode}_peak_rss_mib_trial1_5_last": [values[0], warm, values[-1]],
            f"{mode}_peak_rss_mib_max": max(values),
            f"{mode}_rss_growth_mib_trial5_to_last": round(values[-1] - warm, 1),
            f"{mode}_rss_last_to_trial5_ratio": round(values[-1] / warm, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
