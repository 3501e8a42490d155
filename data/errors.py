"""Errors the data loaders raise; the task CLIs turn them into one sentence and exit 2."""


class DataError(ValueError):
    """A dataset that is present but unusable: empty, one class, wrong layout."""


class DatasetNotFound(DataError, FileNotFoundError):
    """A dataset that is in none of the places searched and could not be downloaded."""
