# Every target builds the venv it needs, so a fresh clone only needs `make test` or `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck unit demo bench test-real services clean real-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

services:
	@bash .ci/services.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: venv services
	$(BIN)/pytest -q -m "not real and not slow"

test: lint unit

demo: venv
	$(BIN)/openstackoid demo

bench: venv
	$(BIN)/python -m bench.run_all

test-real: venv services real-venv
	$(BIN)/pytest -q -m real

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Real Keystone and Glance pin older libraries than the main venv: they get their own venv.
REAL_VENV := .venv-real
$(REAL_VENV)/.installed:
	$(PYTHON) -m venv $(REAL_VENV)
	$(REAL_VENV)/bin/pip install -q --upgrade pip
	$(REAL_VENV)/bin/pip install -q keystone==30.0.0 glance==33.0.0 gunicorn
	touch $@

real-venv: $(REAL_VENV)/.installed
