"""Where datasets are looked for, in order, and what happens when none is found.

Every loader asks `locate(...)` for its files. The places, in order:

1. the `--data-dir` flag (the folder that holds the dataset files),
2. the `SUITE_DATA_DIR` environment variable,
3. Keras's own cache, `~/.keras/datasets` (or `$KERAS_HOME/datasets`).

When the dataset is in none of them, the loader's `download` function runs (Keras's own
code, into Keras's cache). Offline, or with `SUITE_OFFLINE=1`, that fails and the user gets
one sentence naming the places searched and the file expected: `DatasetNotFound`.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable, Iterable

from data.errors import DatasetNotFound

ENV_DATA_DIR = "SUITE_DATA_DIR"
ENV_OFFLINE = "SUITE_OFFLINE"


def keras_cache_dir() -> Path:
    """Keras's dataset cache: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def search_places(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """The folders searched, in order, each with the name the error message gives it."""
    places = []
    if data_dir:
        places.append(("--data-dir", Path(data_dir).expanduser()))
    if os.environ.get(ENV_DATA_DIR):
        places.append((f"${ENV_DATA_DIR}", Path(os.environ[ENV_DATA_DIR]).expanduser()))
    places.append(("Keras's cache", keras_cache_dir()))
    return places


def check_data_dir(data_dir: str | os.PathLike | None, holds: str = "the dataset files") -> None:
    """Raise `DatasetNotFound` if `--data-dir` was given but is not a folder.

    Cheap and import-free, so a command line checks it before loading TensorFlow.
    """
    if data_dir and not _is_folder(Path(data_dir).expanduser()):
        raise DatasetNotFound(f"--data-dir {data_dir} is not a folder; pass the folder that "
                              f"holds {holds} (for example ../shared/datasets).")


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system is no folder either
        return False


def locate(
    dataset: str,
    candidates: Iterable[str],
    data_dir: str | os.PathLike | None = None,
    download: Callable[[], Path] | None = None,
) -> Path:
    """Return the first existing `candidate` (a relative path) in the search places.

    Args:
        dataset: the dataset's name, for the error message ("MNIST").
        candidates: relative paths that hold the dataset, best first
            (`"mnist.npz"`, or `"cifar-10-batches-py"` then `"cifar-10-python.tar.gz"`).
        data_dir: the `--data-dir` flag, or None.
        download: fetches the dataset with Keras's own code and returns its path; called
            only when no copy is found and `SUITE_OFFLINE` is not set.

    Raises:
        DatasetNotFound: nowhere to be found and the download failed or was not allowed.
    """
    candidates = list(candidates)
    places = search_places(data_dir)
    check_data_dir(data_dir, candidates[0])
    for _, folder in places:
        for name in candidates:
            if (folder / name).exists():
                return folder / name
    reason = "downloads are off (SUITE_OFFLINE is set)"
    if download is not None and not os.environ.get(ENV_OFFLINE):
        try:
            return Path(download())
        except Exception as error:  # offline, refused, interrupted: all end the same way
            reason = f"the download failed ({type(error).__name__})"
    searched = ", ".join(f"{label} ({folder})" for label, folder in places)
    raise DatasetNotFound(
        f"{dataset} not found: looked for {' or '.join(candidates)} in {searched} and "
        f"{reason}; pass --data-dir with the folder that holds it."
    )
