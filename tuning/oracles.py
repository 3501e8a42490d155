"""How to choose: KerasTuner's oracles, with the bookkeeping a long search needs.

`make_oracle("random" | "bayesian" | "hyperband" | "one-at-a-time", ...)` returns one of
KerasTuner's own search algorithms with `Ledger` mixed in (and, for random and Bayesian
search, `CentreFirst`: the first trial is the recipe to beat). The ledger keeps the search's
state safe and complete:

- every state file is written atomically (a `kill -9` mid-write cannot corrupt a search);
- `trials.csv` is rewritten after every change, with the worker that ran each trial;
- in distributed mode, workers hold a lease renewed by heartbeats: the trial of a worker that
  stops answering goes back in the queue, and a chief that restarts keeps its workers'
  running trials instead of handing them out twice;
- a small discrete space is searched completely (KerasTuner's random sampler gives up after
  20 repeated draws, which skipped a combination in keras-team/keras-tuner#596).

The oracle is the only writer of a search's files: it runs in the single process of a
one-machine search, or in the chief of a distributed one.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from pathlib import Path

import keras_tuner as kt
from keras_tuner.src.engine.trial import TrialStatus

from suite.errors import UsageError, must_be
from suite.io import atomic_write_csv, atomic_write_text, read_record
from training.metrics import monitor_mode
from tuning import TRIAL_FIGURES, TUNERS
from tuning.space import HPARAMS, SEED

# A failed trial never stops the search: KerasTuner's default stops after 3 failures in a row
# (and in distributed mode raises inside a gRPC handler, keras-team/keras-tuner#927).
NEVER = 10**9
TRIALS_FILE = "trials.csv"
STARTING_AFRESH = ("pass --overwrite to start the search afresh or --out to search "
                   "elsewhere")


class Ledger:
    """Mixin for a KerasTuner `Oracle`: atomic state, `trials.csv`, worker leases.

    Args:
        results_dir: where `trials.csv` goes (None: not written, as on a worker).
        lease_seconds: a distributed worker silent for this long is presumed dead.
        keep_running_trials: on reload, trials that were running stay with their workers
            (a restarted chief, whose workers may still be training) instead of being
            queued again (a restarted single-process search, whose trial died with it).
    """

    # Whether a finite space is completed once the algorithm stops proposing (not for
    # Hyperband, whose brackets decide the trials).
    complete_finite_space = True

    def __init__(self, *args, results_dir=None, lease_seconds: float = 60.0,
                 keep_running_trials: bool = False, **kwargs):
        kwargs.setdefault("max_consecutive_failed_trials", NEVER)
        super().__init__(*args, **kwargs)
        self.results_dir = Path(results_dir) if results_dir else None
        self.lease_seconds = lease_seconds
        self.keep_running_trials = keep_running_trials
        self.workers = {}  # trial_id -> the tuner id that ran it
        self.notes = {}  # trial_id -> what happened to it besides its result
        self.messages = {}  # trial_id -> a worker's failure message, sent before end_trial
        self.last_seen = {}  # tuner id -> time.monotonic() of its last request
        self.exhausted = False  # the algorithm has no more trials to propose
        self._reloaded_ongoing = {}

    # -- trials ------------------------------------------------------------------------
    @kt.synchronized
    def create_trial(self, tuner_id):
        self.last_seen[tuner_id] = time.monotonic()
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self.workers[trial.trial_id] = tuner_id
            self.write_trials()
        elif trial.status == TrialStatus.STOPPED:
            self.exhausted = True
            if self.ongoing_trials or self._retry_queue:
                # Another worker's trial may still come back to the queue (its worker may
                # die): keep this worker waiting instead of letting it exit.
                self.tuner_ids.add(tuner_id)
                trial.status = TrialStatus.IDLE
        return trial

    @kt.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._seen_trial(trial_id)
        return super().update_trial(trial_id, metrics, step=step)

    @kt.synchronized
    def end_trial(self, trial):
        self._seen_trial(trial.trial_id)
        if trial.message is None:  # it came over gRPC, which drops it
            trial.message = self.messages.pop(trial.trial_id, None)
        if trial.trial_id in self._retry_queue:
            # Its worker was presumed lost but finished after all: keep its result.
            self._retry_queue.remove(trial.trial_id)
        if trial.trial_id in self.end_order:
            # Ended already (a retried call, or a rerun of a trial its first worker
            # finished late): the first result stands, the trial is counted once.
            self._drop_ongoing(trial.trial_id)
            return
        super().end_trial(trial)
        self._drop_ongoing(trial.trial_id)
        self.write_trials()

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        if response["status"] == TrialStatus.STOPPED and self.complete_finite_space:
            untried = self._untried_combinations()
            if untried:
                values = random.Random(self._seed_state + len(self.trials)).choice(untried)
                return {"status": TrialStatus.RUNNING, "values": values}
        return response

    def _untried_combinations(self) -> list[dict]:
        axes = []
        for hp in self.hyperparameters.space:
            config = hp.get_config()
            if "values" in config:  # Choice
                axes.append((hp.name, list(config["values"])))
            elif hp.__class__.__name__ == "Int":
                axes.append((hp.name, list(range(config["min_value"], config["max_value"] + 1,
                                                 config.get("step") or 1))))
            elif hp.__class__.__name__ == "Fixed":
                axes.append((hp.name, [config["value"]]))
            else:  # a continuous range is never exhausted
                return []
        combos = [{}]
        for name, values in axes:
            combos = [{**c, name: v} for c in combos for v in values]
        return [c for c in combos if not self._duplicate(c)]

    # -- distributed workers: leases --------------------------------------------------
    def heartbeat(self, tuner_id: str) -> None:
        self.last_seen[tuner_id] = time.monotonic()

    def _seen_trial(self, trial_id):
        tuner_id = self.workers.get(trial_id)
        if tuner_id:
            self.heartbeat(tuner_id)

    def _drop_ongoing(self, trial_id):
        for tuner_id, trial in list(self.ongoing_trials.items()):
            if trial.trial_id == trial_id:
                self.ongoing_trials.pop(tuner_id)

    @kt.synchronized
    def reclaim_lost_trials(self) -> list[str]:
        """Requeue the trials of workers silent for `lease_seconds`; return those workers.

        Without this, a dead worker's trial is lost and the chief waits for it forever
        (keras-team/keras-tuner#915, #645).
        """
        now = time.monotonic()
        lost = [t for t in self.tuner_ids
                if now - self.last_seen.setdefault(t, now) > self.lease_seconds]
        for tuner_id in lost:
            self.tuner_ids.discard(tuner_id)
            trial = self.ongoing_trials.pop(tuner_id, None)
            if trial is not None:
                self._retry_queue.append(trial.trial_id)
                self.notes[trial.trial_id] = (f"rerun: {tuner_id} stopped answering for "
                                              f"{self.lease_seconds:g} s")
                print(f"chief: {tuner_id} is silent; trial {trial.trial_id} goes back "
                      f"in the queue", flush=True)
        if lost:
            self.save()
            self.write_trials()
        return lost

    @kt.synchronized
    def search_finished(self) -> bool:
        """No trial left to propose, none running or queued, and every worker told to stop."""
        return (self.exhausted and not self.ongoing_trials and not self._retry_queue
                and not self.tuner_ids)

    # -- state -------------------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        state["workers"] = self.workers
        state["notes"] = self.notes
        return state

    def set_state(self, state):
        self._reloaded_ongoing = dict(state["ongoing_trials"])
        super().set_state(state)
        self.workers = dict(state.get("workers", {}))
        self.notes = dict(state.get("notes", {}))

    def reload(self):
        project = Path(self._project_dir)
        check_state_files(project)
        try:
            super().reload()  # queues every trial that was running again
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            # Each file is a JSON object, but not one of this search's (another search's
            # state, an older KerasTuner's): KerasTuner's own errors are tracebacks.
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            raise UsageError(f"the search's state in {project} cannot be reloaded "
                             f"({reason}); {STARTING_AFRESH}.") from None
        for tuner_id, trial_id in self._reloaded_ongoing.items():
            trial = self.trials.get(trial_id)
            if trial is None:
                continue
            if trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED):
                # Killed between saving the trial and saving the oracle: it finished.
                self._retry_queue.remove(trial_id)
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)
            elif self.keep_running_trials:
                # A restarted chief: the worker may still be training this trial. It keeps
                # it for one lease; KerasTuner would hand it to a second worker at once.
                self._retry_queue.remove(trial_id)
                self.ongoing_trials[tuner_id] = trial
                self.tuner_ids.add(tuner_id)
                self.last_seen[tuner_id] = time.monotonic()
                self._remember_start(trial)

    def _remember_start(self, trial):
        """Give KerasTuner's display the start of a trial handed out before a restart.

        `create_trial` saves the oracle before the display records the trial's start, so
        the last trial a killed chief handed out has none in `oracle.json`, and the
        display's `on_trial_end` raised KeyError when its worker reported to the new chief.
        """
        display = self._display
        now = datetime.now()
        display.search_start = display.search_start or now
        display.trial_start.setdefault(trial.trial_id, now)
        display.trial_number.setdefault(trial.trial_id, len(self.trials))

    def save(self):
        # KerasTuner writes its JSON in place: a kill mid-write leaves a file it cannot
        # reload. Write it to a temporary file and rename instead.
        atomic_write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        path = Path(self._get_trial_dir(trial.trial_id)) / "trial.json"
        atomic_write_text(path, json.dumps(trial.get_state()))

    # -- trials.csv --------------------------------------------------------------------
    def trial_rows(self) -> list[dict]:
        """One row per trial: id, worker, hyper-parameters, results, status, reason."""
        objective = self.objective.name
        rows = []
        for trial_id in sorted(self.trials):
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            row = {"trial_id": trial_id, "worker": self.workers.get(trial_id, "")}
            row.update({name: values.get(name) for name in (*HPARAMS, SEED)})
            if "tuner/epochs" in values:
                row["epochs"] = values["tuner/epochs"]
            for name in (objective, *TRIAL_FIGURES):
                metric = trial.metrics.metrics.get(name)
                row[name] = metric.get_last_value() if metric and metric.get_history() else None
            row["status"] = trial.status.lower()
            row["reason"] = _reason(trial) or self.notes.get(trial_id, "")
            rows.append(row)
        return rows

    def write_trials(self) -> None:
        if self.results_dir is not None:
            atomic_write_csv(self.results_dir / TRIALS_FILE, self.trial_rows())


def check_state_files(project: Path) -> None:
    """Raise `UsageError` naming the first of a search's state files (the oracle's, the
    tuner's, each trial's trial.json) that cannot be read as a JSON object: a search never
    starts over, nor fails in KerasTuner's traceback, on a file cut short or replaced."""
    for path in [*sorted(project.glob("*.json")), *sorted(project.glob("trial_*/trial.json"))]:
        if read_record(path) is None:
            raise UsageError(f"{path} cannot be read (cut short, or another file), so the "
                             f"search cannot continue from it; {STARTING_AFRESH}.")


def _reason(trial) -> str:
    """The last line of a failed trial's traceback, without the exception's module path."""
    if trial.status not in (TrialStatus.FAILED, TrialStatus.INVALID) or not trial.message:
        return ""
    last = [line for line in trial.message.strip().splitlines() if line.strip()][-1]
    kind, _, text = last.partition(": ")
    return f"{kind.rsplit('.', 1)[-1]}: {text}" if text else last


class CentreFirst:
    """Mixin for a KerasTuner `Oracle`: the search's first trial is every hyper-parameter's
    default (the space's centre, the recipe the search has to beat); the algorithm chooses
    from the second on. KerasTuner's random and Bayesian oracles start at random."""

    def populate_space(self, trial_id):
        centre = {hp.name: hp.default for hp in self.hyperparameters.space}
        if not self.trials and centre and not self._duplicate(centre):
            return {"status": TrialStatus.RUNNING, "values": centre}
        return super().populate_space(trial_id)


class RandomOracle(Ledger, CentreFirst, kt.oracles.RandomSearchOracle):
    """Random search, from the centre."""


class BayesianOracle(Ledger, CentreFirst, kt.oracles.BayesianOptimizationOracle):
    """Bayesian optimisation with a Gaussian process, from the centre."""


class HyperbandOracle(Ledger, kt.oracles.HyperbandOracle):
    """Hyperband: many short trials, the best ones trained longer."""

    complete_finite_space = False


class OneAtATimeOracle(Ledger, kt.Oracle):
    """The report's method: a fixed list of combinations, each run once, in order.

    Args:
        combinations: dicts of every hyper-parameter's value (`space.one_at_a_time()`).
    """

    complete_finite_space = False

    def __init__(self, combinations, **kwargs):
        kwargs["max_trials"] = len(combinations)
        super().__init__(**kwargs)
        self.combinations = [dict(c) for c in combinations]

    def populate_space(self, trial_id):
        for values in self.combinations:
            if not self._duplicate(values):
                return {"status": TrialStatus.RUNNING, "values": dict(values)}
        return {"status": TrialStatus.STOPPED, "values": None}



def make_oracle(tuner: str, objective: str, max_trials: int, seed: int, epochs: int,
                combinations=None, **ledger):
    """The oracle for `--tuner` (or the report's one-at-a-time list when `combinations`).

    Args:
        tuner: one of `TUNERS`.
        objective: a metric Keras logs, e.g. `val_accuracy` (maximised) or `val_loss`.
        max_trials: trials to run at most (Hyperband: its brackets decide, up to this).
        seed: the oracle's random seed.
        epochs: training epochs per trial (Hyperband: the most a trial gets).
        **ledger: `Ledger`'s arguments.
    """
    # KerasTuner reads seed 0 as "no seed" and draws one at random.
    common = dict(objective=kt.Objective(objective, monitor_mode(objective)), seed=seed + 1,
                  **ledger)
    if combinations is not None:
        return OneAtATimeOracle(combinations, **common)
    if tuner == "random":
        return RandomOracle(max_trials=max_trials, **common)
    if tuner == "bayesian":
        return BayesianOracle(max_trials=max_trials, **common)
    if tuner == "hyperband":
        oracle = HyperbandOracle(max_epochs=max(epochs, 2), factor=3, **common)
        oracle.max_trials = max_trials
        return oracle
    raise ValueError(must_be("tuner", f"one of {', '.join(TUNERS)}", tuner))
