"""Images per second of the two augmentation engines, the reports' config, 64x64 photos.

    python bench/augment.py            # prints one JSON line; `ratio` = fast / legacy

Both engines augment the same batches in the same process, interleaved, best of `REPEATS`:
`legacy` is ImageDataGenerator's `random_transform` per image (SciPy, one resample per
channel), `fast` is this suite's engine (IDG's parameters per image, one affine matrix per
image, one `affine_transform` call per batch, in a compiled tf.function as tf.data runs it).
Threads: $SUITE_THREADS (default: all cores). Target: ratio >= 5 on 2 cores.
"""

from __future__ import annotations

import json
import os
import time


from suite.env import default_threads, limit_threads

BATCH = 64
BATCHES = 8  # per timed pass: 512 images
REPEATS = 5
SIDE = 64


def main() -> dict:
    threads = default_threads()
    limit_threads(threads)
    import numpy as np

    from suite.tf_quiet import import_tensorflow

    import_tensorflow()  # without its start-up chatter on stderr
    import tensorflow as tf

    from data.augment import REPORT_AUGMENT, fast_augment, legacy_augmenter

    rng = np.random.default_rng(0)
    batches = [rng.random((BATCH, SIDE, SIDE, 3), dtype=np.float32) for _ in range(BATCHES)]
    tensors = [tf.constant(b) for b in batches]
    fast = tf.function(lambda x, seed: fast_augment(x, seed, REPORT_AUGMENT))
    legacy = legacy_augmenter(REPORT_AUGMENT)
    seed = tf.constant([0, 1])
    fast(tensors[0], seed).numpy()  # trace once, outside the timing

    def time_fast():
        start = time.perf_counter()
        for x in tensors:
            fast(x, seed).numpy()
        return time.perf_counter() - start

    def time_legacy():
        start = time.perf_counter()
        for x in batches:
            legacy(x)
        return time.perf_counter() - start

    best = {"fast": float("inf"), "legacy": float("inf")}
    for _ in range(REPEATS):
        best["fast"] = min(best["fast"], time_fast())
        best["legacy"] = min(best["legacy"], time_legacy())
    images = BATCH * BATCHES
    result = {
        "bench": "augment",
        "image_size": SIDE,
        "batch_size": BATCH,
        "threads": threads,
        "cpus": os.cpu_count(),
        "fast_images_per_second": round(images / best["fast"], 1),
        "legacy_images_per_second": round(images / best["legacy"], 1),
        "ratio": round(best["legacy"] / best["fast"], 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
