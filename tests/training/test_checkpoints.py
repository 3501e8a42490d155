"""training.checkpoints: the best-validation record counts only when it is the checkpoint's."""

import os
import time
from types import SimpleNamespace

import pytest

from training.checkpoints import best_record


def test_best_record_counts_only_when_written_after_its_checkpoint(tmp_path):
    run = SimpleNamespace(file=lambda name: tmp_path / name)
    assert best_record(run) is None
    weights, record = tmp_path / "best.keras", tmp_path / "best.json"
    weights.write_bytes(b"weights")
    record.write_text('{"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.5}')
    now = time.time_ns()
    os.utime(weights, ns=(now, now))
    os.utime(record, ns=(now + 1000, now + 1000))
    assert best_record(run) == {"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.5}
    os.utime(record, ns=(now - 1000, now - 1000))  # a kill between the two writes
    assert best_record(run) is None


@pytest.mark.parametrize("budget, kept", [(None, "best"), (30.0, "last")])
def test_a_budget_keeps_the_last_weights_and_a_plain_run_its_best(tmp_path, budget, kept):
    """Under a budget model.keras is the last (annealed) epoch's net, not the one picked
    on the validation photos; without one, the best-validation checkpoint."""
    import keras
    import numpy as np

    from training.checkpoints import keep_model
    from training.recipes import resolve

    recipe = resolve("cpu_net", budget, flags={"architecture": {"width": 4},
                                               "image_size": 16, "whiten": False,
                                               "precision": "float32"})
    with_budget = recipe.budget_minutes is not None
    run = SimpleNamespace(file=lambda name: tmp_path / name)
    from training.nets import make_model

    best, last = make_model(recipe, 16), make_model(recipe, 16)
    best.save(tmp_path / "best.keras")
    (tmp_path / "best.json").write_text('{"epoch": 1, "val_accuracy": 0.9}')
    rows = [{"epoch": 1, "val_accuracy": 0.9}, {"epoch": 2, "val_accuracy": 0.8}]
    figures = keep_model(run, last, rows, recipe)
    assert figures == ({"epoch": 2, "val_accuracy": 0.8, "kept": "last"} if with_budget
                       else {"epoch": 1, "val_accuracy": 0.9, "kept": "best"})
    assert figures["kept"] == kept
    saved = keras.models.load_model(tmp_path / "model.keras").get_weights()
    for got, want in zip(saved, (last if with_budget else best).get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
