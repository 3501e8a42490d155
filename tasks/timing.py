"""A short timing of this machine, for `python -m tasks reproduce`'s plan.

    python -m tasks.timing [--data-dir DIR]      # prints one JSON line of seconds per unit

A step's expected time is its work, counted from its experiments' settings (`Work`: how many
examples pass through which nets, tasks/reproduce.py), times what one unit of that work
costs here, measured now on the same engines with the same nets (a few seconds each):

    start     seconds to start a process and import TensorFlow and Keras
    numpy     seconds per million parameter-examples trained by task 1's NumPy MLP
              (784-500-400-10, batch 64): an MLP's cost grows with its parameters
    keras     the same for a Keras MLP as tasks 2 and 3 train them (batch 128, 128 steps
              per compiled call)
    model     seconds to build a Keras net and start training it (its first fit's extra
              time: tracing, compiling): a study of many small nets pays it for each
    cnn       seconds per example trained through task 3's 206,500-parameter CNN
    photo     seconds to decode one Dogs-vs-Cats photo and shrink it to 64x64
    view      seconds per 64x64 photo through task 4's cpu_net, predicting

It runs in a child process, so `reproduce` itself never loads TensorFlow. The estimate
counts training and evaluation passes, not the Python between them, so steps of many small
nets run longer than it says; `reproduce` corrects its time left as steps finish.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, fields

import numpy as np

UNITS = ("start", "numpy", "keras", "model", "cnn", "photo", "view")
EXAMPLES = 4096  # random examples a timing trains on: long enough to see past the first batch


@dataclass(frozen=True)
class Work:
    """What a step computes, in the units of this machine's timing (see the module)."""

    processes: int = 1
    numpy: float = 0.0  # million parameter-examples through the NumPy MLP
    keras: float = 0.0  # million parameter-examples through a Keras MLP
    model: float = 0.0  # Keras nets built, compiled and trained or loaded
    cnn: float = 0.0  # examples through the CNN
    photo: float = 0.0  # photos decoded
    view: float = 0.0  # photo views predicted by cpu_net

    def seconds(self, cost: dict) -> float:
        """The expected seconds of this work at `cost` (seconds per unit)."""
        total = self.processes * cost.get("start", 0.0)
        for unit in fields(self):
            if unit.name != "processes":
                total += getattr(self, unit.name) * cost.get(unit.name, 0.0)
        return total


def mlp(*hidden: int, inputs: int = 784, classes: int = 10) -> float:
    """An MLP's parameters in millions: mlp(500, 400) = 0.597 (784-500-400-10)."""
    sizes = [inputs, *hidden, classes]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) / 1e6


def timed(call, repeat: int = 3) -> tuple[float, float]:
    """(the first call's extra seconds, the fastest of the other calls): the first builds,
    compiles and warms up; the fastest of the rest is the one least disturbed by other jobs
    on a shared machine."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    fastest = min(seconds[1:])
    return max(seconds[0] - fastest, 0.0), fastest


def numpy_cost(x, y) -> float:
    from models.numpy_mlp import Model

    model = Model(seed=0).add_layer(500, "relu", input_size=784).add_layer(400, "relu") \
        .add_layer(10, "softmax").compile(lr=0.01)
    _, seconds = timed(lambda: model.fit(x, y, epochs=1, batch_size=64, verbose=0))
    return seconds / (len(x) * model.params / 1e6)


def keras_costs(x, y) -> dict:
    """The Keras MLP's and the CNN's costs, built and compiled as tasks 2 and 3 do."""
    import keras

    from models.cnn import make_cnn_206k
    from models.mlp import make_mlp
    from training.fitting import compile_classifier

    start = time.perf_counter()
    net = compile_classifier(make_mlp((784,), 10, hidden=(500, 400)), keras.optimizers.Adam())
    built = time.perf_counter() - start
    first, seconds = timed(lambda: net.fit(x, y, batch_size=128, epochs=1, verbose=0))
    # an epoch's fixed cost (callbacks, the epoch's end) is paid once per epoch of 50,000
    # examples in the tasks, but would weigh on every example of this short one: time a
    # quarter of it too and keep only the cost the other three quarters added
    _, quarter = timed(lambda: net.fit(x[: len(x) // 4], y[: len(x) // 4], batch_size=128,
                                       epochs=1, verbose=0))
    seconds = max(seconds - quarter, seconds / 8) * 4 / 3
    images = x[: len(x) // 2].reshape(-1, 28, 28, 1)
    cnn = compile_classifier(make_cnn_206k((28, 28, 1), 10), keras.optimizers.Adam())
    _, cnn_seconds = timed(lambda: cnn.fit(images, y[: len(images)], batch_size=128, epochs=1,
                                           verbose=0))
    return {"keras": seconds / (len(x) * net.count_params() / 1e6), "model": built + first,
            "cnn": cnn_seconds / len(images)}


def photo_costs(data_dir) -> dict:
    """A photo's decoding (when the Dogs-vs-Cats photos are here) and cpu_net's view."""
    from models.vgg import build_model

    views = np.random.default_rng(0).random((512, 64, 64, 3), dtype=np.float32)
    net = build_model("cpu_net")
    _, seconds = timed(lambda: net.predict(views, batch_size=256, verbose=0))
    cost = {"view": seconds / len(views)}
    try:
        from data.dogs import find_root
        from PIL import Image

        photos = sorted((find_root(data_dir) / "train").glob("*.jpg"))[:64]
    except Exception:  # absent or unreadable: the plan then has no step that decodes them
        return cost
    if photos:
        def decode():
            for path in photos:
                with Image.open(path) as image:
                    image.convert("RGB").resize((64, 64))
        cost["photo"] = timed(decode)[1] / len(photos)
    return cost


def measure(data_dir=None) -> dict:
    """Seconds per unit of each of `UNITS` on this machine (takes well under a minute)."""
    from suite.tf_quiet import import_tensorflow

    start = time.perf_counter()
    import_tensorflow()
    import keras  # noqa: F401  (its import is part of every step's start)

    cost = {"start": time.perf_counter() - start}
    rng = np.random.default_rng(0)
    x = rng.random((EXAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, EXAMPLES)
    cost["numpy"] = numpy_cost(x, y)
    cost.update(keras_costs(x, y))
    cost.update(photo_costs(data_dir))
    return cost


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.timing", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--data-dir", help="where the Dogs-vs-Cats photos are (to time decoding)")
    p.add_argument("--threads", type=int, help="CPU threads (default: as every task uses)")
    args = p.parse_args(argv)
    from suite.env import default_threads, limit_threads

    limit_threads(args.threads or default_threads())
    print(json.dumps(measure(args.data_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
