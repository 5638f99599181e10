# Approvals Portal. `make help` lists the recipes; `make run` and `make test` are the two that matter.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9

.PHONY: help install run cluster test e2e lint fmt messages check bench clean

help: ## list the recipes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-8s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv and install the locked dependencies

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet
	@touch $@

# Embedded defaults: DEBUG on for the local demo unless the environment says otherwise.
run: export DEBUG ?= 1
run: install ## install, migrate, load demo data, start web + worker + beat (Ctrl-C stops all)
	@$(PY) manage.py bootstrap
	@exec $(PY) -m portal.devstack Procfile.dev

# The cluster needs PostgreSQL and Redis: this machine's, unless the environment names others.
# CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// puts the workers on RabbitMQ instead.
cluster: export DEBUG ?= 1
cluster: export DATABASE_URL ?= postgres://root@127.0.0.1:5432/portal
cluster: export REDIS_URL ?= redis://127.0.0.1:6379/0
cluster: export CLUSTER_PORT ?= 8000
cluster: export PORTAL_BASE_URL ?= http://127.0.0.1:$(CLUSTER_PORT)
cluster: install ## HAProxy on :8000 (CLUSTER_PORT) in front of 2 web nodes, 2 workers and a beat (docs/deploy.md)
	@$(PY) -m portal.cluster --create-database
	@$(PY) manage.py bootstrap
	@exec $(PY) -m portal.cluster $(ARGS)

test: install ## run the tests (PORTAL_TEST_SERVICES=1 adds PostgreSQL, Redis, worker, ASGI and browser suites)
	$(PY) -m pytest $(ARGS)

e2e: install ## only the browser journeys (needs PORTAL_TEST_SERVICES=1 and its services)
	PORTAL_TEST_SERVICES=1 $(PY) -m pytest -m e2e $(ARGS)

# mypy's django plugin imports portal.settings: DEBUG=1 gives it the embedded defaults (no .env needed).
lint: install ## ruff, the import contracts (the core imports no process) and mypy (the core's types)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	DEBUG=1 $(VENV)/bin/mypy

fmt: install ## format and fix what ruff can
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The catalogs of the portal's own strings (locale/, ADR 0021): after changing marked strings,
# run this, translate the new entries in locale/<lang>/LC_MESSAGES/*.po, and commit .po and .mo.
MESSAGES_IGNORE = -i '.venv/*' -i 'var/*' -i 'node_modules/*' -i 'tests/*' -i 'bench/*' -i 'static/vendor/*'
messages: install ## update the translation catalogs (locale/) from the code, then compile them
	DEBUG=1 $(PY) manage.py makemessages -a --no-location $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py makemessages -a --no-location -d djangojs $(MESSAGES_IGNORE)
	DEBUG=1 $(PY) manage.py compilemessages $(MESSAGES_IGNORE)

check: lint test ## what CI runs, on the embedded defaults

bench: install ## run a benchmark: make bench NAME=tasklist [ARGS=--quick]
	$(PY) -m bench.$(NAME) $(ARGS)

clean: ## remove the virtualenv and everything under var/
	rm -rf $(VENV) var
