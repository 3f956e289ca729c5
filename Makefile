# Every target builds the venv it needs, so a fresh clone only needs `make test` or `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow lint typecheck unit demo bench test-real services clean real-venv \
	real-services demo-real demo-real-fleet

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

# Ansible's openstack.cloud collection through the proxy (its own venv, .venv-ansible, ~3 min
# to build once): a client that never imports openstackoid, scoped by its auth_url.
test-slow: venv services
	$(BIN)/pytest -q -m "slow and not real"

demo: venv
	$(BIN)/openstackoid demo

bench: venv
	$(BIN)/python -m bench.run_all

# Real Keystone + Glance clouds, and a compute cloud with real Nova, Placement and Neutron
# on MariaDB and RabbitMQ (started, or installed, by real-services when not answering).
test-real: venv services real-services real-venv
	$(BIN)/pytest -q -m real

real-services:
	@bash .ci/real-services.sh

# The seed scenario on real services: a VM in cloud-1's Nova from cloud-999's Glance image.
demo-real: venv real-services real-venv
	$(BIN)/openstackoid demo --real

# The same through two proxy processes sharing PostgreSQL and Redis: the user's CLI on one,
# cloud-1's Nova on the other.
demo-real-fleet: venv services real-services real-venv
	$(BIN)/openstackoid demo --real --proxies 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The real services pin older libraries than the main venv: they get their own venv.
# Neutron 29 installs beside Nova 34 without changing a pin (pip check is clean).
REAL_VENV := .venv-real
REAL_PACKAGES := keystone==30.0.0 glance==33.0.0 nova==34.0.0 openstack-placement==16.0.0 \
	neutron==29.0.0 gunicorn PyMySQL
$(REAL_VENV)/.installed-compute:
	$(PYTHON) -m venv $(REAL_VENV)
	$(REAL_VENV)/bin/pip install -q --upgrade pip
	$(REAL_VENV)/bin/pip install -q $(REAL_PACKAGES)
	touch $@

real-venv: $(REAL_VENV)/.installed-compute
