"""KerasTuner's chief/worker mode, repaired where its tracker shows it breaks.

The protocol is KerasTuner's own: a chief (`KERASTUNER_TUNER_ID=chief`) serves the oracle
over gRPC at `KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`; workers (any other tuner id) ask
it for trials, train them and report back. What this module changes:

- `serve` replaces `oracle_chief.start_server`, which exits only once every worker that
  ever connected has been told to stop and no trial is running: a worker that dies keeps
  it waiting forever with its trial lost (keras-team/keras-tuner#254, #344, #915). Here the
  chief requeues a silent worker's trial after a lease (`Ledger.reclaim_lost_trials`) and
  exits, status 0, once the search is finished and every live worker has been told.
- `PatientClient` replaces `OracleClient`, whose calls wait up to an hour for a chief that
  may have quit for good (#645) and whose start-up wait was once too short (#990). Here a
  call is retried while the chief is unreachable, for `chief_timeout` seconds (long enough
  for a chief to start or restart), and then the worker stops with a sentence. A thread
  sends a heartbeat every few seconds, so the chief can tell a long trial from a dead worker.
- Heartbeats, and a failed trial's reason, travel as `GetTrial` requests for a reserved
  trial id: KerasTuner's protocol has no message for either (its `Trial` proto drops
  `trial.message`, so a worker's failure reasons never reached the chief), and a new
  message would need its own protobuf build.

`run_local` starts a chief and N workers on this machine (loopback), for `--local-workers`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import keras_tuner as kt
from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer
from keras_tuner.src.distribute.oracle_client import OracleClient
from keras_tuner.src.engine.trial import TrialStatus

from suite.errors import UsageError

HEARTBEAT = "__heartbeat__/"  # GetTrial(trial_id=HEARTBEAT + tuner_id) is a heartbeat
MESSAGE = "__message__/"  # GetTrial(trial_id=MESSAGE + trial_id + "\n" + text): why it failed
HEARTBEAT_SECONDS = 2.0
CALL_SECONDS = 30.0  # one attempt of one call; retried until chief_timeout
IDLE_SECONDS = 1.0  # KerasTuner asks again at once when told to wait: pace it
POLL_SECONDS = 0.5  # how often the chief checks leases and whether the search is done
RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class ChiefUnreachable(kt.errors.FatalError):
    """The chief has not answered for `chief_timeout` seconds."""


def chief_address() -> str:
    """`ip:port` from KerasTuner's environment variables, or a sentence saying what is missing."""
    missing = [v for v in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
               if not os.environ.get(v)]
    if missing:
        raise UsageError(f"distributed tuning needs {' and '.join(missing)} set to the "
                         f"chief's address (see tuning/README.md), or use --local-workers.")
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


# -- the chief -------------------------------------------------------------------------
class _Servicer(OracleServicer):
    def GetTrial(self, request, context):
        if request.trial_id.startswith(HEARTBEAT):
            self.oracle.heartbeat(request.trial_id[len(HEARTBEAT):])
            return protos.get_service().GetTrialResponse()
        if request.trial_id.startswith(MESSAGE):
            trial_id, _, text = request.trial_id[len(MESSAGE):].partition("\n")
            self.oracle.messages[trial_id] = text
            return protos.get_service().GetTrialResponse()
        return super().GetTrial(request, context)


def serve(oracle) -> None:
    """Serve `oracle` (a `Ledger`) to the workers until the search is finished.

    Returns once every trial has ended and every live worker has been told to stop; the
    trials of workers silent for `oracle.lease_seconds` are requeued meanwhile.
    """
    address = chief_address()
    # KerasTuner serves with one thread; heartbeats need more (the oracle has its own lock).
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    protos.get_service_grpc().add_OracleServicer_to_server(_Servicer(oracle), server)
    try:
        server.add_insecure_port(address)
    except RuntimeError:
        raise UsageError(f"the chief cannot listen on {address}; choose another "
                         f"KERASTUNER_ORACLE_PORT.") from None
    server.start()
    print(f"chief: serving the search on {address}", flush=True)
    try:
        while not oracle.search_finished():
            time.sleep(POLL_SECONDS)
            oracle.reclaim_lost_trials()
    finally:
        # The grace lets a worker's last answer (its "stop") reach it (keras-team/keras-tuner#645).
        server.stop(grace=2.0).wait()
    print("chief: search finished; every worker has been told to stop", flush=True)


# -- a worker --------------------------------------------------------------------------
class _PatientStub:
    """KerasTuner's gRPC stub, but a call is retried while the chief is unreachable."""

    def __init__(self, stub, address: str, chief_timeout: float):
        self.stub = stub
        self.address = address
        self.chief_timeout = chief_timeout

    def __getattr__(self, name):
        call = getattr(self.stub, name)

        def patient(request, **_ignored):  # KerasTuner passes its 1-hour timeout
            deadline = time.monotonic() + self.chief_timeout
            while True:
                try:
                    return call(request, wait_for_ready=True, timeout=CALL_SECONDS)
                except grpc.RpcError as error:
                    if error.code() not in RETRY_CODES:
                        raise
                    if time.monotonic() > deadline:
                        raise ChiefUnreachable(
                            f"the chief at {self.address} has not answered for "
                            f"{self.chief_timeout:g} s; start it, or check "
                            f"KERASTUNER_ORACLE_IP/PORT") from None
                    time.sleep(1.0)

        return patient


class PatientClient(OracleClient):
    """KerasTuner's `OracleClient` with bounded retries and a heartbeat.

    Args:
        oracle: the worker's local oracle (KerasTuner reads a few settings from it).
        chief_timeout: seconds to keep retrying a call while the chief is unreachable.
    """

    def __init__(self, oracle, chief_timeout: float = 600.0):
        super().__init__(oracle)
        self.raw_stub = self.stub
        self.stub = _PatientStub(self.stub, chief_address(), chief_timeout)
        threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()

    def _beat(self):
        request = protos.get_service().GetTrialRequest(trial_id=HEARTBEAT + self.tuner_id)
        while True:
            try:
                self.raw_stub.GetTrial(request, timeout=5.0)
            except grpc.RpcError:
                pass  # the calls themselves notice a chief that is gone
            time.sleep(HEARTBEAT_SECONDS)

    def end_trial(self, trial):
        if trial.message:
            self.stub.GetTrial(protos.get_service().GetTrialRequest(
                trial_id=f"{MESSAGE}{trial.trial_id}\n{trial.message}"))
        super().end_trial(trial)

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.IDLE:
            time.sleep(IDLE_SECONDS)
        return trial


# -- a chief and N workers on this machine ----------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_local(argv: list[str], workers: int, threads: int) -> int:
    """Run `python -m tuning.vgg argv` as a chief and `workers` workers on loopback.

    Returns 0 when all of them exit with 0, else the first other status.
    """
    env = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(free_port())}
    command = [sys.executable, "-m", "tuning.vgg", *argv]
    worker_threads = str(max(1, threads // workers))
    procs = {"chief": subprocess.Popen([*command, "--chief", "--threads", "1"],
                                       env={**env, "KERASTUNER_TUNER_ID": "chief"})}
    for i in range(workers):
        procs[f"worker{i}"] = subprocess.Popen(
            [*command, "--worker", "--threads", worker_threads],
            env={**env, "KERASTUNER_TUNER_ID": f"worker{i}"})
    print(f"local search: chief and {workers} workers on port "
          f"{env['KERASTUNER_ORACLE_PORT']}", flush=True)
    try:
        while any(p.poll() is None for p in procs.values()):
            if procs["chief"].poll() not in (None, 0):
                break  # the workers would wait chief_timeout for nothing
            workers_done = [p.poll() for name, p in procs.items() if name != "chief"]
            if None not in workers_done and any(workers_done):
                break  # every worker failed: the chief would wait for new ones forever
            time.sleep(0.5)
    except KeyboardInterrupt:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs.values():
            p.wait()
        raise
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
            p.wait()
    codes = {name: p.returncode for name, p in procs.items()}
    failed = {name: code for name, code in codes.items() if code != 0}
    if failed:
        print(f"local search: exit statuses {failed}", file=sys.stderr)
    return next(iter(failed.values()), 0)
