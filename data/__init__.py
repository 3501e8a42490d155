"""Datasets: loaders that find, read and split them, and (task 4) image pipelines.

Loaders look in `--data-dir`, then `$SUITE_DATA_DIR`, then Keras's cache (see `locate`).
`load_dataset(name, ...)` picks a loader by the `--dataset` name.
"""

from importlib import import_module

from data.errors import DataError, DatasetNotFound
from data.mnist import load_digits, load_mnist
from data.splits import Splits

# `--dataset` name -> "module:function"; each loader takes (data_dir=None, seed=0).
ARRAY_DATASETS = {
    "mnist": "data.mnist:load_mnist",
    "digits": "data.mnist:load_digits",
    "fashion_mnist": "data.fashion_mnist:load_fashion_mnist",
    "cifar10": "data.cifar10:load_cifar10",
}


def load_dataset(name: str, data_dir=None, seed: int = 0) -> Splits:
    """The array dataset called `name` (a key of `ARRAY_DATASETS`), split and seeded."""
    if name not in ARRAY_DATASETS:
        raise DataError(f"dataset must be one of {', '.join(ARRAY_DATASETS)}; got {name!r}.")
    module, function = ARRAY_DATASETS[name].split(":")
    loader = getattr(import_module(module), function)
    if name == "digits":  # bundled with scikit-learn: nothing to look for
        return loader(seed=seed)
    return loader(data_dir=data_dir, seed=seed)


__all__ = ["ARRAY_DATASETS", "DataError", "DatasetNotFound", "Splits", "load_dataset",
           "load_digits", "load_mnist"]
