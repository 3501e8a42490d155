"""Matplotlib without a screen (Agg), and the figure shape the reports use."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 6.0, height: float = 4.0, **kw):
    """`plt.subplots` sized `width` x `height` inches per row, for `RunDir.save_figure`."""
    return plt.subplots(nrows, ncols, figsize=(width, height * nrows), **kw)
