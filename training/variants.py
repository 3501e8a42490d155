"""A study's variants, each saved the moment it ends, so an interrupted study resumes.

A study trains several models one after another (with and without L2, one per activation,
...). Each finished model's record (its history rows, its results) goes to
`variants/<label>.json` in the results folder at once; run the same command again and the
finished variants are read back instead of trained again. A different configuration gets a
new folder (see `RunDir`), so a record is only ever reused by the configuration that wrote it.

    variants = VariantStore(run)
    for label, settings in ...:
        record = variants.load(label)
        if record is None:
            record = variants.save(label, train_one(settings))
"""

from __future__ import annotations

import re

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
