# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip "setuptools>=68" wheel
	# llama-cpp-python compiles once (about 5 minutes on 2 cores); pip caches the wheel after that
	$(PY) -m pip install -q -e '.[local,dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/promptopt generate --model local "Say hi"

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/eval_throughput.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
