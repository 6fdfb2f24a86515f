# Everything a user runs. Each target installs what it needs first (a virtual environment in
# .venv with the CPU build of torch==2.13.0 pinned before anything else; see constraints.txt).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: install lint test test-slow test-all bench bench-sign bench-spin2 bench-masks bench-threads bench-digits bench-pipeline bench-scale bench-peers reproduce-cmb reproduce-cmb-quick reproduce-cmb-galactic reproduce-cmb-galactic-quick reproduce-digits reproduce-digits-quick reproduce-lensing reproduce-lensing-quick clean-cmb-maps clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[test]"
	touch $(STAMP)

lint: install  ## ruff: unused or undefined names, import order, common bugs (pyproject.toml [tool.ruff])
	$(BIN)/ruff check .

test: install lint  ## lint, then the default test run (< 10 minutes on 2 cores)
	$(BIN)/pytest -q

test-slow: install  ## only the heavier tests
	$(BIN)/pytest -q -m slow

test-all: install
	$(BIN)/pytest -q -m "slow or not slow"

bench: install  ## benchmark tables (printed) and JSON under benchmarks/results/
	$(BIN)/python benchmarks/bench_scattering.py

bench-sign: install  ## sign-aware channels at L = 1024: equivariance per kind and depth, cost against modulus-only
	$(BIN)/python benchmarks/bench_sign_aware.py

bench-spin2: install  ## spin-2 scattering at L = 256 and 1024: equivariance of both routes, Q/U as scalars, cost in SHT pairs (~5 min)
	$(BIN)/python benchmarks/bench_spin2.py

bench-masks: install  ## masked against full-sky scattering at L = 256 and 1024: valid fractions, inside / outside, rotated masks
	$(BIN)/python benchmarks/bench_masks.py

bench-threads: install  ## threads inside one map: 1 and 2 threads on one L = 4096 map
	$(BIN)/python benchmarks/bench_threads.py

bench-digits: install  ## equivariance on the digit images by scattering L, oversampling and quantisation
	$(BIN)/python benchmarks/bench_digits_equivariance.py

bench-pipeline: install  ## scatter-preprocess throughput, 1 vs 2 workers, overhead over the bare transform
	$(BIN)/python benchmarks/bench_pipeline.py

bench-scale: install  ## L = 4096 / nside 2048 through the CLI, cost growth with L (~20 min)
	$(BIN)/python benchmarks/bench_scale.py

PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
PEERS_PIP := $(PEERS)/bin/pip install --disable-pip-version-check -q -c constraints.txt

$(PEERS_STAMP): benchmarks/peers-requirements.txt pyproject.toml constraints.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS_PIP) torch==2.13.0
	$(PEERS_PIP) -r benchmarks/peers-requirements.txt
	$(PEERS_PIP) --no-deps s2wav==1.0.4 s2scat==0.0.3
	$(PEERS_PIP) -e .
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)  ## ours vs s2wav/s2scat (JAX, CPU, separate env) and healpy (~1 h: JAX kernel set-up)
	$(PEERS)/bin/python -W ignore benchmarks/bench_peers.py

reproduce-cmb: install  ## the full CMB benchmark (L = 1024, 6 amplitudes, 5 seeds; hours on 2 cores): results/cmb/report.md
	$(BIN)/scatter-reproduce-cmb

reproduce-cmb-quick: install  ## the same code path at L = 256 with fewer maps: results/cmb-quick/report.md
	$(BIN)/scatter-reproduce-cmb --quick

reproduce-cmb-galactic: install  ## the full CMB benchmark, then the same maps on a cut sky (|b| < 20 deg + 100 holes), side by side: results/cmb-galactic/report.md
	$(BIN)/scatter-reproduce-cmb --mask galactic

reproduce-cmb-galactic-quick: install  ## the quick CMB benchmark with its cut-sky run: results/cmb-quick-galactic/report.md
	$(BIN)/scatter-reproduce-cmb --quick --mask galactic

reproduce-digits: install  ## 360-degree digit images, train upright / test rotated (all 1797 digits, 3 seeds): results/digits/report.md
	$(BIN)/scatter-reproduce-digits

reproduce-digits-quick: install  ## the same code path on 500 digits with 2 seeds (minutes): results/digits-quick/report.md
	$(BIN)/scatter-reproduce-digits --quick

reproduce-lensing: install  ## weak lensing: Gaussian vs lognormal convergence from spin-2 shear maps (L = 128, 400 maps per class at 3 shifts, 5 seeds): results/lensing/report.md
	$(BIN)/scatter-reproduce-lensing

reproduce-lensing-quick: install  ## the same code path at L = 64, 100 maps per class at 2 shifts, 2 seeds (minutes): results/lensing-quick/report.md
	$(BIN)/scatter-reproduce-lensing --quick

clean-cmb-maps:  ## delete generated CMB maps and caches (tens of GB for the full run)
	rm -rf data/cmb

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
