"""`python -m tasks.task4 train`: one CNN on Dogs vs. Cats, best weights kept, resumable.

    python -m tasks.task4 train --data-dir ../shared/datasets --budget-minutes 30
    python -m tasks.task4 train --model vgg13 --epochs 200          # the report's recipe
    python -m tasks.task4 train --hparams runs/tuning/vgg/best_hparams.json

The run follows one value, its recipe (`training.recipes`), resolved from the flags before
the results folder is made (`tasks/task4/flags.py`), printed at the start and kept in
config.json. The flow, top to bottom: photos, pipelines, net, callbacks, fit, the kept
model, its test-time views, metrics and report.

Interrupt it (Ctrl-C, a kill, a lost machine) and run the same command again: training goes
on from the last finished epoch (`BackupAndRestore`), `history.csv` keeps every epoch once,
and the best-validation checkpoint stays the best of the whole run.
"""

from __future__ import annotations

import math
import sys
import time

from suite.io import read_json
from tasks.task4.train_report import train_report

# Seconds kept back from a budgeted run for what follows a mid-epoch stop: that epoch's
# validation pass (the run's last), copying best.keras, the test-time-augmentation pass over
# the validation photos (every view of `data.augment.TTA_VIEWS`), plots and report.
BUDGET_TAIL_SECONDS = 45.0
# The budget's timing (`fit_to_budget`), kept for a resumed run.
AFFORDED_FILE = "afforded.json"
# The metrics that record the recipe's settings, beside what the run measured.
RECORDED = ("optimizer", "learning_rate", "batch_size", "augment", "label_smoothing",
            "cutout", "warmup", "whiten", "weight_decay", "ema", "progressive",
            "architecture", "precision", "budget_minutes", "refit", "holdout", "image_size")


def train(recipe, data_dir, run, started=None, refit_budget=None) -> dict:
    """Train `recipe` on the photos in `data_dir`, keep its weights as model.keras (under a
    budget the last, annealed ones; else the best-validation ones), write curves, metrics
    and a report into `run`; return the metrics. `refit_budget(afforded)`, if given, is the
    recipe for a budget that affords `afforded` epochs here (`fit_to_budget`)."""
    from training.checkpoints import keep_model, previous_rows
    from training.fitting import plot_learning_curves
    from training.nets import compiled_model
    from training.photos import (load_photos, make_datasets, photo_size_variable,
                                 whitening_photos)

    started = time.time() if started is None else started
    prior_rows = previous_rows(run)
    if finished(run):
        print(f"{run.path} already holds a finished run; pass --overwrite to train again.")
        return finished_metrics(run)
    prior_seconds = prior_rows[-1].get("elapsed_seconds", 0.0) if prior_rows else 0.0

    def clock():  # wall-clock seconds of this run, earlier attempts included
        return prior_seconds + time.time() - started

    data = load_photos(recipe, data_dir)
    recipe = fit_to_budget(recipe, run, data, clock, refit_budget)
    print(recipe.describe(), flush=True)
    resize = photo_size_variable(recipe.image_size) if recipe.progressive else None
    train_data, val_data = make_datasets(recipe, data, resize)
    model = compiled_model(recipe, whitening_photos(recipe, data))
    steps = math.ceil(len(data.train_files) / recipe.batch_size)
    guard, average, callbacks = fit_callbacks(recipe, run, clock, prior_rows, steps, resize)
    model.fit(train_data, validation_data=val_data, epochs=recipe.epochs,
              callbacks=callbacks, verbose=2, shuffle=False)  # tf.data shuffles
    rows = previous_rows(run)
    exit_if_diverged(guard, run)
    if average is not None:  # without a checkpoint (a refit), model.keras holds the average
        average.apply()
    kept = keep_model(run, model, rows, recipe)
    plot_learning_curves(run, rows, title=f"{model.name} on Dogs vs. Cats")
    metrics = train_metrics(model, kept, rows, clock(), recipe, data)
    metrics["val_accuracy_tta"] = tta_accuracies(run, val_data, data.val_labels,
                                                 recipe.image_size) if val_data else {}
    if data.holdout_files:  # photos neither the training nor the choice of recipe saw
        metrics["holdout_accuracy_tta"] = tta_accuracies(
            run, held_out_photos(recipe, data), data.holdout_labels, recipe.image_size)
    run.write_metrics(metrics)
    run.write_report(train_report(metrics, recipe))
    return metrics


def fit_to_budget(recipe, run, data, clock, refit_budget):
    """The recipe the budget's rules give for the epochs the budget affords on this machine
    (`training.calibration`): timed once and kept in afforded.json, which a resumed run reads
    back, so that its net never changes mid-run."""
    from suite.errors import UsageError
    from training.calibration import affordable_epochs
    from training.recipes import timed_tiers

    if refit_budget is None or not recipe.budget_minutes or not timed_tiers(recipe.model):
        return recipe
    path = run.file(AFFORDED_FILE)
    if path.exists():
        try:
            timing = read_json(path)
            epochs, _ = float(timing["epochs"]), float(timing["epoch_seconds"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{path} is unreadable ({error}); the run cannot resume with the "
                             f"same net: pass --overwrite to start it again.") from None
    else:
        timing = affordable_epochs(recipe, len(data.train_files), len(data.val_files),
                                   clock(), BUDGET_TAIL_SECONDS)
        run.write_json(AFFORDED_FILE, timing)
        epochs = timing["epochs"]
    fitted = refit_budget(epochs)
    print(f"the budget affords about {epochs:.0f} epochs of {recipe.model}'s recipe here "
          f"({timing['epoch_seconds']:.1f} s each, timed)", flush=True)
    run.record(recipe=fitted.to_dict(), afforded=timing)
    return fitted


def finished_metrics(run) -> dict:
    """A finished run's metrics.json, or one sentence when it cannot be read."""
    from suite.io import read_record
    from training.checkpoints import unreadable

    metrics = read_record(run.file("metrics.json"), ("val_accuracy",))
    if metrics is None:
        raise unreadable(run.file("metrics.json"), "not a finished run's metrics")
    return metrics


def finished(run) -> bool:
    """A run whose model and metrics are written and whose backup is gone (fit ended)."""
    from training.checkpoints import BACKUP_FOLDER, MODEL_FILE

    return run.file(MODEL_FILE).exists() and run.file("metrics.json").exists() and \
        not run.file(BACKUP_FOLDER).exists()


def fit_callbacks(recipe, run, clock, prior_rows, steps_per_epoch: int, resize=None):
    """(NaN guard, weight average or None, every callback of the fit, in order): the guard,
    the recipe's schedule (budget, progressive resizing of `resize`), the history, the weight
    average, checkpoints and backup, TensorBoard."""
    import keras

    from training.averaging import WeightAverage
    from training.budgets import recipe_schedule
    from training.callbacks import NaNGuard
    from training.checkpoints import BACKUP_FOLDER, HistoryWriter, checkpoint_callbacks

    guard = NaNGuard()
    # The schedule plans the epochs the sizes' callback reads; the history records the size.
    callbacks = [guard, *recipe_schedule(recipe, clock, steps_per_epoch, BUDGET_TAIL_SECONDS,
                                         prior_rows, resize), HistoryWriter(run, clock)]
    average = WeightAverage(recipe.ema, run.file(BACKUP_FOLDER) / "average.npz") \
        if recipe.ema else None
    callbacks += checkpoint_callbacks(run, recipe.patience, validated=not recipe.refit,
                                      average=average)
    callbacks.append(keras.callbacks.TensorBoard(str(run.file("tensorboard"))))
    return guard, average, callbacks


def exit_if_diverged(guard, run) -> None:
    """A NaN loss ends the run with a sentence and exit status 1 (best weights kept)."""
    from training.callbacks import NaNLossError
    from training.checkpoints import BEST_FILE

    try:
        guard.check()
    except NaNLossError as error:
        kept = f"{run.file(BEST_FILE)} keeps the best weights before it" if \
            run.file(BEST_FILE).exists() else "no epoch finished before it"
        print(f"task4: error: {error}; {kept}.", file=sys.stderr)
        raise SystemExit(1) from None


def tta_accuracies(run, val_data, labels, image_size: int) -> dict:
    """The kept model's validation accuracy under each test-time augmentation of `submit`
    ("none" is the plain accuracy, which fit measured as `val_accuracy`); `labels` are the
    validation photos' own, in `val_data`'s (file) order."""
    import keras
    import numpy as np

    from data.augment import TTA_MODES
    from tasks.task4.submit import tta_probability, tta_shift, view_probabilities
    from training.checkpoints import MODEL_FILE

    model = keras.models.load_model(run.file(MODEL_FILE), compile=False)
    views = view_probabilities(model, val_data, tta_shift(image_size))
    return {mode: float(np.mean((tta_probability(views, mode) >= 0.5) == np.asarray(labels)))
            for mode in TTA_MODES}


def held_out_photos(recipe, data):
    """The held-out photos' pipeline, in file order (as the validation one)."""
    from data.dogs import make_dataset
    from training.photos import MIN_VALIDATION_BATCH

    return make_dataset(data.holdout_files, data.holdout_labels,
                        max(MIN_VALIDATION_BATCH, recipe.batch_size), recipe.image_size,
                        check=False)


def train_metrics(model, kept: dict, rows, seconds: float, recipe, data) -> dict:
    """What the run measured: the kept model's figures (`kept`, from `keep_model`), the best
    epoch's for reference (picked on the validation photos, so it flatters them), and the
    recipe settings it ran with (`RECORDED`)."""
    from models.vgg import trainable_params

    settings = recipe.to_dict()
    validated = [r for r in rows if "val_accuracy" in r]
    best = max(validated, key=lambda r: r["val_accuracy"]) if validated else {}
    return {
        "model": model.name, "params": model.count_params(),
        "trainable_params": trainable_params(model),
        "val_accuracy": kept.get("val_accuracy"), "val_loss": kept.get("val_loss"),
        "kept": kept["kept"], "kept_epoch": kept["epoch"], "epochs": len(rows),
        "best_epoch": best.get("epoch"), "best_val_accuracy": best.get("val_accuracy"),
        "train_seconds": round(seconds, 1),
        **{name: settings[name] for name in RECORDED},
        "steps_per_call": model.steps_per_execution,
        "train_images": len(data.train_files), "val_images": len(data.val_files),
        "skipped_images": len(data.skipped),
    }
