"""How many epochs a budget affords on the machine at hand: a recipe's net timed for a few
steps on synthetic photos before a run starts, so that the budget's rules can follow the
epochs the budget buys rather than its minutes (`training.recipes.BUDGET_RULES`).

    epochs = affordable_epochs(recipe, train_images=18_000, val_images=4_500)

The estimate counts the training and validation steps only (not the input pipeline, which
shares the cores): it is a measure to compare with the rules' thresholds, which are stated
on the same scale, not a forecast of the run's epochs.
"""

from __future__ import annotations

import math
import time

import numpy as np

WARMUP_STEPS = 3  # tracing and the thread pools' first work, not timed
TIMED_STEPS = 10


def step_seconds(model, batch_size: int, image_size: int, train: bool = True) -> float:
    """The median seconds of one training (or evaluation) step of `model` on a random
    batch, after `WARMUP_STEPS` untimed ones."""
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, image_size, image_size, 3), np.float32)
    y = rng.integers(0, 2, batch_size)
    step = model.train_on_batch if train else model.test_on_batch
    times = []
    for i in range(WARMUP_STEPS + TIMED_STEPS):
        start = time.perf_counter()
        step(x, y)
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def affordable_epochs(recipe, train_images: int, val_images: int,
                      elapsed: float = 0.0, tail_seconds: float = 0.0) -> dict:
    """{"epochs": the epochs of `recipe` its budget affords, less the `elapsed` seconds and
    the `tail_seconds` kept for after training, "epoch_seconds": one epoch's estimate}: its
    net timed here (`step_seconds`), built from random photos (the whitening stem's patches
    too), then dropped."""
    import keras

    from training.nets import compiled_model
    from training.photos import MIN_VALIDATION_BATCH

    side = recipe.image_size
    photos = np.random.default_rng(0).random((8, side, side, 3), np.float32)
    model = compiled_model(recipe.replace(progressive=0), photos, verbose=False)
    val_batch = max(MIN_VALIDATION_BATCH, recipe.batch_size)
    seconds = (math.ceil(train_images / recipe.batch_size)
               * step_seconds(model, recipe.batch_size, side)
               + math.ceil(val_images / val_batch)
               * step_seconds(model, val_batch, side, train=False))
    del model
    keras.backend.clear_session()
    left = 60 * recipe.budget_minutes - elapsed - tail_seconds
    return {"epochs": max(0.0, left) / seconds, "epoch_seconds": seconds}
