"""Datasets: loaders that find, read and split them, and (task 4) image pipelines.

Loaders look in `--data-dir`, then `$SUITE_DATA_DIR`, then Keras's cache (see `locate`).
"""

from data.errors import DataError, DatasetNotFound
from data.mnist import load_digits, load_mnist
from data.splits import Splits

__all__ = ["DataError", "DatasetNotFound", "Splits", "load_digits", "load_mnist"]
