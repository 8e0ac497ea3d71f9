# qzx: `make run` brings the whole system up on the embedded default; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
UV := ./scripts/uv.sh
PYTEST_ARGS ?=

.PHONY: help install run test test-db test-faults fuzz lint format bench soak clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: ## Install everything (uv bootstrapped through pip if missing)
	@$(UV) sync --frozen --quiet || $(UV) sync --frozen

run: install ## Start the embedded stack, all services, the console and the simulator (Ctrl-C stops)
	@$(UV) run --frozen qzx dev

test: install ## Run the whole test suite (embedded PostgreSQL and broker unless QZX_* point at servers)
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

test-db: install ## The database and broker tests only (CI runs these again against PostgreSQL 15)
	@$(UV) run --frozen pytest -m "db or kafka" $(PYTEST_ARGS)

test-faults: install ## Fault suite, long version: five kills of each service, long outages, 2 s latency, a partition
	@QZX_FAULTS_FULL=1 $(UV) run --frozen pytest -m faults tests/faults $(PYTEST_ARGS)

FUZZ_MESSAGES ?= 100000
fuzz: install ## Property tests, schemathesis, and 100,000 mutated camera messages through the real topics (fresh seeds; make test replays fixed ones)
	@QZX_HYPOTHESIS=fuzz $(UV) run --frozen pytest tests/security/test_schemathesis.py tests/security/test_exchange_fuzz.py $(PYTEST_ARGS)
	@QZX_FUZZ_MESSAGES=$(FUZZ_MESSAGES) QZX_FUZZ_SEED=$${QZX_FUZZ_SEED:-$$RANDOM} $(UV) run --frozen pytest -s tests/fuzz $(PYTEST_ARGS)

lint: install ## ruff and mypy
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy libs/common/src libs/devstack/src services/ingest/src services/alerts/src services/dispatch/src apps/console/src

format: install ## Apply ruff's fixes and formatting
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

bench: install ## Benchmarks: throughput and latency beside raw consume/insert rates, in one run
	@$(UV) run --frozen qzx bench

SOAK_ARGS ?=
SOAK_OUT ?= .state/soak
soak: install ## Soak (never in make test): 2,000 events/s, 5,000 long-polls, 50 SSE streams, 10 min, then reconcile (SOAK_ARGS="--minutes 2 ...")
	@$(UV) run --frozen qzx soak --out $(SOAK_OUT) $(SOAK_ARGS)

clean: ## Remove local state (embedded database and broker data)
	rm -rf .state
