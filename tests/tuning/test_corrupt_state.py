"""A search's state files corrupted (the oracle's, each trial's), and trials whose figures are
not what a report expects (another search's, an older KerasTuner's): a search never continues
from a file it cannot read nor fails in KerasTuner's traceback; a report is still written."""

import json

import numpy as np
import pytest
from keras_tuner.src.engine.trial import TrialStatus

from suite.errors import UsageError
from suite.runs import RunDir
from tuning.oracles import make_oracle
from tuning.results import write_results
from tuning.space import SearchSpace

CORRUPTIONS = {
    "truncated": b'{"ongoing_trials": {',
    "empty": b"",
    "random bytes": np.random.default_rng(0).bytes(200),
    "a list": b"[1, 2]\n",
}


def oracle(tmp_path):
    new = make_oracle("random", "val_accuracy", max_trials=50, seed=0, epochs=1,
                      results_dir=tmp_path)
    new._set_project_dir(str(tmp_path), "kt")
    hp = new.get_space()
    SearchSpace(learning_rates=(0.01,)).declare(hp)
    new.update_space(hp)
    return new


def searched(tmp_path):
    """A search's folder with one finished trial and one running."""
    first = oracle(tmp_path)
    done = first.create_trial("tuner0")
    first.update_trial(done.trial_id, {"val_accuracy": 0.5, "params": 10.0})
    done.status = TrialStatus.COMPLETED
    first.end_trial(done)
    first.create_trial("tuner0")
    return tmp_path / "kt", done.trial_id


@pytest.mark.parametrize("kind", CORRUPTIONS)
@pytest.mark.parametrize("which", ["oracle.json", "trial.json"])
def test_an_unreadable_state_file_is_one_sentence_naming_it(which, kind, tmp_path):
    project, trial_id = searched(tmp_path)
    path = project / ("oracle.json" if which == "oracle.json" else f"trial_{trial_id}/trial.json")
    path.write_bytes(CORRUPTIONS[kind])
    with pytest.raises(UsageError) as error:
        oracle(tmp_path).reload()
    message = str(error.value)
    assert message.startswith(f"{path} cannot be read") and "\n" not in message
    assert "--overwrite" in message and "--out" in message


def test_another_searchs_state_is_one_sentence(tmp_path):
    project, trial_id = searched(tmp_path)
    trial = (project / f"trial_{trial_id}" / "trial.json").read_text()
    (project / "oracle.json").write_text(trial)  # a JSON object, of the wrong kind
    with pytest.raises(UsageError, match="cannot be reloaded .*--overwrite"):
        oracle(tmp_path).reload()


def test_a_readable_state_reloads_as_before(tmp_path):
    _, trial_id = searched(tmp_path)
    again = oracle(tmp_path)
    again.reload()
    assert again.trials[trial_id].status == TrialStatus.COMPLETED


def rows():
    good = {"trial_id": "00", "depth": 6, "kernel_size": 3, "learning_rate": 0.01,
            "batch_size": 16, "optimizer": "sgd", "seed": 0, "val_accuracy": 0.8,
            "val_loss": 0.4, "params": 1000, "seconds": 5.0, "status": "completed",
            "reason": ""}
    return [good,
            # Figures a report cannot use: missing, words, infinities, no status at all.
            {**good, "trial_id": "01", "params": None, "depth": "six", "seed": "x",
             "learning_rate": None, "val_accuracy": 0.9, "seconds": "slow"},
            {**good, "trial_id": "02", "batch_size": float("inf"), "val_accuracy": "high"},
            {"trial_id": "03", "val_accuracy": 0.7},
            {**good, "trial_id": "04", "status": "failed", "reason": None}]


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_trials_with_unusable_figures_still_give_a_report(one_at_a_time, tmp_path):
    run = RunDir(tmp_path / "run", {"test": 1})
    write_results(run, rows(), "val_accuracy", "fake", one_at_a_time=one_at_a_time,
                  model=lambda depth: {"filters": depth})
    metrics = json.loads(run.file("metrics.json").read_text())
    # The best is trial 01 (0.9): its parameters and depth are unknown, not a traceback.
    assert metrics["best_trial_id"] == "01" and metrics["best_params"] is None
    best = json.loads(run.file("best_hparams.json").read_text())
    assert best["depth"] == "six" and "filters" not in best
    assert metrics["trials"] == 5 and metrics["trial_seconds"] == 15.0
    assert "Failed trials" in run.file("report.md").read_text()
