"""training.averaging: the weight average's rule, its stand-in and its file, by hand."""

import numpy as np
import pytest

import training.averaging as averaging
from training.averaging import WeightAverage


def test_weight_average_follows_the_weights_stands_in_and_resumes(tmp_path, monkeypatch):
    """Driven by hand: the average's update rule, its stand-in for validation and the
    checkpoint, its file, which only the fit resuming at the epoch after it reads."""
    import keras

    monkeypatch.setattr(averaging, "AVERAGE_EVERY", 1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1),
                              keras.layers.BatchNormalization()])
    path = tmp_path / "backup" / "average.npz"
    average = WeightAverage(0.5, path)
    for callback in (average, average.restore):
        callback.set_model(model)
    assert len(average._variables()) == 6  # kernel, bias, gamma, beta and BN's statistics
    start = [np.array(w) for w in model.get_weights()]
    average.on_epoch_begin(0)
    model.set_weights([w + 1 for w in start])
    average.on_train_batch_end(0)
    d = min(0.5, 2 / 11)  # held back at the first update
    expected = [w + (1 - d) for w in start]

    def close(got, want):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)

    close(average.average, expected)
    average.on_test_begin()
    close(model.get_weights(), expected)
    average.on_test_end()
    close(model.get_weights(), [w + 1 for w in start])
    average.on_epoch_end(0)  # the checkpoint sees the average ...
    close(model.get_weights()[:1], expected[:1])
    average.restore.on_epoch_end(0)  # ... the backup the weights that train
    close(model.get_weights()[:1], [start[0] + 1])
    assert path.is_file()

    def reopened(epoch):
        again = WeightAverage(0.5, path)
        again.set_model(model)
        again.on_epoch_begin(epoch)
        return again

    resumed = reopened(1)  # the file holds 1 epoch: a fit resuming at epoch 1 reads it
    assert resumed.updates == 1
    close(resumed.average, expected)
    fresh = reopened(0)  # a fit starting over (its backup older than the file) does not
    assert fresh.updates == 0
    close(fresh.average, [w + 1 for w in start])
    resumed.apply()
    close(model.get_weights()[:1], expected[:1])
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\); got 1.0"):
        WeightAverage(1.0)
