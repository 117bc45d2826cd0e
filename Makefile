# Everything runs from the project's own virtualenv, built with a pinned uv from uv.lock.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install up down status test lint unit integration e2e bench chaos chaos-ci deploy-check clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## Install the locked dependencies into .venv
	$(UV) sync --frozen --extra dev --quiet

up: install ## Start the local stack and every Ledger process (Ctrl-C stops all)
	$(BIN)/ledger up

down: install ## Stop every Ledger process and the local stack
	$(BIN)/ledger down

status: install ## Show the local stack
	$(BIN)/ledger stack status

lint: install ## ruff, mypy --strict and the import contracts
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: install ## Tests without I/O
	$(BIN)/pytest tests/unit -q

test: install ## Lint, then every test against the real stack (started if needed)
	$(BIN)/ledger stack up
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -q -p no:cacheprovider

bench: install ## Benchmarks that print figures (never assertions)
	$(BIN)/ledger stack up
	$(BIN)/python -m tests.benchmarks
	$(BIN)/python -m tests.benchmarks.system
	$(BIN)/python -m tests.benchmarks.write_path
	$(BIN)/python -m tests.benchmarks.read_side
	$(BIN)/python -m tests.benchmarks.export_history
	$(BIN)/python -m tests.benchmarks.rebuild

chaos: install ## A Ledger of its own under 10,000 retried commands and every fault; prints the table
	$(BIN)/python -m tests.chaos --commands 10000 --clients 16

chaos-ci: install ## The chaos suite, smaller: 2,000 commands, every fault once (CI runs it)
	$(BIN)/python -m tests.chaos --commands 2000 --clients 8 --deadline 420

deploy-check: install ## helm lint, then every value set rendered and validated offline (kubeconform -strict)
	$(BIN)/python -m tests.deploy

clean: ## Stop everything and delete the stack's data (keeps downloads)
	-$(BIN)/ledger down
	rm -rf .stack/data
