# make demo: set up and run the main job; make test: set up and run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup data demo test lint format bench gpu-check clean

setup: $(VENV)/.installed data

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,distributed,nir]'
	touch $@

data:
	@bash scripts/install_data.sh

demo: setup
	$(PY) -m experiments.quickstart --out runs/quickstart

test: setup lint
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m experiments.bench_sim --net vgg9 --option width=0.25 --option batch_norm=true \
		--input 1,28,28 \
		--timesteps 100 --batch 64
	$(PY) -m experiments.bench_sim --net vgg15 --input 3,32,32 --timesteps 100 --batch 32 \
		--engines reference,fast,step,ceiling --repeats 2

# every GPU check in one run (scripts/gpu_check.sh); OUT defaults to runs/gpu_check
gpu-check: setup
	PYTHON=$(PY) bash scripts/gpu_check.sh $(or $(OUT),runs/gpu_check)

clean:
	rm -rf runs .pytest_cache .ruff_cache
