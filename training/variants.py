"""A study's variants, each saved the moment it ends, so an interrupted study resumes.

A study trains several models one after another (with and without L2, one per activation,
...). Each finished model's record (its history rows, its results) goes to
`variants/<label>.json` in the results folder at once; run the same command again and the
finished variants are read back instead of trained again. A different configuration gets a
new folder (see `RunDir`), so a record is only ever reused by the configuration that wrote it.

`run_variants` is the one per-variant loop of every study:

    records = run_variants(run, [("relu", {...}), ("elu", {...})], train_one)
    # train_one(label, settings) -> a JSON-able record, e.g. {"rows": ..., "result": ...}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from suite.io import atomic_write_json, read_json


class VariantStore:
    """Per-variant records of one results folder (`run`, a `RunDir`)."""

    def __init__(self, run, folder: str = "variants"):
        self.folder = run.file(folder)

    def path(self, label: str):
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", label) + ".json")

    def load(self, label: str) -> dict | None:
        """The record of a finished variant, or None if it has not finished."""
        path = self.path(label)
        if not path.exists():
            return None
        print(f"{label}: finished earlier, its results are read back from {path}")
        return read_json(path)

    def save(self, label: str, record: dict) -> dict:
        atomic_write_json(self.path(label), record)
        return record


def run_variants(run, variants: Iterable[tuple[str, object]],
                 train_one: Callable[[str, object], dict]) -> list[dict]:
    """Each variant's record, in order: read back if it finished in an earlier run of this
    configuration, else `train_one(label, settings)`, saved the moment it returns.

    Args:
        run: the study's results folder (a `RunDir`).
        variants: (label, settings) pairs; the label names the record file, the settings are
            whatever `train_one` needs (a config dict, a model builder, ...).
        train_one: trains one variant and returns its record (JSON-able: lists, dicts,
            numbers, strings).
    """
    store = VariantStore(run)
    records = []
    for label, settings in variants:
        record = store.load(label)
        if record is None:
            print(f"\n--- {label}")
            record = store.save(label, train_one(label, settings))
        records.append(record)
    return records
