# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (all tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench bench-optimizers bench-optimizers-real bench-mpo-real bench-plan-real models clean

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
	$(VENV)/bin/promptopt optimize $(DEMO_FLAGS) --run-dir runs/demo --resume --out prompts/demo_sentiment.json --report
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

# The same table with real meta answers: downstream SmolLM2-135M, meta-LLM Qwen2.5-Coder-0.5B
# (`make models` fetches it), then the CAPO paper's setup on sst2 with the 0.5B model in both
# roles. Hours on 2 CPU cores: finished cells are kept in git (bench/results/README.md) and reused.
REAL_META := local:qwen2.5-coder-0.5b
BENCH_REAL_FLAGS := --optimizers capo,opro,evoprompt-ga,evoprompt-de,initial --seeds 42,43,44 \
	--data-dir $(DATA_DIR) --budget-tokens 16000 --test-limit 30 --population 4 --offspring 4 --dev-size 8 \
	--block-size 4 --max-shots 1 --max-tokens 16 --meta-max-tokens 100 --renderer chat --no-answer-tags
bench-optimizers-real: models
	$(VENV)/bin/promptopt bench $(BENCH_REAL_FLAGS) --tasks sst2,subj,agnews --model local --meta-model $(REAL_META) \
		--out bench/results/optimizers-real --resume
	$(VENV)/bin/promptopt bench $(BENCH_REAL_FLAGS) --tasks sst2 --model $(REAL_META) \
		--out bench/results/optimizers-real-qwen --resume

# MPO's padding hack with a real judge and meta-judge: fixed vs evolving rubric (17 minutes on 2 cores).
bench-mpo-real: models
	$(PY) bench/mpo_hack.py --meta-model $(REAL_META) --judge-model $(REAL_META) --out runs/bench-mpo-real

# CaPo (full, plan-only) and the CoELA-style team with every agent on the 0.5B model, next to the
# scripted greedy and claims teams, on the first 6 test24 episodes.
bench-plan-real: models
	$(PY) bench/plan_real.py --model $(REAL_META) --episodes 6 --out bench/results/plan-real

# The catalog's named local models (local:qwen2.5-coder-0.5b), fetched and verified once.
models: setup
	$(PY) bench/get_models.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
