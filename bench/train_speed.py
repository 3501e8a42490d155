"""Training images per second of task 4's default recipe against Keras's defaults.

Both train the default `cpu_net` (64x64, batch 64, Adam 2e-3) with the report's augmentation
(both sides do the same work; `train`'s cpu_net recipe now takes the `medium` one, the same
affine warp per photo with smaller ranges, so the same cost in the fast engine) on
the same `--photos` Dogs-vs-Cats photos (half cats, half dogs) from `--data-dir`:

- `suite`: `python -m tasks.task4 train` exactly as it runs, from its recipe
  (`training.recipes.resolve`): `training.photos.make_datasets` (decode once and cache the
  uint8 pixels, shuffle, batch, the fast affine augmentation in the tf.data graph, prefetch)
  and `training.nets.compiled_model` (its compile settings: `--precision auto`, bfloat16 on
  a CPU with native bfloat16 instructions, and `STEPS_PER_CALL` training steps per compiled
  call; the recipe's whitening stem, frozen, which `keras_defaults`' net trains like any
  other conv);
- the suite's recipe with one of its speed choices changed, so each choice's share shows:
  `float32`, `bfloat16` (precision), `xla` and `no_xla` (`jit_compile` True / False),
  `eight_steps` (8 training steps per compiled call instead of 1), `onednn_on` and
  `onednn_off` (TensorFlow's oneDNN kernels, `TF_ENABLE_ONEDNN_OPTS` 1 / 0; `suite`, like
  `python -m tasks.task4`, turns them on unless the environment says otherwise, where
  TensorFlow itself does so only on CPUs with AVX-512: `suite.env.prefer_onednn`),
  `batch_32` and `batch_128` (the batch size: speed only, a recipe's batch also changes
  what it learns);
- `keras_defaults`: the same net compiled with Keras's defaults, fed the keras.io way: every
  epoch decodes and resizes the JPEGs again, and the augmentation is Keras's preprocessing
  layers (`RandomFlip`, `RandomTranslation(0.2, 0.2)`, `RandomZoom(0.5)`) mapped over the
  batches, with TensorFlow's own choice of kernels (oneDNN only with AVX-512, unless
  the environment says otherwise).

Each engine runs in a child process of its own (one `fit` of a warm-up epoch, which also
fills the suite's cache, then `--epochs` timed epochs, the best counts; each timed from its
first step to its last, see `EpochTimer`); the engines alternate for
`--repeats` children each and the best of each counts. Prints images/s of each, the CPU's
bfloat16 flags, `ratio` = suite / keras_defaults, and where the step's time goes: the suite's
training FLOP/s (`training_flops_per_image` x images/s: every conv and dense layer's three
passes) as `suite_peak_fraction` of this machine's matmul peak in the suite's precision
(TensorFlow's `n x n` matmul, best of `PEAK_REPEATS`, in a process of its own), as
`bench/numpy_vs_keras.py` does for the NumPy MLP.

    python bench/train_speed.py [--data-dir ../shared/datasets] [--photos 2048]
                                [--repeats 2] [--epochs 2] [--threads N] [--engines ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from suite.env import ONEDNN, prefer_onednn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The suite's recipe and its variants, each one speed choice changed.
SUITE_VARIANTS = {"suite": {}, "float32": {"precision": "float32"},
                  "bfloat16": {"precision": "bfloat16"}, "xla": {"jit_compile": True},
                  "no_xla": {"jit_compile": False}, "eight_steps": {"steps_per_call": 8},
                  "onednn_on": {"onednn": "1"}, "onednn_off": {"onednn": "0"},
                  "batch_32": {"batch_size": 32}, "batch_128": {"batch_size": 128}}
ENGINES = (*SUITE_VARIANTS, "keras_defaults")
IMAGE_SIZE = 64
PEAK_SIZE = 2048  # the matmul that measures this machine's peak: n x n by n x n
PEAK_REPEATS = 10


def bench_recipe(photos: int, precision: str = "auto", batch_size: int | None = None):
    """`task4 train`'s default recipe with the report's augmentation, which Keras's side
    does too (cpu_net's recipe takes the medium one), on `photos` photos, all trained on."""
    from training.recipes import resolve

    return resolve("cpu_net", flags={"augment": "report", "precision": precision,
                                     "limit": photos // 2, "refit": True,
                                     "batch_size": batch_size})


def training_flops_per_image(model) -> float:
    """The multiply-adds of one training step per image, as FLOPs: every conv and dense
    layer's forward pass, and its two backward ones (the input's gradient and the weights'),
    except a frozen first layer's (the whitening stem: no weight gradient, and no input to
    pass a gradient to). Batch norm, pooling and activations are left out: a few percent."""
    import keras

    flops = 0.0
    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            kernel = layer.kernel.shape
            macs = height * width * filters * kernel[0] * kernel[1] * kernel[2]
        elif isinstance(layer, keras.layers.Dense):
            macs = layer.kernel.shape[0] * layer.kernel.shape[1]
        else:
            continue
        passes = 1 if index <= 1 and not layer.trainable else 3
        flops += 2.0 * macs * passes
    return flops


def matmul_peak_flops(precision: str) -> float:
    """This machine's best FLOP/s of an n x n matmul in TensorFlow (oneDNN, as training
    uses it), in `precision`, over `PEAK_REPEATS` runs."""
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
    a = tf.cast(tf.random.normal((PEAK_SIZE, PEAK_SIZE), seed=0), dtype)
    matmul = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x), tf.float32)))
    matmul(a).numpy()  # trace, warm the thread pools
    best = float("inf")
    for _ in range(PEAK_REPEATS):
        start = time.perf_counter()
        matmul(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * PEAK_SIZE**3 / best


def keras_defaults_dataset(files, labels, batch_size: int):
    """The keras.io pipeline: decode every epoch, augment with preprocessing layers."""
    import keras
    import tensorflow as tf

    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                keras.layers.RandomTranslation(0.2, 0.2),
                                keras.layers.RandomZoom(0.5)])

    def load(path, label):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        return tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE)) / 255.0, label

    dataset = tf.data.Dataset.from_tensor_slices((list(files), list(labels)))
    dataset = dataset.shuffle(len(files)).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size)
    return dataset.map(lambda x, y: (augment(x, training=True), y),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def child(engine: str, data_dir: str, photos: int, epochs: int) -> float:
    """Best training images/s of `epochs` epochs after a warm-up one, in this process."""
    import keras

    from training.nets import compiled_model, make_model
    from training.photos import load_photos, make_datasets, whitening_photos

    variant = dict(SUITE_VARIANTS.get(engine, {}))
    variant.pop("onednn", None)  # set in this process's environment by its parent
    recipe = bench_recipe(photos, variant.pop("precision", "auto"),
                          variant.pop("batch_size", None))
    data = load_photos(recipe, data_dir)  # a refit: every photo trains
    files, labels = data.train_files, list(data.train_labels)
    if engine in SUITE_VARIANTS:
        dataset, _ = make_datasets(recipe, data)
        model = compiled_model(recipe, whitening_photos(recipe, data), **variant)
    else:
        dataset = keras_defaults_dataset(files, labels, recipe.batch_size)
        model = make_model(recipe, IMAGE_SIZE)
        model.compile(keras.optimizers.Adam(recipe.learning_rate),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
    seconds = []

    class EpochTimer(keras.callbacks.Callback):
        """Each epoch from its first step's start to its last step's end: the steps and
        every wait for a batch, not the set-up and tear-down of the epoch's iterator. That
        tear-down waited (on a 2-core AVX2 EPYC) up to ~4 s after a 6-s epoch, so that one
        `fit` of 2,048 photos took 10.24 s whatever the engine; it went with tf.data's
        autotuning off, so it seems to wait for the autotuner to wake. The suite's pipelines
        now run without it (`data.dogs`), as `train`'s epoch turns stalled the same way."""

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if epoch:  # the first is the warm-up: tracing, thread pools, the cache
                seconds.append(self.end - self.start)

    model.fit(dataset, epochs=1 + epochs, verbose=0, callbacks=[EpochTimer()])
    return {"images_per_second": len(files) / min(seconds), "precision": recipe.precision,
            "flops_per_image": training_flops_per_image(model)}


PEAKS = ("peak_float32", "peak_bfloat16")


def run_child(args) -> None:
    """One engine's timing, or one precision's matmul peak, in this process: a JSON line."""
    if args.child != "keras_defaults":  # which keeps TensorFlow's own choice of kernels
        prefer_onednn()  # as `python -m tasks.task4` does, before TensorFlow loads
    if args.threads:
        from suite.env import limit_threads

        limit_threads(args.threads)
    if args.child in PEAKS:
        print(json.dumps({"flops": matmul_peak_flops(args.child.split("_")[1])}))
    else:
        print(json.dumps(child(args.child, args.data_dir, args.photos, args.epochs)))


MAX_PHOTOS = 25_000
MAX_REPEATS = 100


def parser():
    from suite.cli import MAX_THREADS, Parser, positive_int

    p = Parser(prog="python bench/train_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/datasets")
    p.add_argument("--photos", type=positive_int.up_to(MAX_PHOTOS), default=2048,
                   help="photos trained on")
    p.add_argument("--repeats", type=positive_int.up_to(MAX_REPEATS), default=2,
                   help="children per engine")
    p.add_argument("--epochs", type=positive_int.up_to(MAX_REPEATS), default=2,
                   help="timed epochs per child")
    p.add_argument("--threads", type=positive_int.up_to(MAX_THREADS),
                   help="threads (default: every core)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES),
                   help="the engines to time (default: all; suite and keras_defaults are "
                        "always timed, for the ratio)")
    p.add_argument("--child", choices=(*ENGINES, *PEAKS), help=argparse.SUPPRESS)
    return p


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if args.child:
        run_child(args)
        return
    engines = [name for name in ENGINES
               if name in args.engines or name in ("suite", "keras_defaults")]
    runs = {name: [] for name in engines}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name in engines:
            runs[name].append(run_in_child(args, name))
    print(json.dumps(summary(args, runs)))


def run_in_child(args, name: str) -> dict:
    """`name`'s JSON line, from a fresh process (oneDNN is read once, when TensorFlow
    loads)."""
    command = [sys.executable, __file__, "--child", name, "--data-dir", args.data_dir,
               "--photos", str(args.photos), "--epochs", str(args.epochs)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = dict(os.environ)
    if "onednn" in SUITE_VARIANTS.get(name, {}):
        env[ONEDNN] = SUITE_VARIANTS[name]["onednn"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(args, runs: dict) -> dict:
    """The headline `ratio` (suite / keras_defaults), each variant against the suite, and the
    suite's training FLOP/s as a share of this machine's matmul peak in its precision."""
    from training.precision import BF16_CPU_FLAGS, cpu_flags, resolve

    best = {name: max(r["images_per_second"] for r in rs) for name, rs in runs.items()}
    suite = runs["suite"][0]
    peaks = {p: max(run_in_child(args, f"peak_{p}")["flops"] for _ in range(2))
             for p in {"float32", suite["precision"]}}
    achieved = best["suite"] * suite["flops_per_image"]
    flags = cpu_flags()
    return {"bench": "train_speed", "model": "cpu_net", "photos": args.photos,
            "precision_auto": resolve("auto", flags),
            "bf16_cpu_flags": sorted(flags & set(BF16_CPU_FLAGS)),
            "avx512f": "avx512f" in flags, ONEDNN: os.environ.get(ONEDNN),
            **{f"{name}_images_per_second": round(v, 1) for name, v in best.items()},
            "ratio": round(best["suite"] / best["keras_defaults"], 3),
            # each variant against the suite: above 1, that choice would be faster
            **{f"{name}_to_suite_ratio": round(best[name] / best["suite"], 3)
               for name in SUITE_VARIANTS if name in best and name != "suite"},
            "training_gflops_per_image": round(suite["flops_per_image"] / 1e9, 4),
            "suite_gflops": round(achieved / 1e9, 1),
            **{f"matmul_peak_gflops_{p}": round(v / 1e9, 1) for p, v in peaks.items()},
            "suite_peak_fraction": round(achieved / peaks[suite["precision"]], 3),
            "all": {k: [round(r["images_per_second"], 1) for r in rs]
                    for k, rs in runs.items()}}


if __name__ == "__main__":
    main()
