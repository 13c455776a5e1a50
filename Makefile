# Demetra: `make up` runs the whole system, `make test` runs every test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(PYTHON) -m uv)
STACK := $(UV) run --frozen python deploy/local/stack.py
# kustomize (for the Kubernetes manifest tests) lands here when neither it nor kubectl is installed
export PATH := $(HOME)/.local/bin:$(PATH)
KUSTOMIZE_VERSION := v5.5.0
# Every workspace member's code (libs/*, services/*): what mypy checks
MEMBER_SOURCES := $(wildcard libs/*/src services/*/src)
# Scripts outside the members (benchmarks, the AsyncAPI generator): checked one by one (several are run.py)
SCRIPTS := $(wildcard bench/*/*.py docs/*.py)

# The console's npm assets (services/query-api/console): installed from the lockfile when it changes
CONSOLE_VENDOR := services/query-api/console/node_modules/.package-lock.json

.PHONY: install browser promtool up down status logs test bench lint docs

install: $(CONSOLE_VENDOR) ## uv (from PyPI if missing), the whole workspace from uv.lock, the console's npm assets
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --all-packages
	@test -f .env || cp .env.example .env
	@command -v kustomize >/dev/null 2>&1 || command -v kubectl >/dev/null 2>&1 || \
		GOBIN=$(HOME)/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

browser: ## Debian's Chromium and its chromedriver, for the browser tests (apt-get, as root, when missing)
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] || { echo "the browser tests need: apt-get install -y chromium chromium-driver (as root)"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver >/dev/null; }

$(CONSOLE_VENDOR): services/query-api/console/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: the console's chart library comes from npm (apt-get install nodejs npm)"; exit 1; }
	@npm ci --prefix services/query-api/console --ignore-scripts --no-audit --no-fund --silent

up: install ## Kafka + PostgreSQL + migrations + every service, in the background
	@$(STACK) up

down: ## stop everything `make up` started
	@$(STACK) down

status:
	@$(STACK) status

logs:
	@$(STACK) logs $(NAME)

promtool: ## Debian's prometheus package, for the alert rule tests' promtool (apt-get, as root, when missing)
	@command -v promtool >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] || { echo "the alert rule tests need: apt-get install -y prometheus (as root)"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			prometheus >/dev/null; }

test: install browser promtool lint ## lint, then every test against real Kafka and PostgreSQL (started if not running)
	@$(STACK) up --infra
	@$(UV) run --frozen pytest

bench: install ## every benchmark under bench/, each ends with one name=value line
	@$(STACK) up --infra
	@set -e; found=0; for script in bench/*/run.py bench/*.py; do \
		[ -f "$$script" ] || continue; found=1; echo "== $$script"; $(UV) run --frozen python "$$script"; done; \
		[ $$found = 1 ] || echo "no benchmarks under bench/ yet"

docs: ## docs/asyncapi.yaml: the Kafka contracts (AsyncAPI 3), generated from the services' FastStream brokers
	@$(UV) run --frozen python docs/generate_asyncapi.py

lint: install ## ruff (lint + format) over the tree; mypy --strict over every member's src/ and every script
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy $(MEMBER_SOURCES)
	@for script in $(SCRIPTS); do $(UV) run --frozen mypy --no-error-summary $$script || exit 1; done
