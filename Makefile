# Vocation — the two commands are `make run` and `make test`; everything they need is installed here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
CACHE_DIR ?= $(or $(VOCATION_CACHE_DIR),$(HOME)/.cache/vocation)
TOOLS := $(CACHE_DIR)/tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export VOCATION_UV := $(UV)

PYPROJECTS := pyproject.toml uv.lock $(wildcard shared/pyproject.toml deploy/local/pyproject.toml services/*/pyproject.toml)

.PHONY: help install run demo test test-all test-unit test-integration test-security test-faults lint format infra-up infra-down infra-status contracts bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(UV):
	@echo "==> installing uv $(UV_VERSION) into $(TOOLS)"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) $(PYPROJECTS)
	@echo "==> installing the workspace into $(VENV) (pinned by uv.lock)"
	$(UV) sync --frozen --all-packages --python $(PYTHON)
	@touch $(STAMP)

install: $(STAMP) ## Install every package of the workspace into .venv (pinned by uv.lock)
	$(PY) -m vocation_local fetch

run: install ## Run the platform: Kafka, PostgreSQL and every service; Ctrl-C stops everything
	$(PY) -m vocation_local run

demo: install ## Feed a narrated scenario to the platform of `make run` (FAST=1: no pauses); mails on :8025
	$(PY) -m vocation_local demo $(if $(FAST),--fast) $(DEMO_ARGS)

test: install ## Unit, integration and end-to-end tests against a real Kafka and PostgreSQL (≈ 14 min)
	$(PY) -m pytest -m "not faults and not browser" --ignore=tests/security

test-browser: install ## Every page people open, in Chromium at 360 and 1280 px with axe (installs both on first use; ≈ 2 min, +3 the first time)
	$(PY) -m pytest -m browser

test-all: test test-browser test-security test-faults ## Everything CI runs: make test, then the browser, security and fault suites (≈ 25 min)

test-unit: install ## Only the tests that need no infrastructure
	$(PY) -m pytest -m unit

test-integration: install ## Only the tests that talk to Kafka and PostgreSQL
	$(PY) -m pytest -m integration

test-security: install ## The attacks of one partner on another, forged facts, secrets, erasure traces (≈ 4 min)
	$(PY) -m pytest tests/security

test-faults: install ## Kill -9 each service and restart the broker during a 10,000-event run; compare (≈ 7 min)
	$(PY) -m pytest -m faults tests/faults

lint: install ## ruff (lint and format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

infra-up: install ## Start Kafka on 127.0.0.1:9092 and PostgreSQL on 127.0.0.1:5432, create topics and databases
	$(PY) -m vocation_local up

infra-down: install ## Stop the Kafka and PostgreSQL started by infra-up
	$(PY) -m vocation_local down

infra-status: install ## Tell whether the local Kafka and PostgreSQL run
	$(PY) -m vocation_local status

contracts: install ## Regenerate the JSON Schemas and the AsyncAPI document from the models
	$(VENV)/bin/vocation contracts generate

bench: install ## Run the benchmarks and print their figures (see BENCHMARKS.md)
	$(PY) -m benchmarks

clean: ## Remove the virtual environment and caches of the repo (not the Kafka download)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
