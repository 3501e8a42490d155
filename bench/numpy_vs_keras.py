"""One epoch of the same MLP in the NumPy engine and in Keras `fit` (defaults and at its best).

784-500-400-10 ReLU, float32, plain SGD, batch 64, 50,000 samples (random data of MNIST's
shape: the timing does not depend on the pixels). Each engine runs in a child process of its
own, as a user runs either one: in one process, OpenBLAS's threads and TensorFlow's thread
pool contend for the same 2 cores and the NumPy epoch came out 3x slower than alone. A
child trains one warm-up epoch, then times `--epochs` epochs and reports the best; the
engines alternate for `--repeats` children each, and the best time of each counts.

Three engines: `numpy` (models/numpy_mlp.py), `keras` (Keras's defaults: `fit` on NumPy
arrays, one step per compiled call) and `keras_best` (the way the suite's tasks fit: a
tf.data pipeline of the uint8 images, `data.arrays.array_dataset`, and `compile` with
`training.fitting.STEPS_PER_EXECUTION` steps per call; the same maths).

Prints the three times, `ratio` = numpy / keras_best, `keras_default_ratio` = numpy / keras,
`keras_speedup` = keras / keras_best, and `peak_fraction` = the epoch's matmul FLOPs /
(NumPy epoch time x this machine's float32 matmul peak), the peak being the best of 5 runs
of a 4096x4096 float32 `np.matmul`, measured in this script between the children.

    python bench/numpy_vs_keras.py [--repeats 3] [--epochs 2] [--samples 50000]
                                   [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from threadpoolctl import threadpool_limits

from models.numpy_mlp import Model
from suite.cli import MAX_THREADS, Parser, positive_int
from suite.env import limit_threads

SIZES = (784, 500, 400, 10)
BATCH = 64
LR = 0.01
ENGINES = ("numpy", "keras", "keras_best")
# Bounds a run can meet: 100 children or epochs; 200,000 samples (627 MB of float32 rows,
# four times MNIST's training set).
MAX_REPEATS = 100
MAX_SAMPLES = 200_000


def matmul_peak_flops(n: int = 4096, repeats: int = 5) -> float:
    """Best-of-`repeats` float32 FLOP/s of an n x n matmul."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def epoch_matmul_flops(samples: int) -> float:
    """Forward (x W) + weight gradient (a^T delta) for every layer, input gradient for all
    layers but the first: 2 m k n FLOPs per matmul."""
    layers = list(zip(SIZES[:-1], SIZES[1:]))
    per_sample = sum(2 * 2 * i * o for i, o in layers) + sum(2 * i * o for i, o in layers[1:])
    return per_sample * samples


def numpy_model():
    model = Model(seed=0)
    model.add_layer(SIZES[1], "relu", input_size=SIZES[0])
    for units in SIZES[2:-1]:
        model.add_layer(units, "relu")
    model.add_layer(SIZES[-1], "softmax")
    return model.compile(lr=LR)


def keras_model(steps_per_execution: int = 1):
    import keras

    model = keras.Sequential([keras.Input((SIZES[0],))]
                             + [keras.layers.Dense(u, activation="relu") for u in SIZES[1:-1]]
                             + [keras.layers.Dense(SIZES[-1], activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="sparse_categorical_crossentropy",
                  steps_per_execution=steps_per_execution)
    return model


def child(engine: str, samples: int, epochs: int) -> float:
    """Best time of `epochs` epochs of `engine` after a warm-up epoch, in this process."""
    rng = np.random.default_rng(0)
    if engine == "keras_best":  # the tasks' way: uint8 images through their pipeline
        from data.arrays import array_dataset
        from training.fitting import STEPS_PER_EXECUTION

        images = rng.integers(0, 256, (samples, 28, 28, 1), dtype=np.uint8)
        dataset = array_dataset(images, rng.integers(0, SIZES[-1], samples), BATCH,
                                shuffle=True, seed=0, flatten=True)
        model = keras_model(STEPS_PER_EXECUTION)

        def epoch():
            model.fit(dataset, epochs=1, verbose=0)
    else:  # the same `fit` call on float32 arrays
        x = rng.random((samples, SIZES[0]), dtype=np.float32)
        y = rng.integers(0, SIZES[-1], samples)
        model = numpy_model() if engine == "numpy" else keras_model()

        def epoch():
            model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=True, verbose=0)

    epoch()  # warm-up: buffers, tracing, thread pools
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - start)
    return best


def run_child(engine: str, args) -> float:
    command = [sys.executable, __file__, "--child", engine, "--samples", str(args.samples),
               "--epochs", str(args.epochs)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python bench/numpy_vs_keras.py", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=positive_int.up_to(MAX_REPEATS), default=3,
                   help="children per engine")
    p.add_argument("--epochs", type=positive_int.up_to(MAX_REPEATS), default=2,
                   help="timed epochs per child")
    p.add_argument("--samples", type=positive_int.up_to(MAX_SAMPLES), default=50_000)
    p.add_argument("--threads", type=positive_int.up_to(MAX_THREADS), default=None,
                   help="threads for both engines (default: each library's own, all cores)")
    p.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.child:
        if args.threads:  # both engines get the same number of threads
            limit_threads(args.threads)
        print(json.dumps({"seconds": child(args.child, args.samples, args.epochs)}))
        return

    times = {name: [] for name in ENGINES}
    peaks = []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name in times:
            times[name].append(run_child(name, args))
        with threadpool_limits(args.threads):
            peaks.append(matmul_peak_flops())
    peak = max(peaks)
    numpy_s, keras_s, best_s = (min(times[name]) for name in ENGINES)
    flops = epoch_matmul_flops(args.samples)
    print(json.dumps({
        "bench": "numpy_vs_keras", "net": "-".join(map(str, SIZES)), "batch_size": BATCH,
        "samples": args.samples, "numpy_epoch_seconds": round(numpy_s, 3),
        "keras_epoch_seconds": round(keras_s, 3), "keras_best_epoch_seconds": round(best_s, 3),
        "ratio": round(numpy_s / best_s, 3), "keras_default_ratio": round(numpy_s / keras_s, 3),
        "keras_speedup": round(keras_s / best_s, 3),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "numpy_gflops": round(flops / numpy_s / 1e9, 1),
        "peak_fraction": round(flops / numpy_s / peak, 3),
        "threads": args.threads or "all",
        "all_times": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }))


if __name__ == "__main__":
    main()
