# The CRM's everyday commands. `make run` and `make test` set up everything they need first.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PY := .venv/bin/python
ARGS ?=

.PHONY: help setup setup-test run test lint format bench loadtest backup restore lock migrations messages services-stop clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install system packages, .venv and npm assets (what `make run` needs)
	@LDAP="$(LDAP)" scripts/setup.sh run

setup-test: ## The same, plus what the tests need (slapd, Chromium)
	@scripts/setup.sh test

run: setup ## Run the CRM on the embedded default with demo data (LDAP=demo: a demo directory too)
	@LDAP="$(LDAP)" $(PY) -m crm.embedded run

test: setup-test ## Run the whole test suite against real PostgreSQL, Redis, Celery, slapd, Chromium
	@$(PY) -m crm.embedded test -- $(ARGS)

lint: setup ## ruff check and ruff format --check, and migrations up to date
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: setup ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: setup ## Build the scale data set and run the benchmark scenarios (see docs/benchmarks.md)
	@$(PY) -m crm.embedded bench -- $(ARGS)

loadtest: setup ## Mixed load (staff pages, public submissions) with Locust on gunicorn (docs/loadtest.md)
	@$(PY) -m crm.embedded loadtest -- $(ARGS)

backup: setup ## Back up the database and uploaded files into .data/backups/ (or BACKUP_DIR)
	@$(PY) -m crm.embedded manage -- backup $(ARGS)

restore: setup ## Restore a backup: make restore FROM=.data/backups/crm-backup-... (stop the CRM first)
	@test -n "$(FROM)" || { echo "Say which backup: make restore FROM=<folder>"; exit 2; }
	@$(PY) -m crm.embedded manage -- restore "$(FROM)" $(ARGS)

lock: setup ## Re-lock the Python dependencies after editing pyproject.toml
	.venv/bin/uv pip compile pyproject.toml --universal --python-version 3.12 --generate-hashes -q -o requirements.lock
	.venv/bin/uv pip compile pyproject.toml --group dev --universal --python-version 3.12 --generate-hashes -q -o requirements-dev.lock

messages: setup ## Extract translatable strings into locale/*/LC_MESSAGES/django.po
	$(PY) manage.py makemessages -l en -l es --no-obsolete --ignore=.venv --ignore=node_modules --ignore=.data --ignore=tests

services-stop: ## Stop the project-local PostgreSQL and Redis
	@$(PY) -m crm.embedded stop

clean: services-stop ## Remove .venv, node_modules and the local data (.data/)
	rm -rf .venv node_modules .data
