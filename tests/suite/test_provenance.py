"""provenance.json: the machine, the commit, the dates and the load of every results folder."""

import itertools
import json
import subprocess
import time

import pytest

from suite import provenance
from suite.io import read_json
from suite.provenance import (LoadSampler, Provenance, code_version, load_summary,
                              parse_cpuinfo, parse_gpus, provenance_line)
from suite.report import Report
from suite.runs import RunDir

# Two processors of an AVX-512 Xeon with bfloat16 and AMX, as /proc/cpuinfo lists them.
XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""
EPYC = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_flags_that_matter_are_read_from_cpuinfo():
    assert parse_cpuinfo(XEON) == {
        "cpu": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz",
        "flags": ["avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]}
    assert parse_cpuinfo(EPYC) == {"cpu": "AMD EPYC 7B13", "flags": ["avx2"]}
    # avx512_bf16 alone must not be taken for avx512f (a flag is a word, not a prefix).
    assert parse_cpuinfo("flags : avx512_bf16 avx2x\n")["flags"] == ["avx512_bf16"]
    assert parse_cpuinfo("") == {"cpu": None, "flags": []}


def test_gpu_names_from_nvidia_smi():
    listing = ("GPU 0: NVIDIA H200 (UUID: GPU-1d2c-44)\n"
               "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-9f)\n")
    assert parse_gpus(listing) == ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"]
    assert parse_gpus("No devices found.\n") == []


def git(folder, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder,
                   check=True, capture_output=True)


def test_the_commit_and_local_changes_are_read_from_a_checkout(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    assert code_version(repo) is None  # not a checkout
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert code_version(repo) == {"commit": head, "dirty": False}
    (repo / "runs").mkdir()
    (repo / "runs" / "metrics.json").write_text("{}")  # results are no change to the code
    assert code_version(repo / "runs") == {"commit": head, "dirty": False}
    (repo / "code.py").write_text("x = 2\n")
    assert code_version(repo) == {"commit": head, "dirty": True}


def test_the_sampler_samples_the_load_every_few_seconds():
    loads = itertools.count(0.5)  # 0.5, 1.5, 2.5, ...
    sampler = LoadSampler(every=0.01, read=lambda: (next(loads), 0, 0))
    start = time.time() - 1
    sampler.start()
    deadline = time.time() + 10
    while len(sampler.since(start)) < 5 and time.time() < deadline:
        time.sleep(0.01)
    sampler.stop()
    values = sampler.since(start)
    assert values[:5] == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert load_summary([2.0, 1.0, 4.0]) == {"min": 1.0, "median": 2.0, "max": 4.0,
                                             "samples": 3}
    assert load_summary([]) is None


class Steady(LoadSampler):
    """A sampler that never runs a thread: each sample is the next of `loads`."""

    def __init__(self, loads):
        super().__init__(read=lambda: (next(loads), 0, 0))

    def start(self):
        return self


def test_a_resumed_run_keeps_its_start_and_adds_its_samples(tmp_path):
    first = Provenance(tmp_path, Steady(iter([1.0, 2.0])))
    record = first.write()
    assert record["ended"] is None and record["load"]["samples"] == 1
    assert record["machine"] == provenance.machine() and record["processes"] == 1
    first.write(ended=True)
    written = read_json(tmp_path / "provenance.json")
    assert written["load"] == {"min": 1.0, "median": 1.5, "max": 2.0, "samples": 2}
    assert written["ended"] is not None

    time.sleep(1.1)  # the second process starts a second later
    second = Provenance(tmp_path, Steady(iter([5.0])))
    record = second.write()
    assert record["started"] == written["started"]  # the earliest start
    assert record["load_samples"] == [1.0, 2.0, 5.0] and record["processes"] == 2
    assert record["ended"] == written["ended"]  # the last result written so far
    assert "earlier" not in record  # the same machine and code


def test_a_killed_writer_never_leaves_a_half_file_and_a_garbled_one_is_replaced(tmp_path):
    (tmp_path / "provenance.json").write_text('{"started": "2026-')  # a torn older file
    record = Provenance(tmp_path, Steady(iter([1.0]))).write()
    assert json.loads((tmp_path / "provenance.json").read_text()) == record
    assert Provenance(tmp_path / "gone", Steady(iter([1.0]))).write() is None
    assert not (tmp_path / "gone").exists()  # a removed folder is never made again


def test_every_results_folder_records_it_and_its_report_shows_one_line(tmp_path):
    run = RunDir(tmp_path / "r", {"seed": 1})
    assert (tmp_path / "r" / "provenance.json").is_file()
    assert read_json(run.file("provenance.json"))["ended"] is None
    run.write_metrics({"val_accuracy": 0.5})
    run.write_report(Report("A run", "intro"))
    record = read_json(run.file("provenance.json"))
    assert record["ended"] is not None
    last = run.file("report.md").read_text().strip().splitlines()[-1]
    assert last == f"*{provenance_line(record)}*"
    machine = provenance.machine()
    assert f"{machine['cores']} cores" in last and str(machine["cpu"]) in last
    assert "load " in last and record["started"][:10] in last
    # Provenance is not configuration: the same configuration opens the folder again.
    assert read_json(run.file("config.json"))["config"] == {"seed": 1}
    RunDir(tmp_path / "r", {"seed": 1})
    assert read_json(run.file("provenance.json"))["processes"] == 2


@pytest.mark.parametrize("record, expected", [
    (None, "Provenance unknown (a folder written before the suite recorded it)."),
    ({"machine": {"cpu": "AMD EPYC 7B13", "flags": ["avx2"], "cores": 2, "memory_gib": 7.8,
                  "gpus": []},
      "code": {"commit": "0123456789abcdef", "dirty": True},
      "started": "2026-12-04T14:27:03+01:00", "ended": "2026-12-04T15:02:44+01:00",
      "load": {"min": 0.5, "median": 1.9, "max": 2.25, "samples": 420}},
     "Measured on AMD EPYC 7B13 (avx2; 2 cores, 7.8 GiB, no GPU), commit 0123456789 with "
     "local changes, 2026-12-04 14:27 to 15:02, load 0.50-2.25 (median 1.90, 420 samples)."),
    ({"machine": {"cpu": "Xeon", "flags": [], "cores": 1, "gpus": ["NVIDIA H200"]},
      "code": None, "started": "2026-12-04T23:50:00+00:00",
      "ended": "2026-12-05T00:10:00+00:00", "load": None},
     "Measured on Xeon (none of avx2/avx512f/avx512_bf16/amx_tile/amx_bf16; 1 core, "
     "NVIDIA H200), commit unknown, 2026-12-04 23:50 to 2026-12-05 00:10, load not "
     "sampled."),
    ({"machine": None, "code": None, "started": "2026-12-04T23:50:00+00:00", "ended": None},
     "Measured on an unknown machine, commit unknown, started 2026-12-04 23:50, no result "
     "written yet, load not sampled."),
])
def test_the_one_line(record, expected):
    assert provenance_line(record) == expected


def test_the_suites_own_commit_is_its_checkouts_and_only_its_own():
    from tests.conftest import ROOT

    top = provenance.git(ROOT, "rev-parse", "--show-toplevel")
    expected = provenance.code_version(ROOT) if top and top == str(ROOT) else None
    assert provenance.suite_code_version() == expected
