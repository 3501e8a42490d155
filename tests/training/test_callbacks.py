"""training.callbacks: the step-wise loss log and the NaN guard, on real fits."""

import numpy as np
import pytest

from training.callbacks import NaNGuard, NaNLossError, StepLossLogger


@pytest.mark.parametrize("steps_per_execution, rows", [
    (1, [(2, (0 + 1) / 2), (4, (4 + 9) / 2), (6, (0 + 1) / 2), (8, (4 + 9) / 2)]),
    # calls end at batches 3, 4 | 3, 4 of each epoch: a row at the first call past each 2
    (3, [(3, (0 + 1 + 4) / 3), (4, 9), (7, (0 + 1 + 4) / 3), (8, 9)]),
])
def test_step_loss_logger_recovers_batch_losses(steps_per_execution, rows):
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False,
                                                                  kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.0), "mse",  # frozen: batch i's loss is known
                  steps_per_execution=steps_per_execution)
    x = np.ones((8, 1), np.float32)
    y = np.repeat(np.arange(4, dtype=np.float32), 2)[:, None]  # batches of 2: 0, 1, 2, 3
    logger = StepLossLogger(every=2)
    model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[logger])
    assert [r["step"] for r in logger.rows] == [step for step, _ in rows]
    assert [r["loss"] for r in logger.rows] == pytest.approx([loss for _, loss in rows])


def test_the_nan_guard_stops_at_the_first_bad_batch_and_says_where():
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), lambda y, p: keras.ops.mean(p - p) / 0.0)
    guard = NaNGuard()
    x = np.ones((8, 1), np.float32)
    model.fit(x, x, batch_size=2, epochs=3, verbose=0, callbacks=[guard])
    assert guard.bad_batch[:2] == (0, 0)
    with pytest.raises(NaNLossError, match="at epoch 1, batch 1; lower the learning rate"):
        guard.check()
