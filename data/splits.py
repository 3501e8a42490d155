"""Train / validation / test splits, the shape every array loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Splits:
    """Images as uint8 NHWC (pixel values 0-255), labels as int64 class indices.

    `flat()` gives the float32 vectors in [0, 1] that the MLPs take.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    name: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def flat(self) -> tuple[np.ndarray, ...]:
        """(x_train, y_train, x_val, y_val, x_test, y_test) with x as float32 rows in [0, 1]."""

        def rows(x):
            return (x.reshape(len(x), -1).astype(np.float32)) / np.float32(255)

        return (rows(self.x_train), self.y_train, rows(self.x_val), self.y_val,
                rows(self.x_test), self.y_test)

    def subset(self, train: int, val: int | None = None, test: int | None = None) -> Splits:
        """The first `train` / `val` / `test` examples (for `--quick` runs)."""
        val = train if val is None else val
        test = val if test is None else test
        return Splits(self.x_train[:train], self.y_train[:train], self.x_val[:val],
                      self.y_val[:val], self.x_test[:test], self.y_test[:test],
                      self.class_names, self.name)


def split_off_validation(x, y, val_size: int, seed: int) -> tuple[np.ndarray, ...]:
    """Shuffle (x, y) with `seed` and return (x_train, y_train, x_val, y_val).

    The validation set is the last `val_size` examples of a seeded permutation, so the same
    seed always gives the same split.
    """
    order = np.random.default_rng(seed).permutation(len(x))
    train, val = order[: len(x) - val_size], order[len(x) - val_size:]
    return x[train], y[train], x[val], y[val]
