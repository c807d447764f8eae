# npm scripts are the commands; make installs what they need first and adds the cluster steps.
SHELL := /bin/bash
.DEFAULT_GOAL := help

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: help install dev build migrate admin-grant lint typecheck test test-only services bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed ## Install dependencies (npm ci) when missing or stale

dev: install ## Run the whole system locally: embedded Postgres, every function, gateway on :8080
	npm start

build: install ## Bundle every function into dist/
	npm run build

migrate: install ## Apply migrations (DATABASE_URL, or the running local system)
	npm run migrate -- up

admin-grant: install ## Make a user an admin: make admin-grant EMAIL=someone@example.com
	@test -n "$(EMAIL)" || { echo "usage: make admin-grant EMAIL=someone@example.com"; exit 2; }
	npm run admin:grant -- "$(EMAIL)"

lint: install
	npm run lint

typecheck: install
	npm run typecheck

services: ## Start the Postgres the tests use when it is not answering
	@scripts/ensure-services.sh

test: install services ## Lint, typecheck and run every test
	npm run lint
	npm run typecheck
	npm test

bench: install ## Print performance figures (cold start, requests/s, hashing)
	npm run bench
