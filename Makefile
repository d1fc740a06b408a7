# PyAirtable Platform — developer commands. `make help` lists them.
SHELL := /bin/bash
UV := UV_PYTHON_DOWNLOADS=never python3 -m uv
RUN := $(UV) run --frozen --no-sync
CLI := $(RUN) pyairtable-platform

.PHONY: help bootstrap up down logs status test lint fmt migrate seed bench bench-startup bench-gateway clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

bootstrap: ## Install system packages (apt) and the Python environment (uv)
	@scripts/bootstrap.sh

up: bootstrap ## Start PostgreSQL, Redis and the three services with a demo login
	@$(CLI) up

down: ## Stop everything `make up` started
	@$(CLI) down

status: ## Show the local stack's processes
	@$(CLI) status

logs: ## Follow the service logs
	@tail -n 50 -F .data/logs/*.log

migrate: bootstrap ## Apply database migrations (owner role)
	@$(CLI) migrate

seed: ## Create the demo user and workspace
	@$(CLI) seed

test: bootstrap ## Run the whole suite on throwaway PostgreSQL and Redis
	@# The TimescaleDB tests need PostgreSQL 17 + TimescaleDB; Debian 12 has no package, so a
	@# Debian 13 root is built once per machine (cached in /var/cache/pyairtable-platform).
	@$(RUN) python -m pyairtable_platform.devinfra.debian_root build >/dev/null
	@$(RUN) pytest $(PYTEST_ARGS)

lint: bootstrap ## ruff, mypy (strict) and import-linter contracts
	@$(RUN) ruff check src tests bench migrations
	@$(RUN) ruff format --check src tests bench migrations
	@$(RUN) mypy
	@$(RUN) lint-imports

fmt: ## Format and autofix
	@$(RUN) ruff format src tests bench migrations
	@$(RUN) ruff check --fix src tests bench migrations

bench-startup: bootstrap ## Time to ready and idle RSS of each service
	@$(RUN) python bench/startup.py

bench-gateway: bootstrap ## p50/p95/p99 at 1,000 users through the gateway vs a minimal ASGI app
	@$(RUN) python bench/gateway.py $(BENCH_ARGS)

bench: bench-startup bench-gateway ## All benchmarks

clean: down ## Stop and delete local state (.data)
	@rm -rf .data
