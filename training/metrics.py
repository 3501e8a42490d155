"""Which way a metric is better: the one rule `EarlyStopping`, `ModelCheckpoint` and
KerasTuner's objectives are given (kept free of Keras, so command lines import it cheaply)."""

from __future__ import annotations


def monitor_mode(metric: str) -> str:
    """"min" for a loss or an error ("val_loss", "val_crossentropy", "test_error"), else "max"
    (accuracy)."""
    lowered = metric.lower()
    return "min" if any(word in lowered for word in ("loss", "error", "crossentropy")) else "max"
