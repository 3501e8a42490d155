"""Memory across a search: resident set size after each of 20 `--quick` trials.

    python bench/tuning_memory.py [--data-dir ../shared/datasets] [--trials 20]

Runs `python -m tuning.vgg --quick --max-trials N` in this process and reads VmRSS after
every trial. Flat memory means the growth from trial 5 (imports, caches and TensorFlow's
allocator warmed up) to the last stays small. Prints one JSON line;
`rss_last_to_trial5_ratio` is the headline (1.0 = no growth at all).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path



def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared"
                                             / "datasets"))
    p.add_argument("--trials", type=int, default=20)
    args = p.parse_args()

    from tuning import tuner as tuner_module
    from tuning.vgg import main as tuning_main

    after_trial = []
    on_trial_end = tuner_module.VGGTuner.on_trial_end

    def measured(self, trial):
        on_trial_end(self, trial)  # clears the Keras session first
        after_trial.append(round(rss_mib(), 1))

    tuner_module.VGGTuner.on_trial_end = measured
    with tempfile.TemporaryDirectory() as out:
        status = tuning_main(["--quick", "--quiet", "--max-trials", str(args.trials),
                              "--data-dir", args.data_dir, "--out", out])
    if status != 0:
        raise SystemExit(status)
    warm = after_trial[min(4, len(after_trial) - 1)]
    print(json.dumps({
        "trials": len(after_trial), "rss_mib_after_trial": after_trial,
        "rss_growth_mib_trial5_to_last": round(after_trial[-1] - warm, 1),
        "rss_last_to_trial5_ratio": round(after_trial[-1] / warm, 3)}))


if __name__ == "__main__":
    main()
