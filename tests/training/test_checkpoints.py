"""training.checkpoints: the best-validation record counts only when it is the checkpoint's."""

import os
import time
from types import SimpleNamespace

from training.checkpoints import best_record


def test_best_record_counts_only_when_written_after_its_checkpoint(tmp_path):
    run = SimpleNamespace(file=lambda name: tmp_path / name)
    assert best_record(run) is None
    weights, record = tmp_path / "best.keras", tmp_path / "best.json"
    weights.write_bytes(b"weights")
    record.write_text('{"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.5}')
    now = time.time_ns()
    os.utime(weights, ns=(now, now))
    os.utime(record, ns=(now + 1000, now + 1000))
    assert best_record(run) == {"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.5}
    os.utime(record, ns=(now - 1000, now - 1000))  # a kill between the two writes
    assert best_record(run) is None
