# Two commands for a fresh machine (see README):
#   make run   - create .venv, install hwbehave, measure the quickstart sweep on this CPU
#   make test  - install system packages and every extra, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SWEEP  ?= sweeps/quickstart.yaml
DEVICE ?= devices/local-cpu.yaml
PYTEST_ARGS ?=

.PHONY: run test venv dev system-deps lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# core install: enough for `make run`
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# everything the tests exercise: extras for remote devices, reports, notebooks, TFLite, OpenVINO, QNN, Vela, labgrid
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,tflite,openvino,qnn,vela,labgrid]"
	touch $@ $(VENV)/.core

venv: $(VENV)/.core

run: $(VENV)/.core
	$(BIN)/hwbehave run $(SWEEP) --device $(DEVICE)

system-deps:
	bash .ci/system-deps

test: system-deps $(VENV)/.dev
	$(BIN)/ruff check suite tests benchmarks notebooks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check suite tests benchmarks notebooks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.dev
	@failed=""; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .import_linter_cache
