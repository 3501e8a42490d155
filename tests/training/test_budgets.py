"""training.budgets: the budget's callbacks acting on a real fit."""

import math

import numpy as np
import pytest

from training.budgets import BudgetSchedule, TimeBudget
from training.planning import EpochPlan

TAIL = 45.0


def tiny_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def test_budget_stops_mid_epoch_when_an_epoch_outlasts_it():
    import keras

    now = [0.0]
    budget = BudgetSchedule(EpochPlan(TAIL + 100, TAIL, max_epochs=5), lambda: now[0],
                            base_lr=0.1, steps_per_epoch=10)

    class Clock(keras.callbacks.Callback):  # every batch takes 30 "seconds"
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Clock.batches += 1
            now[0] += 30.0

    x = np.ones((80, 2), np.float32)
    tiny_model().fit(x, x[:, :1], batch_size=8, epochs=5, verbose=0,
                     callbacks=[Clock(), budget])
    assert Clock.batches == 4  # 120 "seconds" > 100: stopped within the first epoch


def test_a_budget_with_warmup_sets_each_steps_rate_from_the_first():
    import keras

    budget = BudgetSchedule(EpochPlan(TAIL + 300, TAIL, max_epochs=3), lambda: 0.0,
                            base_lr=0.1, steps_per_epoch=4, warmup=1)
    rates = []

    class Rates(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x = np.ones((16, 2), np.float32)
    tiny_model().fit(x, x[:, :1], batch_size=4, epochs=3, verbose=0,
                     callbacks=[budget, Rates()])
    assert budget.planned_epochs == 3
    # Epoch 1 warms up; epochs 2 and 3 follow the cosine from 0.1 over the 2 left.
    expected = [0.025, 0.05, 0.075, 0.1] + [0.05 * (1 + math.cos(math.pi * k / 8))
                                             for k in range(8)]
    assert rates == pytest.approx(expected)


def test_time_budget_stops_and_anneals():
    budget = TimeBudget(1e-9)
    x = np.ones((64, 2), np.float32)
    model = tiny_model()
    model.fit(x, x[:, :1], batch_size=8, epochs=3, verbose=0, callbacks=[budget])
    assert budget.stopped_early and budget.seconds >= 0
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)
