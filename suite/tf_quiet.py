"""TensorFlow and Keras, imported once and quietly.

TensorFlow 2.21 prints its start-up lines from C++ before its own logging is set up, so no
setting silences them: `TF_CPP_MIN_LOG_LEVEL` applies only once absl's log is initialised,
and absl's "All log messages before absl::InitializeLog()..." notice, oneDNN's "custom
operations are on", the CUDA stub's "Could not find cuda drivers" and "failed call to cuInit"
come before or around that. (Measured: `TF_CPP_MIN_LOG_LEVEL=3`, `ABSL_MIN_LOG_LEVEL`,
`GLOG_minloglevel` and `CUDA_VISIBLE_DEVICES=` each leave them on screen;
`TF_ENABLE_ONEDNN_OPTS=0` removes only oneDNN's line.)

So the import and the first device query run with file descriptor 2 pointed at a temporary
file; afterwards the lines that are start-up chatter are dropped and every other line (a real
warning or error) is written to stderr as it came.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager

# Start-up chatter: absl's pre-initialisation notice, C++ INFO lines ("I0000 00:00:..."),
# the continuation of the CPU-feature INFO line.
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} \d\d:\d\d:\d\d"
    r"|To enable the following instructions:)")
# The CUDA stub's lines: noise where there is no NVIDIA driver, worth seeing where there is.
_NO_GPU_CHATTER = re.compile(r"cudart_stub|cuda_platform|cuda_executor|cuInit|cuda drivers")


def has_nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia")


def drop_chatter(text: str, gpu_driver: bool | None = None) -> str:
    """`text` (captured stderr) without TensorFlow's start-up chatter; other lines kept."""
    if gpu_driver is None:
        gpu_driver = has_nvidia_driver()
    kept = [line for line in text.splitlines(keepends=True)
            if not _CHATTER.match(line) and (gpu_driver or not _NO_GPU_CHATTER.search(line))]
    return "".join(kept)


@contextmanager
def stderr_without_chatter():
    """Run the body with file descriptor 2 captured, then pass on all but the chatter."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = drop_chatter(captured.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def import_tensorflow():
    """Import TensorFlow and Keras without the start-up chatter; returns `keras`.

    TensorFlow's C++ WARNING lines stay off (`TF_CPP_MIN_LOG_LEVEL=2` unless set: in practice
    they are tf.data's end-of-sequence notices); Python warnings and errors show as usual.
    Set `TF_CPP_MIN_LOG_LEVEL=0` to see everything.
    """
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_without_chatter():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA stub speaks here, on first device query
        import keras
    return keras
