# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench bench-optimizers models clean

$(VENV)/.installed: pyproject.toml promptopt/llm/backends/llama_build.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip "setuptools>=68" wheel
	# llama.cpp built portably (x86-64-v3, no -march=native) into ~/.cache/promptopt/wheels, never
	# from pip's wheel cache: about 5 minutes on 2 cores the first time, seconds after that
	$(PY) -m promptopt.llm.backends.llama_build install
	$(PY) -m pip install -q -e '.[local,dev]'
	# fails here, naming the fix, when the embedded model cannot run on this machine
	$(VENV)/bin/promptopt models --check
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

# The optimizer table: five optimizers x sst2, subj, agnews x 3 seeds at one token budget on the
# embedded model, sized for 2 CPU cores (measured: 30 minutes; see README "Comparing optimizers").
# Rerunning reuses finished runs and continues an interrupted one from its cache.
DATA_DIR ?= ../shared/data
BENCH_OPTIMIZERS_FLAGS := --optimizers capo,opro,evoprompt-ga,evoprompt-de,initial --tasks sst2,subj,agnews \
	--seeds 42,43,44 --model local --data-dir $(DATA_DIR) --budget-tokens 7000 --test-limit 30 \
	--population 4 --offspring 2 --dev-size 10 --block-size 5 --max-shots 1 --max-tokens 16 \
	--meta-max-tokens 80 --renderer chat --no-answer-tags
bench-optimizers: setup
	$(VENV)/bin/promptopt bench $(BENCH_OPTIMIZERS_FLAGS) --out runs/bench-optimizers --resume

# The catalog's named local models (local:qwen2.5-coder-0.5b), fetched and verified once.
models: setup
	$(PY) bench/get_models.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
