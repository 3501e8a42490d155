"""How to run: a KerasTuner `Tuner` that trains one trial at a time and reports what it cost.

`VGGTuner` is KerasTuner's `Tuner` with four changes:

- a trial reports, besides its objective, its best epoch's `val_loss`, its parameter count
  and its training seconds (they go to `trials.csv` through the oracle, also over gRPC);
- no per-trial weight checkpoints: the search hands `best_hparams.json` to
  `python -m tasks.task4 train`, which retrains; a 45M-parameter checkpoint per trial would
  cost 180 MB and seconds each. (So Hyperband trains every round from scratch.);
- out of memory fails the trial with that reason instead of ending the search;
- the search space is declared without building a model (KerasTuner builds one to find
  conditional parameters, which this space has none of), so a chief never builds a VGG;
- `trials_per_process` ends the search after that many trials (`.quota_reached`), so that
  `python -m tuning.vgg` can run each trial in a fresh process and memory stays flat.

Distributed mode (`KERASTUNER_*` variables) is KerasTuner's, with the repairs of
`tuning/distributed.py`.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import keras_tuner as kt
from keras_tuner.src.distribute import utils as dist_utils

from suite.io import atomic_write_text



class VGGTuner(kt.Tuner):
    """Runs trials of a `VGGHyperModel` proposed by an oracle of `tuning/oracles.py`.

    Args:
        oracle: the oracle (a `Ledger`).
        hypermodel: the `VGGHyperModel`.
        directory, project_name: KerasTuner's state folder is `directory/project_name`.
        overwrite: start the search afresh.
        lease_seconds, chief_timeout: distributed mode's timings (`tuning/distributed.py`).

    Example:
        tuner.search(datasets, epochs=2, callbacks=[keras.callbacks.TensorBoard(logdir)])
    """

    def __init__(self, oracle, hypermodel, *, lease_seconds: float = 60.0,
                 chief_timeout: float = 600.0, trials_per_process: int | None = None,
                 **kwargs):
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self.lease_seconds = lease_seconds
        self.trials_left = trials_per_process
        if self._is_worker():
            from tuning.distributed import PatientClient

            # KerasTuner's client waits up to an hour on every call and never says it is alive.
            self.oracle = PatientClient(self.oracle._oracle, chief_timeout=chief_timeout)

    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def search(self, *fit_args, **fit_kwargs):
        if dist_utils.is_chief_oracle():
            from tuning.distributed import serve

            self.save()  # so that a restarted chief reloads (keras-team/keras-tuner#976)
            serve(self.oracle)
            return
        try:
            super().search(*fit_args, **fit_kwargs)
        except _QuotaReached:
            pass  # the search is saved; the next process continues it

    @property
    def quota_reached(self) -> bool:
        """This process ran its `trials_per_process` (a search that ended first did not)."""
        return self.trials_left == 0

    def pre_create_trial(self):
        if self.trials_left == 0:  # before asking the oracle, so no trial is handed out
            raise _QuotaReached

    def on_search_begin(self):
        # Saved before the first trial, so that a search killed during it reloads its oracle
        # (KerasTuner first saves at the end of a trial).
        self.save()

    def run_trial(self, trial, datasets, epochs=1, callbacks=(), **fit_kwargs):
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:  # Hyperband's round length
            epochs = hp.values["tuner/epochs"]
        fit_kwargs["verbose"] = 2 if fit_kwargs.get("verbose", 1) else 0  # a line per epoch
        callbacks = self._deepcopy_callbacks(list(callbacks))
        self._configure_tensorboard_dir(callbacks, trial)  # adds the HParams dashboard
        start = time.perf_counter()
        try:
            model = self._try_build(hp)
            history = self.hypermodel.fit(hp, model, datasets, epochs=epochs,
                                          callbacks=callbacks, **fit_kwargs)
        except Exception as error:
            if type(error).__name__ == "ResourceExhaustedError":
                raise kt.errors.FailedTrialError(
                    f"out of memory: {str(error).splitlines()[0]}") from None
            raise
        return _trial_metrics(history, self.oracle.objective, model.count_params(),
                              time.perf_counter() - start)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        _free_memory()
        if self.trials_left is not None:
            self.trials_left -= 1

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        atomic_write_text(self._get_tuner_fname(), json.dumps(self.get_state()))


class _QuotaReached(Exception):
    """This process has run its `trials_per_process`."""


def _trial_metrics(history, objective, params: int, seconds: float) -> dict:
    """The objective and val_loss of the best epoch, the parameter count, the seconds, the
    epochs run and the process's peak resident memory so far (MiB)."""
    logs = history.history
    values = logs[objective.name]
    pick = max if objective.direction == "max" else min
    best = values.index(pick(values))
    figures = {objective.name: float(values[best]), "val_loss": float(logs["val_loss"][best]),
               "params": float(params), "seconds": float(seconds),
               "epochs_run": float(len(values))}
    peak = _peak_rss_mib()
    if peak is not None:
        figures["peak_rss_mib"] = peak
    return figures


def _peak_rss_mib() -> float | None:
    """This process's peak resident memory so far, in MiB (None where unknown: Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)  # bytes / KiB


def _free_memory():
    """Drop the trial's model and graphs, and give the freed heap back to the system.

    glibc keeps freed memory for reuse, so without `malloc_trim` a search's RSS only ever
    rises. What remains is TensorFlow's, a little each trial, which `clear_session` does not
    free (a plain build-and-fit loop without KerasTuner shows it too); see tuning/README.md.
    """
    import ctypes

    import keras

    keras.backend.clear_session()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        pass
