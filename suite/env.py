"""Threads, seeds and library versions: the run's environment, set once per process."""

from __future__ import annotations

import os
import platform
import random
from importlib import metadata

ENV_THREADS = "SUITE_THREADS"
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
LIBRARIES = ("numpy", "tensorflow", "keras", "keras-tuner", "tf-keras", "scikit-learn",
             "matplotlib", "Pillow")


def default_threads() -> int:
    """`$SUITE_THREADS`, else every core the process may use."""
    if os.environ.get(ENV_THREADS):
        return max(1, int(os.environ[ENV_THREADS]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def limit_threads(threads: int) -> None:
    """Use `threads` threads in BLAS (NumPy) and TensorFlow's op pools.

    The environment variables reach libraries not yet loaded; threadpoolctl reaches a BLAS
    that is. TensorFlow's pools are set through its environment variables so that importing
    TensorFlow stays lazy (a NumPy-only task never pays for it).
    """
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def prefer_onednn() -> None:
    """Turn TensorFlow's oneDNN kernels on unless `$TF_ENABLE_ONEDNN_OPTS` already says.

    TensorFlow turns them on by itself only on CPUs with AVX-512; on an AVX2-only CPU they
    also train task 4's net faster than its default kernels (`bench/train_speed.py`'s
    `onednn_off` variant measures it; the README has the figure). Read once, when TensorFlow
    loads: call before it does.
    """
    os.environ.setdefault(ONEDNN, "1")


def set_seed(seed: int) -> None:
    """Seed Python and NumPy; Keras too if it is already imported."""
    import sys

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the suite's libraries (no imports needed)."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions
