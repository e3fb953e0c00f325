# make demo: set up and run the main job; make test: set up and run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
NEUROSNN := $(VENV)/bin/neurosnn

.PHONY: setup data demo test lint format docs figures leaderboard bench gpu-check wheel-check clean

setup: $(VENV)/.installed data

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,distributed,nir,docs,tensorboard]'
	touch $@

data:
	@bash scripts/install_data.sh

demo: setup
	$(NEUROSNN) demo --out runs/quickstart

test: setup lint docs wheel-check
	$(PY) -m pytest -q

# the wheel (not the editable install) in a fresh environment that reuses .venv's installed
# dependencies: `neurosnn --help` and a tiny job, run from outside the checkout
WHEEL_DIR := build/wheel-check
wheel-check: $(VENV)/.installed
	rm -rf $(WHEEL_DIR)
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(WHEEL_DIR)/dist .
	$(PY) -m venv --without-pip $(WHEEL_DIR)/venv
	$(PY) -c "import site, sysconfig, pathlib; \
		dest = pathlib.Path(sysconfig.get_path('purelib', vars={'base': '$(WHEEL_DIR)/venv'})); \
		(dest / 'deps.pth').write_text(site.getsitepackages()[0] + '\n')"
	$(PY) -m pip --python $(WHEEL_DIR)/venv/bin/python install -q --no-deps $(WHEEL_DIR)/dist/*.whl
	cd /tmp && $(CURDIR)/$(WHEEL_DIR)/venv/bin/neurosnn --help > /dev/null
	cd /tmp && $(CURDIR)/$(WHEEL_DIR)/venv/bin/python -c "import neurosnn, neurosnn.networks as n; \
		assert all('$(WHEEL_DIR)/venv/' in m.__file__ for m in (neurosnn, n)), 'not the wheel'"
	cd /tmp && $(CURDIR)/$(WHEEL_DIR)/venv/bin/neurosnn train --dataset synthetic --net vgg5 \
		--option width=0.125 --epochs 1 --out $(CURDIR)/$(WHEEL_DIR)/ann --no-progress > /dev/null
	@echo "wheel-check: the wheel installs and runs outside the checkout"

# the docs (docs/, the API reference from the docstrings) into build/site; warnings are errors
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict
	@if grep -rlE ':(func|class|mod|meth|data|attr|obj|exc):`' build/site --include='*.html'; then \
		echo "error: raw Sphinx roles in the built docs (the pages above)"; exit 1; fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(VENV)/bin/neurosnn bench --net vgg9 --option width=0.25 --option batch_norm=true \
		--input-shape 1,28,28 --timesteps 100 --batch-size 64
	$(VENV)/bin/neurosnn bench --net vgg15 --input-shape 3,32,32 --timesteps 100 --batch-size 32 \
		--engines reference,fast,step,ceiling --repeats 2

# every GPU check in one run (scripts/gpu_check.sh); OUT defaults to runs/gpu_check
gpu-check: setup
	PYTHON=$(PY) bash scripts/gpu_check.sh $(or $(OUT),runs/gpu_check)

# the docs' figures, from the measured runs under $(RUNS) (docs/latency.md names the commands
# that make those runs; `make demo` makes runs/quickstart, and `neurosnn search
# --preset quick --checkpoint runs/quickstart/ann --test-images 1000 --out
# runs/quickstart_search` the search); each caption names its command here
FIGURES := docs/figures
RUNS ?= runs
figures: setup
	$(NEUROSNN) plot run $(RUNS)/quickstart/latency/all.h5 --out $(FIGURES)/demo
	$(NEUROSNN) plot latency $(RUNS)/quickstart/latency --steps 100 --out $(FIGURES)/demo
	$(NEUROSNN) plot search $(RUNS)/quickstart_search --out $(FIGURES)/demo-search
	$(NEUROSNN) plot latency $(RUNS)/latency_resnet20_search/fmnist_resnet20_s0 --steps 128 \
		--out $(FIGURES)/resnet20
	$(NEUROSNN) plot latency $(RUNS)/latency_resnet20_search/fmnist_resnet20_s0 --steps 128 \
		--delay none --out $(FIGURES)/resnet20-delay-none
	$(NEUROSNN) plot latency $(RUNS)/latency_resnet18/fmnist_resnet18_w025 --steps 128 \
		--out $(FIGURES)/resnet18

# docs/leaderboard.md from the measured latency folders under $(RUNS)
LATENCY_RUNS := front_vgg9 front_vgg9_qcfs4 front_vgg9_nq4 front_vgg9_search_k front_vgg9_qcfs4_search_k \
	front_vgg9_srp \
	front_vgg9_qcfs4_srp front_vgg9_nq4_srp front_vgg9_nq4_search_k \
	front_vgg15 front_vgg15_qcfs4 front_vgg15_nq4 front_vgg15_search_delayed \
	front_vgg15_qcfs4_search_delayed front_vgg15_search_k front_vgg15_qcfs4_search_k front_vgg15_nq4_search_k \
	front_vgg15_search_k_start front_vgg15_qcfs4_search_k_start front_vgg15_nq4_search_k_start \
	front_vgg15_srp front_vgg15_qcfs4_srp front_vgg15_nq4_srp latency_vgg15_advanced_delayed \
	latency_vgg15_weights latency_vgg15 latency_vgg15_balanced200 latency_vgg15_qcfs4 \
	front_resnet20 front_resnet20_qcfs4 front_resnet20_srp front_resnet20_qcfs4_srp latency_resnet20 \
	latency_resnet20_search latency_resnet20_light latency_resnet20_new \
	latency_resnet20_balanced200 latency_resnet18 \
	h200_resnet20 h200_resnet20_qcfs4 h200_resnet20_qcfs4_search_none \
	h200_resnet20_qcfs4_search_none_start h200_resnet20_nq4 h200_resnet20_nq4_search_none \
	h200_resnet20_nq4_search_none_start
leaderboard: setup
	$(NEUROSNN) leaderboard $(addprefix $(RUNS)/,$(LATENCY_RUNS)) --out docs

clean:
	rm -rf runs .pytest_cache .ruff_cache
