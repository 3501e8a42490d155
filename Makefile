# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Quiet TensorFlow's start-up chatter; SUITE_THREADS sets the CPU threads (default: all cores).
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: run test test-slow faults bench lint report reproduce clean

$(PY): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(PY)

## run: every task-1 experiment on scikit-learn's bundled 8x8 digits (no download, about 15 s)
run: $(PY)
	$(PY) -m tasks.task1 all --dataset digits --out runs/task1-digits --overwrite

# Tests run in file order; `make test TEST_ORDER=` shuffles them (pytest-randomly prints the
# seed; `make test TEST_ORDER=--randomly-seed=N` repeats that order).
TEST_ORDER ?= -p no:randomly

## test: the fast test suite (< 10 min on 2 cores)
test: $(PY)
	$(PY) -m pytest -q $(TEST_ORDER)

## test-slow: the tests marked slow
test-slow: $(PY)
	$(PY) -m pytest -q $(TEST_ORDER) -m slow

## faults: the fault-injection suite (real processes killed and restarted) and the fuzz
## suite of every command line (tests/fuzz)
faults: $(PY)
	$(PY) -m pytest -q $(TEST_ORDER) -m faults

## bench: every speed benchmark (each prints one JSON line)
bench: $(PY)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

## lint: ruff, and the layers contract of pyproject.toml (lint-imports)
lint: $(PY)
	$(PY) -m ruff check .
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache

## report: runs/REPORT.md, every reported finding beside ours and a verdict
report: $(PY)
	$(PY) -m tasks report

# The data is looked for in $SUITE_DATA_DIR (then Keras's cache): on the course machines,
# `SUITE_DATA_DIR=../shared/datasets make reproduce`. Run it again to resume.
## reproduce: every experiment this machine's data allows, then runs/REPORT.md (hours)
reproduce: $(PY)
	$(PY) -m tasks reproduce

clean:
	rm -rf runs .pytest_cache
