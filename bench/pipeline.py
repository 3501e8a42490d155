"""Training throughput of the task-3 strong CNN: our tf.data pipeline against plain `fit(numpy)`.

Both feed the same compiled model (`models.cnn.make_strong_cnn`, 28x28x1, batch 128) one epoch
of `--samples` images of Fashion-MNIST's shape (random pixels: the timing does not depend on
them):

- `pipeline`: `data.arrays.array_dataset` - uint8 images sliced and batched by tf.data, scaled
  to float32 a batch at a time in a parallel map, shuffled, prefetched;
- `numpy`: the images converted once to float32 in [0, 1] (not timed), then
  `model.fit(x, y, batch_size=128, shuffle=True)`, Keras's own array adapter.

After one warm-up epoch each, they alternate for `--repeats` epochs; the best time of each
counts. Prints images per second of both and `ratio` = pipeline / numpy (aim >= 1.3).

    python bench/pipeline.py [--repeats 3] [--samples 6400] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from suite.cli import MAX_THREADS, Parser, positive_int
from suite.env import default_threads, limit_threads

BATCH = 128
# Bounds a run can meet: 100 epochs of each feed; 200,000 images (785 MB as float32).
MAX_REPEATS = 100
MAX_SAMPLES = 200_000


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python bench/pipeline.py", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=positive_int.up_to(MAX_REPEATS), default=3)
    p.add_argument("--samples", type=positive_int.up_to(MAX_SAMPLES), default=6400)
    p.add_argument("--threads", type=positive_int.up_to(MAX_THREADS), default=default_threads())
    return p


def main(argv=None) -> dict:
    return measure(parser().parse_args(argv))


def measure(args) -> dict:
    """Both feeds' images per second for the parsed flags (one JSON line printed)."""
    limit_threads(args.threads)

    from suite.tf_quiet import import_tensorflow

    keras = import_tensorflow()  # without its start-up chatter on stderr

    from data.arrays import array_dataset
    from models.cnn import make_strong_cnn

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_uint8 = rng.integers(0, 256, (args.samples, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, args.samples).astype(np.int64)
    x_float = x_uint8.astype(np.float32) / np.float32(255)

    model = make_strong_cnn((28, 28, 1), 10)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    dataset = array_dataset(x_uint8, y, BATCH, shuffle=True, seed=0)

    def pipeline_epoch():
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)

    def numpy_epoch():
        model.fit(x_float, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)

    candidates = {"pipeline": pipeline_epoch, "numpy": numpy_epoch}
    best = {}
    for epoch in candidates.values():  # warm-up: tracing, caches, thread pools
        epoch()
    for _ in range(args.repeats):
        for name, epoch in candidates.items():
            start = time.perf_counter()
            epoch()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    result = {"benchmark": "pipeline", "model": "strong_cnn", "samples": args.samples,
              "batch_size": BATCH, "threads": args.threads, "repeats": args.repeats,
              "pipeline_images_per_second": round(args.samples / best["pipeline"], 1),
              "numpy_images_per_second": round(args.samples / best["numpy"], 1),
              "ratio": round(best["numpy"] / best["pipeline"], 3)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
