"""`python -m tasks.task4 train`: one CNN on Dogs vs. Cats, best weights kept, resumable.

    python -m tasks.task4 train --data-dir ../shared/datasets --budget-minutes 30
    python -m tasks.task4 train --model vgg13 --epochs 200          # the report's recipe
    python -m tasks.task4 train --hparams runs/tuning/vgg/best_hparams.json

Interrupt it (Ctrl-C, a kill, a lost machine) and run the same command again: training goes
on from the last finished epoch (`BackupAndRestore`), `history.csv` keeps every epoch once,
and the best-validation checkpoint stays the best of the whole run.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

from data.augment import AUGMENTS
from models.vgg import MODEL_NAMES, build_model, build_vgg, trainable_params
from suite.cli import (arg, fraction, nonnegative_float, nonnegative_int, positive_float,
                       positive_int)
from suite.errors import UsageError, must_be
from suite.io import atomic_write_json, read_csv, read_json
from suite.report import Report, percent
from tasks.task4 import reported
from training.callbacks import (EpochSizes, NaNLossError, budget_schedule, monitor_mode,
                                nan_guard, progressive_resizing, weight_average)
from training.fitting import compile_classifier, plot_learning_curves
from training.optimizers import make_optimizer
from training.precision import PRECISIONS, compute_precision, resolve

# Each net's default recipe. The VGGs get report B's: SGD, lr 0.015, batch 16, 200 epochs
# (its best came near epoch 150); the report names no momentum, 0.9 is this suite's (on a
# GPU it left VGG-13 at chance for 84 epochs where plain SGD learnt at once: one seed each,
# tasks/task4/README.md, "The report's VGG-13 on a GPU"). Report C trained its batch-norm
# nets with Adam for 25 epochs. The CPU net takes Adam and batches of 64: on 2 cores a batch
# of 16 leaves the cores half idle, and batch norm makes the larger step safe.
#
# The VGGs and BN nets keep the reports' augmentation and plain labels; the CPU net, which
# trains for ~50 epochs in a 30-minute budget, takes the medium augmentation and label
# smoothing 0.1, which measured better there (tasks/task4/README.md, "Recipe changes, one at
# a time"), and a whitening stem; under a budget, a one-cycle: two epochs' warm-up to twice
# the rate, then the cosine (measured on an AVX2 CPU, "On an AVX2-only CPU"; without a
# budget the rate stays at 2e-3, unmeasured at 4e-3). The tricks are off unless a recipe
# turns them on (each is a flag of train); `under_budget` is what --budget-minutes changes,
# `long_budget` what a budget of LONG_BUDGET_MINUTES or more changes on top of it.
OFF = dict(label_smoothing=0.0, cutout=0.0, warmup=0.0, whiten=False)
RECIPES = {
    "vgg": dict(OFF, optimizer="sgd", learning_rate=0.015, batch_size=16, epochs=200,
                augment="report"),
    "bn": dict(OFF, optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=25,
               augment="report"),
    "cpu_net": dict(OFF, optimizer="adam", learning_rate=2e-3, batch_size=64, epochs=40,
                    augment="medium", label_smoothing=0.1, whiten=True,
                    under_budget=dict(learning_rate=4e-3, warmup=2.0),
                    long_budget=dict(augment="strong")),
}
# A budget this long (minutes) trains the CPU net wider: at 30 minutes width 48 fitted 27
# epochs and was still rising, 0.6 points under width 32's 50 epochs; in 120 minutes it ran
# 122 and reached 94.87% (tasks/task4/README.md, "A 120-minute recipe"). --width still wins.
# Its wide net learns the medium-augmented photos by heart in the second hour, so it takes
# the strong augmentation: +0.4 best, +0.4 with submit's views in one 120-minute run.
LONG_BUDGET_MINUTES = 120
LONG_BUDGET_WIDTH = 48
MOMENTUM = 0.9
QUICK_PER_CLASS = 60  # --quick: 60 photos of each class, 2 epochs
BEST_FILE = "best.keras"
MODEL_FILE = "model.keras"
# best.keras's epoch and validation figures, written beside it as fit measured them, so
# the run's end reports them without validating the weights a second time.
BEST_RECORD = "best.json"
# --ema's average, kept in the backup folder (gone with it when the run ends).
AVERAGE_FILE = "average.npz"
# Seconds kept back from a --budget-minutes run for what follows a mid-epoch stop: that
# epoch's validation pass (the run's last), copying best.keras, the test-time-augmentation
# pass over the validation photos (eight views each), plots and report.
BUDGET_TAIL_SECONDS = 45.0
BUDGET_MAX_EPOCHS = 1000
# Early stopping's patience in epochs, off under a budget: the schedule anneals to the
# budget's last epoch, where the best weights come (epoch 46 of 50 at 30 minutes).
PATIENCE = 30
# --progressive: the share of the planned epochs trained on the shrunk photos (the first).
PROGRESSIVE_FRACTION = 0.5
# Nets that take photos of any size (global average pooling, no flattened dense stack).
ANY_SIZE_MODELS = ("cpu_net",)
# --whiten: nets whose first conv, `stem_conv`, can be the whitening one, and the training
# photos its patches are drawn from (512 photos: 490,000 patches at 64x64, ~1 s).
WHITENED_MODELS = ("cpu_net",)
WHITENING_PHOTOS = 512
# Training steps per compiled call. One: the budget schedule sets the learning rate before
# every step. More would be allowed (the rate is set at each call's start), but
# `bench/train_speed.py` measured no gain from 8 for cpu_net, whose step (~0.1 s for a
# batch of 64 on 2 cores) dwarfs the per-call overhead.
STEPS_PER_CALL = 1
# XLA for the training step (Keras's "auto" leaves it off on a machine without an accelerator).
JIT_COMPILE = "auto"

ARGUMENTS = [
    arg("--model", choices=MODEL_NAMES, default="cpu_net",
        help="the net to train (vgg13 is the report's 45M-parameter VGG)"),
    arg("--width", type=positive_int,
        help="cpu_net's width: the filters of its first full block, doubled at each later "
             f"one (default 32: 32, 64, 128, 256; {LONG_BUDGET_WIDTH} under --budget-minutes "
             f"{LONG_BUDGET_MINUTES} or more)"),
    arg("--hparams", help="a best_hparams.json from tuning/ (learning_rate, batch_size, "
        "depth, kernel_size, optimizer, ...); overrides --model and the recipe"),
    arg("--optimizer", choices=("sgd", "adam"), help="default: the model's recipe"),
    arg("--lr", type=positive_float, help="learning rate (default: the model's recipe)"),
    arg("--batch-size", type=positive_int, help="default: the model's recipe"),
    arg("--epochs", type=positive_int, help="at most this many epochs (default: recipe)"),
    arg("--budget-minutes", type=positive_float,
        help="wall-clock minutes for the whole run, data loading included: the first epoch "
             "is timed, the epochs that fit are planned and the learning rate decays to zero "
             "at the last (cosine)"),
    arg("--warmup", type=nonnegative_float,
        help="under --budget-minutes, raise the learning rate linearly from near zero to "
             "its full value over this many epochs (fractions allowed) before the cosine "
             "brings it down: a one-cycle schedule (0 = off; default: 2 for cpu_net, whose "
             "rate under a budget is then 4e-3; 0 for the others)"),
    arg("--whiten", action=argparse.BooleanOptionalAction,
        help="cpu_net's stem conv whitens its patches and is not trained: its filters are "
             "the principal directions of 3x3 patches of the training photos and their "
             "negatives (airbench's whitening layer); default: on for cpu_net (--no-whiten "
             "turns it off)"),
    arg("--augment", choices=tuple(AUGMENTS), nargs="?", const="report",
        help="the training photos' augmentation: report (its shifts 0.2, zoom 0.5, shear "
             "0.2 degrees, flip; --augment alone), light (flip and shifts of up to 1/16), "
             "medium (flip, shifts of up to 1/8, zoom 0.85-1.15, turns of up to 10 "
             "degrees), strong (medium with zoom 0.7-1.3 and turns of up to 15 degrees), "
             "flip, or none (default: the model's recipe: medium for cpu_net, strong "
             f"under --budget-minutes {LONG_BUDGET_MINUTES} or more; report for the VGGs and "
             "batch-norm nets)"),
    arg("--no-augment", dest="augment", action="store_const", const="none",
        help="the same as --augment none: the photos as they are"),
    arg("--cutout", type=fraction,
        help="cutout c: after the augmentation, erase from each training photo a square of "
             "c times its side (0.25: 16 pixels at 64x64) at a random place, filled with the "
             "photo's mean colour (0 = off; default: the model's recipe, 0)"),
    arg("--label-smoothing", type=fraction,
        help="label smoothing s: the targets are 1 - s/2 for the photo's class and s/2 for "
             "the other (0 = off; default: the model's recipe: 0.1 for cpu_net, 0 for the "
             "VGGs and batch-norm nets)"),
    arg("--weight-decay", type=fraction, default=0.0,
        help="decoupled weight decay (AdamW's for Adam): each step shrinks the kernels by "
             "this times the learning rate (0 = off; biases and batch norm never decay)"),
    arg("--ema", type=fraction, default=0.0,
        help="an exponential moving average of the weights, decay d per step (0.999 "
             "averages over the last ~1,000 steps): validated, checkpointed and saved as "
             "model.keras in place of the raw weights, which train on (0 = off)"),
    arg("--engine", choices=("fast", "legacy"), default="fast",
        help="augmentation engine: fast (tf.data affine) or legacy (ImageDataGenerator)"),
    arg("--patience", type=nonnegative_int,
        help="stop after this many epochs without a better val_accuracy (0 = never; "
             f"default {PATIENCE}, or never under --budget-minutes, whose learning rate "
             "reaches zero only at the budget's last epoch)"),
    arg("--image-size", type=positive_int, default=64, help="photos are resized to this"),
    arg("--progressive", type=nonnegative_int, default=0,
        help="progressive resizing: the first half of the epochs train on photos shrunk to "
             "this side after their augmentation, the rest at --image-size, which is what "
             "validation, model.keras and submit use; cpu_net only (0 = off: with 48, a "
             "30-minute run on a 2-core AVX2 CPU fitted 29 epochs instead of 25, 48-pixel "
             "ones at 0.64x the time, and ended level with the defaults)"),
    arg("--precision", choices=PRECISIONS, default="auto",
        help="arithmetic of the training steps: auto is bfloat16 (Keras's mixed_bfloat16: "
             "float32 weights, bfloat16 compute) on a CPU with native bfloat16 instructions "
             "(avx512_bf16 or amx_bf16), where bench/train_speed.py measured it faster, and "
             "float32 elsewhere, where bfloat16 is emulated; model.keras is saved in float32 "
             "either way. TensorFlow's oneDNN kernels are on unless TF_ENABLE_ONEDNN_OPTS=0 "
             "(1.47x faster on an AVX2-only CPU, where TensorFlow would leave them off)"),
    arg("--limit", type=positive_int, help="at most this many photos per class"),
    arg("--refit", action="store_true",
        help="train the final model on every labelled photo (the training and validation "
             "split together) with the same recipe and budget, as Kaggle entrants do once "
             "the recipe is chosen on the split: nothing is held out, so nothing is "
             "validated, and model.keras holds the last (annealed) weights"),
]


def recipe_for(model_name: str) -> dict:
    if model_name.startswith("vgg"):
        return dict(RECIPES["vgg"])
    return dict(RECIPES["bn" if model_name.startswith("bn_") else model_name])


def read_hparams(path) -> dict:
    """tuning's best_hparams.json as a flat dict; KerasTuner's nesting is accepted too.

    Known keys: model, learning_rate, batch_size, optimizer, momentum, depth, kernel_size,
    filters, dense, batch_norm, dropout, epochs. Others (scores, trial ids, augment) are
    ignored: augmentation follows --augment or the model's recipe.
    """
    try:
        values = read_json(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"--hparams {path} is not a readable JSON file ({error}).") from None
    if not isinstance(values, dict):
        raise UsageError(f"--hparams {path} must hold a JSON object of hyper-parameters.")
    for nested in ("hyperparameters", "values", "hparams"):
        if isinstance(values.get(nested), dict):
            values = {**values, **values[nested]}
    return values


def settings(args) -> dict:
    """The model and optimiser settings of this run: recipe < --hparams < explicit flags."""
    hp = read_hparams(args.hparams) if args.hparams else {}
    # tuning's files name a depth, not a model: {"depth": 16, ...} is vgg16.
    model = hp.get("model") or (f"vgg{hp['depth']}" if "depth" in hp else args.model)
    if model not in MODEL_NAMES:
        raise UsageError(must_be("--hparams' model", f"one of {', '.join(MODEL_NAMES)}",
                                 model))
    chosen = recipe_for(model)
    under_budget, long_budget = chosen.pop("under_budget", {}), chosen.pop("long_budget", {})
    long = (args.budget_minutes or 0) >= LONG_BUDGET_MINUTES
    if args.budget_minutes:
        chosen.update(under_budget)
    if long:
        chosen.update(long_budget)
    chosen["momentum"] = MOMENTUM
    for key in ("optimizer", "learning_rate", "batch_size", "epochs", "momentum"):
        if key in hp:
            chosen[key] = hp[key]
    flags = {"optimizer": args.optimizer, "learning_rate": args.lr,
             "batch_size": args.batch_size, "epochs": args.epochs, "augment": args.augment,
             "label_smoothing": args.label_smoothing, "cutout": args.cutout,
             "warmup": args.warmup, "whiten": args.whiten}
    chosen.update({k: v for k, v in flags.items() if v is not None})
    if args.warmup and not args.budget_minutes:
        raise UsageError("--warmup needs --budget-minutes: it starts the budget's schedule "
                         "(without a budget the learning rate stays constant).")
    if chosen["whiten"] and model not in WHITENED_MODELS:
        raise UsageError(must_be("--whiten's model", " or ".join(WHITENED_MODELS), model))
    if args.budget_minutes and args.epochs is None:
        chosen["epochs"] = BUDGET_MAX_EPOCHS  # the budget decides when to stop
    chosen["optimizer"] = str(chosen["optimizer"]).lower()
    if chosen["optimizer"] not in ("sgd", "adam"):
        raise UsageError(must_be("the optimizer", "sgd or adam", chosen["optimizer"]))
    architecture = {k: hp[k] for k in ("depth", "kernel_size", "width", "filters", "dense",
                                       "batch_norm", "dropout") if k in hp}
    if args.width is not None:
        if model != "cpu_net":
            raise UsageError(must_be("--width's model", "cpu_net (the only net it widens)",
                                     model))
        architecture["width"] = args.width
    elif model == "cpu_net" and "width" not in architecture and long:
        architecture["width"] = LONG_BUDGET_WIDTH
    if args.quick:
        chosen["epochs"] = min(chosen["epochs"], 2)
    chosen["precision"] = resolve(getattr(args, "precision", "auto"))
    chosen["progressive"] = progressive_size(args, model)
    return {"model": model, "architecture": architecture, **chosen}


def progressive_size(args, model: str) -> int:
    """--progressive's side, checked (0 = off)."""
    low = getattr(args, "progressive", 0) or 0
    if low and model not in ANY_SIZE_MODELS:
        raise UsageError(must_be("--progressive's model", f"{' or '.join(ANY_SIZE_MODELS)} "
                                 "(a net that takes photos of any size)", model))
    if low and not low < args.image_size:
        raise UsageError(must_be("--progressive", f"under --image-size ({args.image_size})",
                                 low))
    return low


def patience_epochs(args) -> int:
    """--patience, or its default: off under a budget, PATIENCE epochs otherwise."""
    if args.patience is not None:
        return args.patience
    return 0 if args.budget_minutes else PATIENCE


def make_model(config: dict, image_size: int | None):
    """The configured net for photos `image_size` a side (None: any size)."""
    shape = (image_size, image_size, 3)
    arch = dict(config["architecture"])
    try:
        if arch and config["model"].startswith("vgg"):
            arch.setdefault("depth", int(config["model"][3:]))
            if "dense" in arch:
                arch["dense"] = tuple(arch["dense"])
            return build_vgg(input_shape=shape, name=config["model"], **arch)
        return build_model(config["model"], input_shape=shape, **arch)
    except (ValueError, TypeError) as error:
        raise UsageError(f"cannot build {config['model']} with {arch}: {error}") from None


# -- callbacks -----------------------------------------------------------------------------------
def _finite_loss(logs) -> bool:
    loss = (logs or {}).get("loss")
    return loss is None or math.isfinite(float(loss))


def history_writer(run, clock):
    """Write `history.csv` after every epoch, keeping earlier attempts' epochs exactly once.

    Rows carry `elapsed_seconds`, wall-clock since the run began, summed over attempts. The
    row of an epoch that runs again after a resume replaces the earlier one.
    """
    import keras

    class HistoryWriter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows = previous_rows(run)

        def on_epoch_begin(self, epoch, logs=None):
            # After every on_train_begin, so BackupAndRestore has set the starting epoch.
            self.rows = [r for r in self.rows if r["epoch"] <= epoch]

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                   "learning_rate": float(keras.ops.convert_to_numpy(
                       self.model.optimizer.learning_rate)),
                   "elapsed_seconds": round(clock(), 2)}
            self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
            run.write_history(self.rows)

    return HistoryWriter()


def best_record(run) -> dict | None:
    """best.keras's epoch and figures from best.json; None without them, or when best.json
    is older than best.keras (a kill between the checkpoint's two writes left the record
    of earlier weights)."""
    weights, record = run.file(BEST_FILE), run.file(BEST_RECORD)
    if not (weights.exists() and record.exists()) or \
            record.stat().st_mtime_ns < weights.stat().st_mtime_ns:
        return None
    return read_json(record)


def previous_rows(run) -> list[dict]:
    path = run.file("history.csv")
    if not path.exists():
        return []
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
            for row in read_csv(path)]


def checkpoint_callbacks(run, best_so_far, patience, validated: bool = True, average=None):
    """Best-val checkpoint (starting from the best of earlier attempts), early stopping and
    `BackupAndRestore`; the first and last skip an epoch whose loss went NaN. Without
    validation (`--refit`), the backup alone. A `weight_average` stands in for the weights
    from before the checkpoint to before the backup, which keeps the weights that train."""
    import keras

    class FiniteCheckpoint(keras.callbacks.ModelCheckpoint):
        """Saves to a temporary file and renames it: a kill mid-save never leaves a
        half-written best.keras. Then records the epoch's figures in best.json."""

        def on_epoch_end(self, epoch, logs=None):
            if not _finite_loss(logs):
                return
            final = self.filepath
            self.filepath = str(Path(final).with_suffix(".tmp.keras"))
            try:
                super().on_epoch_end(epoch, logs)
            finally:
                self.filepath = final
            partial = Path(final).with_suffix(".tmp.keras")
            if partial.exists():
                os.replace(partial, final)
                atomic_write_json(run.file(BEST_RECORD), {"epoch": epoch + 1, **{
                    k: float(v) for k, v in logs.items() if k.startswith("val_")}})

    class FiniteBackup(keras.callbacks.BackupAndRestore):
        """Keeps the previous backup too (a kill mid-save falls back to it) and starts
        afresh, with a warning, when no backup can be read."""

        def __init__(self, backup_dir):
            super().__init__(backup_dir, double_checkpoint=True)

        def on_train_begin(self, logs=None):
            try:
                super().on_train_begin(logs)
            except (OSError, ValueError) as error:
                print(f"warning: the backup in {self.backup_dir} is unreadable ({error}); "
                      f"training starts again from epoch 1.", file=sys.stderr)
                shutil.rmtree(self.backup_dir, ignore_errors=True)
                self.model._initial_epoch = None

        def on_epoch_end(self, epoch, logs=None):
            if _finite_loss(logs):
                super().on_epoch_end(epoch, logs)

    monitor = "val_accuracy"
    callbacks = [average] if average is not None else []
    if validated:
        callbacks.append(FiniteCheckpoint(str(run.file(BEST_FILE)), monitor=monitor,
                                          mode=monitor_mode(monitor), save_best_only=True,
                                          initial_value_threshold=best_so_far))
    if validated and patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor,
                                                       mode=monitor_mode(monitor),
                                                       patience=patience))
    if average is not None:
        callbacks.append(average.restore)
    # Last, so an epoch is backed up only after its history row and checkpoint are written.
    callbacks.append(FiniteBackup(str(run.file("backup"))))
    return callbacks


# -- the experiment ------------------------------------------------------------------------------
def load_data(args):
    import numpy as np

    from data.dogs import load_dogs_vs_cats

    limit = QUICK_PER_CLASS if args.quick else getattr(args, "limit", None)
    data = load_dogs_vs_cats(args.data_dir, seed=args.seed, limit=limit)
    if getattr(args, "refit", False):  # every labelled photo trains; none is held out
        data.train_files = data.train_files + data.val_files
        data.train_labels = np.concatenate([data.train_labels, data.val_labels])
        data.val_files, data.val_labels = [], data.val_labels[:0]
    return data


def make_datasets(args, data, config: dict, resize=None):
    """The training pipeline (shuffled, augmented by the run's `augment` of `AUGMENTS` and
    then its `cutout`, then shrunk to `resize`'s side, a `tf.Variable`, if given) and the
    validation one (file order, larger batches); `config` is `settings(args)`. The files
    were checked by the loader."""
    from data.dogs import make_dataset

    batch_size = config["batch_size"]
    augment = AUGMENTS[config["augment"]].replace(engine=args.engine, cutout=config["cutout"])
    train_data = make_dataset(data.train_files, data.train_labels, batch_size,
                              args.image_size, augment=augment, shuffle=True, seed=args.seed,
                              check=False, resize=resize)
    val_data = make_dataset(data.val_files, data.val_labels, max(64, batch_size),
                            args.image_size, check=False) if data.val_files else None
    print(f"{len(data.train_files):,} training and {len(data.val_files):,} validation photos "
          f"from {data.root}; {len(data.skipped)} unreadable skipped")
    return train_data, val_data


def whitening_photos(args, data):
    """`WHITENING_PHOTOS` training photos drawn with the run's seed, scaled as the net
    sees them, for --whiten's patches."""
    import numpy as np

    from data.dogs import decoded_arrays

    count = len(data.train_files)
    picked = np.sort(np.random.default_rng(args.seed).choice(
        count, min(WHITENING_PHOTOS, count), replace=False))
    images, _ = decoded_arrays([data.train_files[i] for i in picked],
                               np.asarray(data.train_labels)[picked], args.image_size)
    return images.astype(np.float32) / 255.0


def whiten_stem(model, photos) -> None:
    """Make `model`'s stem conv the whitening one for `photos`, frozen (before compiling)."""
    from models.layers import whitening_kernel

    stem = model.get_layer("stem_conv")
    try:
        kernel = whitening_kernel(photos, stem.kernel_size[0], stem.filters)
    except ValueError as error:
        raise UsageError(f"cannot whiten {model.name}'s stem: {error} Pass --no-whiten.") \
            from None
    stem.set_weights([kernel])
    stem.trainable = False


def compiled_model(args, config: dict, data=None, steps_per_call: int = STEPS_PER_CALL,
                   jit_compile=JIT_COMPILE):
    """The configured net, seeded, built in the run's precision and compiled with its
    optimiser (`bench/train_speed.py` varies the speed settings). Under --progressive it
    takes photos of any size, once checked at the smallest; under --whiten its stem
    whitens patches of `data`'s training photos (`whitening_photos`)."""
    import keras

    low = config.get("progressive")
    if low:
        make_model(config, low)  # fails with a sentence if the net does not fit them
    keras.utils.set_random_seed(args.seed)
    with compute_precision(config["precision"]):
        model = make_model(config, None if low else args.image_size)
    if config.get("whiten"):
        whiten_stem(model, whitening_photos(args, data))
    compile_classifier(model, make_optimizer(config["optimizer"], config["learning_rate"],
                                             momentum=config["momentum"],
                                             weight_decay=args.weight_decay),
                       label_smoothing=config["label_smoothing"],
                       steps_per_execution=steps_per_call, jit_compile=jit_compile)
    print(f"{model.name}: {model.count_params():,} parameters; {config['optimizer']} "
          f"lr {config['learning_rate']}, batch {config['batch_size']}; "
          f"{config['precision']} arithmetic")
    return model


def save_float32(model, path, config: dict, image_size: int) -> None:
    """Save `model`'s net and weights, uncompiled, to compute in float32.

    A bfloat16-trained net's weights are float32 already, and the float32 copy predicts at
    full speed on any CPU (one without bfloat16 instructions would emulate them). Uncompiled,
    the file loads with a plain `keras.models.load_model` anywhere: a net compiled with
    label smoothing carries a loss Keras cannot rebuild from the file.
    """
    with compute_precision("float32"):
        copy = make_model(config, image_size)
    copy.set_weights(model.get_weights())
    copy.save(path)


def epoch_sizes(config: dict, image_size: int, prior_rows) -> EpochSizes | None:
    """--progressive's sizes by epoch (None when off); a resumed run keeps the epoch its
    photos reached full size at."""
    if not config.get("progressive"):
        return None
    full = [r["epoch"] - 1 for r in prior_rows if r.get("image_size") == image_size]
    return EpochSizes(config["progressive"], image_size, PROGRESSIVE_FRACTION,
                      first_full=min(full) if full else None)


def fit_callbacks(args, run, config: dict, clock, prior_rows, train_images: int,
                  resize=None):
    """(NaN guard, weight average or None, every callback of the fit): guard, history,
    budget, progressive resizing (of `resize`, the pipeline's `tf.Variable`), weight
    average, checkpoints, logs."""
    import keras

    guard = nan_guard()
    # The record, not history.csv: a row can outlive its epoch (a kill before the backup)
    # and a NaN epoch's row is never checkpointed. Without one, this attempt's first
    # epoch is checkpointed and recorded afresh.
    best = best_record(run)
    best_so_far = best["val_accuracy"] if best else None
    sizes = epoch_sizes(config, args.image_size, prior_rows)
    budget = None
    if args.budget_minutes:
        steps = math.ceil(train_images / config["batch_size"])
        budget = budget_schedule(60 * args.budget_minutes, clock, config["learning_rate"],
                                 config["epochs"], steps, BUDGET_TAIL_SECONDS, prior_rows,
                                 sizes=sizes, warmup=config["warmup"])
    # The sizes' callback after the budget's (which plans the epochs it reads) and before
    # the history's (which records the epoch's size).
    callbacks = [guard, *([budget] if budget else [])]
    if sizes is not None:
        callbacks.append(progressive_resizing(
            sizes, resize, lambda: budget.planned_epochs if budget else config["epochs"]))
    callbacks.append(history_writer(run, clock))
    average = weight_average(args.ema, run.file("backup") / AVERAGE_FILE) if args.ema \
        else None
    callbacks += checkpoint_callbacks(run, best_so_far, patience_epochs(args),
                                      validated=not args.refit, average=average)
    callbacks.append(keras.callbacks.TensorBoard(str(run.file("tensorboard"))))
    return guard, average, callbacks


def exit_if_diverged(guard, run) -> None:
    """A NaN loss ends the run with a sentence and exit status 1 (best weights kept)."""
    try:
        guard.check()
    except NaNLossError as error:
        kept = f"{run.file(BEST_FILE)} keeps the best weights before it" if \
            run.file(BEST_FILE).exists() else "no epoch finished before it"
        print(f"task4: error: {error}; {kept}.", file=sys.stderr)
        raise SystemExit(1) from None


def keep_best(run, model, rows, config: dict, image_size: int) -> dict:
    """Save the best-validation weights as model.keras, in float32; return their epoch's
    figures.

    fit validated every epoch (a budget's part-epoch too); the kept weights' figures are
    those it measured, so the budget's tail holds no second validation pass.
    """
    import keras

    best = best_record(run)
    if best:
        # compile=False wherever best.keras, the training checkpoint, is loaded: a net
        # trained with label smoothing carries a loss Keras cannot rebuild from the file.
        trained = keras.models.load_model(run.file(BEST_FILE), compile=False)
        save_float32(trained, run.file(MODEL_FILE), config, image_size)
    else:  # no epoch was checkpointed: keep the last weights, which the last epoch validated
        best = rows[-1]
        save_float32(model, run.file(MODEL_FILE), config, image_size)
    return best


def tta_accuracies(run, val_data, labels, image_size: int) -> dict:
    """The kept model's validation accuracy under each test-time augmentation of `submit`
    ("none" is the plain accuracy, which fit measured as `val_accuracy`); `labels` are the
    validation photos' own, in `val_data`'s (file) order."""
    import keras
    import numpy as np

    from data.augment import TTA_MODES
    from tasks.task4.submit import tta_probability, tta_shift, view_probabilities

    model = keras.models.load_model(run.file(MODEL_FILE), compile=False)
    views = view_probabilities(model, val_data, tta_shift(image_size))
    return {mode: float(np.mean((tta_probability(views, mode) >= 0.5) == np.asarray(labels)))
            for mode in TTA_MODES}


def train_metrics(model, best: dict, rows, seconds: float, config: dict, args, data) -> dict:
    return {
        "model": model.name, "params": model.count_params(),
        "trainable_params": trainable_params(model),
        "val_accuracy": best.get("val_accuracy"), "val_loss": best.get("val_loss"),
        "refit": args.refit,
        "best_epoch": best["epoch"], "epochs": len(rows),
        "train_seconds": round(seconds, 1), "budget_minutes": args.budget_minutes,
        "optimizer": config["optimizer"], "learning_rate": config["learning_rate"],
        "batch_size": config["batch_size"], "augment": config["augment"],
        "label_smoothing": config["label_smoothing"], "cutout": config["cutout"],
        "warmup": config["warmup"], "whiten": config["whiten"],
        "weight_decay": args.weight_decay, "ema": args.ema,
        "progressive": config["progressive"],
        "architecture": config["architecture"],
        "precision": config["precision"], "steps_per_call": model.steps_per_execution,
        "train_images": len(data.train_files), "val_images": len(data.val_files),
        "skipped_images": len(data.skipped),
    }


def photo_size_variable(image_size: int):
    """The training photos' side, read by the pipeline at every batch (--progressive)."""
    import tensorflow as tf

    return tf.Variable(image_size, dtype=tf.int32, trainable=False, name="photo_size")


def train(args, run, started=None):
    """Train, keep the best-validation weights as model.keras, write curves and a report."""
    started = time.time() if started is None else started
    prior_rows = previous_rows(run)
    prior_seconds = prior_rows[-1].get("elapsed_seconds", 0.0) if prior_rows else 0.0
    backup_exists = run.file("backup").exists()
    if run.file(MODEL_FILE).exists() and run.file("metrics.json").exists() and not backup_exists:
        print(f"{run.path} already holds a finished run; pass --overwrite to train again.")
        return read_json(run.file("metrics.json"))

    def clock():  # wall-clock seconds of this run, earlier attempts included
        return prior_seconds + time.time() - started

    config = settings(args)
    data = load_data(args)
    resize = photo_size_variable(args.image_size) if config["progressive"] else None
    train_data, val_data = make_datasets(args, data, config, resize)
    model = compiled_model(args, config, data)
    guard, average, callbacks = fit_callbacks(args, run, config, clock, prior_rows,
                                              len(data.train_files), resize)
    model.fit(train_data, validation_data=val_data, epochs=config["epochs"],
              callbacks=callbacks, verbose=2, shuffle=False)  # tf.data shuffles
    rows = previous_rows(run)
    exit_if_diverged(guard, run)
    if average is not None:  # without a checkpoint (--refit), model.keras holds the average
        average.apply()
    best = keep_best(run, model, rows, config, args.image_size)
    plot_learning_curves(run, rows, title=f"{model.name} on Dogs vs. Cats")
    tta = tta_accuracies(run, val_data, data.val_labels, args.image_size) \
        if val_data is not None else {}
    metrics = train_metrics(model, best, rows, clock(), config, args, data)
    metrics["val_accuracy_tta"] = tta
    run.write_metrics(metrics)
    run.write_report(train_report(metrics, config, args))
    return metrics


AUGMENT_NOTES = {"report": "the report's (shifts 0.2, zoom 0.5, shear 0.2 degrees, flip)",
                 "light": "light (flip, shifts of up to 1/16)",
                 "medium": "medium (flip, shifts of up to 1/8, zoom 0.85-1.15, turns of up "
                           "to 10 degrees)",
                 "strong": "strong (flip, shifts of up to 1/8, zoom 0.7-1.3, turns of up to "
                           "15 degrees)",
                 "flip": "flips only",
                 "none": "off"}


def train_report(metrics: dict, config: dict, args) -> Report:
    held_out = "– (--refit: every labelled photo trained, none held out)"
    val = percent(metrics["val_accuracy"]) if metrics["val_accuracy"] is not None else held_out
    extras = "".join(f", {name} {value:g}" for name, value in (
        ("cutout", config["cutout"]), ("label smoothing", config["label_smoothing"]),
        ("weight decay", args.weight_decay), ("warm-up epochs", config["warmup"]),
        ("weight average (EMA) decay", args.ema),
        ("progressive resizing from side", config["progressive"])) if value)
    if config["whiten"]:
        extras += ", a whitening stem (frozen)"
    report = Report(f"Task 4 train: {metrics['model']} on Dogs vs. Cats",
                    f"{metrics['params']:,} parameters, {config['optimizer']} lr "
                    f"{config['learning_rate']}, batch {config['batch_size']}, "
                    f"{config['precision']} arithmetic (model.keras: float32), "
                    f"augmentation {AUGMENT_NOTES[config['augment']]}"
                    f"{extras}; "
                    f"{metrics['train_images']:,} training / {metrics['val_images']:,} "
                    f"validation photos at {args.image_size}x{args.image_size}.")
    report.table(["figure", "value"], [
        ["best val accuracy", val],
        ["val loss", metrics["val_loss"] if metrics["val_loss"] is not None else held_out],
        ["best epoch / epochs run", f"{metrics['best_epoch']} / {metrics['epochs']}"],
        ["wall-clock seconds (whole run)", metrics["train_seconds"]],
        ["budget (minutes)", metrics["budget_minutes"]],
        *[[f"val accuracy, test-time augmentation {mode}", percent(accuracy)]
          for mode, accuracy in metrics["val_accuracy_tta"].items() if mode != "none"],
    ])
    report.compare([
        ["val accuracy (report B, VGG-13, best near epoch 150 of 200)",
         reported.VGG13_VAL_ACCURACY, val],
        ["public leaderboard (Kaggle test)", reported.KAGGLE_PUBLIC_SCORE,
         "not checkable here: test1 has no labels; upload submission.csv"],
        ["report C, BN nets, best val", reported.BN_NETS_VAL_ACCURACY, "–"],
    ])
    report.paragraph("IDG's `shear_range` is in degrees, so the report's shear of 0.2 is "
                     "almost no shear; it is kept faithful here.")
    report.image("learning_curves.png", "Loss and accuracy per epoch")
    return report
