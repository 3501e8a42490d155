"""Fault injection for the shared machinery: results files are never seen half-written."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


pytestmark = pytest.mark.faults

WRITER = textwrap.dedent("""
    import sys
    from suite.io import atomic_write_text  # the project is installed (pip install -e .)
    i = 0
    while True:  # alternate two large, distinguishable contents as fast as possible
        i += 1
        atomic_write_text(sys.argv[1], (str(i % 2) * 4_000_000) + "END")
""")


def test_kill_during_write_leaves_old_or_new_content(tmp_path):
    """Fault 8: kill -9 a process in the middle of its writes, 20 times, then read."""
    target = tmp_path / "metrics.json"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for attempt in range(20):
        proc = subprocess.Popen([sys.executable, str(script), str(target)])
        time.sleep(0.3 + 0.05 * (attempt % 7))  # land at different points of a write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if not target.exists():
            continue  # killed before the first rename: nothing was ever promised
        text = target.read_text()
        assert text.endswith("END") and len(text) == 4_000_003
        assert set(text[:-3]) in ({"0"}, {"1"})
    assert target.exists()
