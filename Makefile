# make demo: set up and run the main job; make test: set up and run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
NEUROSNN := $(VENV)/bin/neurosnn

.PHONY: setup data demo test lint format docs figures leaderboard bench gpu-check wheel-check clean consumers

setup: $(VENV)/.installed data

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,distributed,nir,docs,tensorboard]'
	touch $@

data: $(VENV)/.installed
	@bash scripts/install_data.sh $(PY)

demo: setup
	$(NEUROSNN) demo --out runs/quickstart

test: setup lint docs wheel-check consumers
	$(PY) -m pytest -q

# the NIR simulators neurosnn's files are tested in (snnTorch, Norse, sinabs, SpikingJelly),
# each in its own environment under build/consumers (their pins conflict)
consumers: $(VENV)/.installed
	@bash scripts/install_consumers.sh $(VENV) build/consumers

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

# the docs (docs/, the API reference from the docstrings) into build/site; warnings (a broken
# link, a missing image or anchor) are errors, and scripts/check_docs.py checks the pages (no
# history in them, short table cells and results, every figure shown, no raw Sphinx role)
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	$(PY) scripts/check_docs.py build/site

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

# the docs' figures, from the runs under $(RUNS) that the pages' commands make: `make demo`
# (runs/quickstart), the tutorials' `neurosnn search` (runs/quickstart_search) and `neurosnn
# attack` (runs/quickstart_attack), `python examples/own_model.py` (runs/example_resnet) and
# the ResNet-20 latency run of docs/results.md (runs/latency_resnet20_search)
FIGURES := docs/figures
RUNS ?= runs
figures: setup
	$(NEUROSNN) plot run $(RUNS)/quickstart/latency/all.h5 --out build/figures/run
	cp build/figures/run/layer_activity.png build/figures/run/raster.png $(FIGURES)/demo/
	$(NEUROSNN) plot latency $(RUNS)/quickstart/latency --steps 100 --out $(FIGURES)/demo
	$(NEUROSNN) plot search $(RUNS)/quickstart_search --out $(FIGURES)/demo-search
	$(NEUROSNN) plot attack $(RUNS)/quickstart_attack --out build/figures/attack
	cp build/figures/attack/ans_vs_thresholds.png \
		build/figures/attack/accuracy_clean_vs_adversarial.png $(FIGURES)/attack/
	cp $(RUNS)/example_resnet/accuracy.png $(FIGURES)/own-model/
	$(NEUROSNN) plot latency $(RUNS)/latency_resnet20_search/fmnist_resnet20_s0 --steps 128 \
		--out build/figures/resnet20
	cp build/figures/resnet20/frontier.png $(FIGURES)/resnet20/

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
