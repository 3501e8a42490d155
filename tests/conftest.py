"""Shared test set-up: quiet TensorFlow, no downloads, a small thread budget."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["SUITE_OFFLINE"] = "1"  # a test never waits on a download
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
