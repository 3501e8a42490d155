"""A NaN loss on demand, for the tests of what the suite does when training diverges.

A learning rate that only usually diverges (1e3) completes on some CPUs: with oneDNN on
(AVX-512 machines), the same steps stay finite. So the tests poison a learning rate instead:
every model compiled with an optimizer at exactly that rate gets a loss that is NaN from its
first batch, on every CPU, with oneDNN on or off.

In the test process, `poisoned_learning_rate(rate)` does it for the body of a `with`; in a
child process (a CLI run by a fault test), `child_env(rate)` makes `sitecustomize` in
`tests/nan_site/` do it at start-up, in that process and in every process it starts.
"""

from __future__ import annotations

import inspect
import os
from contextlib import contextmanager

from tests.conftest import ROOT

ENV_RATE = "SUITE_TEST_NAN_LEARNING_RATE"


def initial_learning_rate(optimizer) -> float | None:
    """The rate an optimizer starts at (a schedule's initial rate), or None."""
    rate = getattr(optimizer, "_learning_rate", None)
    rate = getattr(rate, "initial_learning_rate", rate)
    try:
        return float(rate)
    except (TypeError, ValueError):
        return None


def poison(rate: float):
    """Patch `keras.Model.compile`: at learning rate `rate`, the loss is always NaN.
    Returns the original `compile`, for `unpoison`."""
    import keras

    original = keras.Model.compile
    signature = inspect.signature(original)

    def compile_poisoned(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        if initial_learning_rate(bound.arguments.get("optimizer")) == rate:
            loss = keras.losses.get(bound.arguments.get("loss"))
            bound.arguments["loss"] = lambda y_true, y_pred: loss(y_true, y_pred) * float("nan")
        return original(*bound.args, **bound.kwargs)

    keras.Model.compile = compile_poisoned
    return original


@contextmanager
def poisoned_learning_rate(rate: float):
    import keras

    original = poison(rate)
    try:
        yield
    finally:
        keras.Model.compile = original


def child_env(rate: float) -> dict:
    """Environment entries that poison `rate` in a child process (and its children)."""
    path = os.pathsep.join([str(ROOT / "tests" / "nan_site"), str(ROOT),
                            os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {ENV_RATE: repr(float(rate)), "PYTHONPATH": path}
