# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PIP_FLAGS ?= --disable-pip-version-check -q
# Postgres run of the suite: on by default when Postgres answers; override the URL or set PG_TEST_URL= to skip.
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres install install-test lint bench clean help alerting-check prometheus-check \
	validate-workflows smoke bench-lead-capture bench-automation

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e .
	@touch $@

# The web app's assets (htmx, Pico, SortableJS) and the tests' Node tools, exactly as package-lock.json pins them.
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "!! npm is missing: the web app has no htmx or styles, and the browser and sign-in tests are SKIPPED" >&2; fi

$(TEST_STAMP): $(STAMP) $(NPM_STAMP) pyproject.toml constraints.txt
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	@bash ops/install-test-tools.sh
	@touch $@

install: $(STAMP) $(NPM_STAMP) ## Create the virtual environment and install the suite (Python and web assets)

install-test: $(TEST_STAMP) ## Install what the tests need (Python packages, promtool, amtool, chromium, oidc-provider)

run: $(STAMP) $(NPM_STAMP) ## Run the suite on the embedded default (SQLite, in-process workers, tenant mrdj)
	$(BIN)/crm quickstart
	$(BIN)/crm run

test: install-test ## Run the whole suite on SQLite, then on PostgreSQL when it answers
	$(MAKE) --no-print-directory test-sqlite
	@if [ -n "$(PG_TEST_URL)" ] && $(BIN)/python -c "import sys,psycopg; psycopg.connect(sys.argv[1].replace('+psycopg',''), connect_timeout=3).close()" "$(PG_TEST_URL)" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	else \
		echo "!! PostgreSQL does not answer at $(PG_TEST_URL): the Postgres run of the suite is SKIPPED"; \
		if [ -n "$$CI" ]; then echo "!! CI must run both databases"; exit 1; fi; \
	fi

test-sqlite: install-test ## The suite on SQLite only
	@echo "== test suite on SQLite =="
	env -u CRM_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install-test ## The suite on PostgreSQL only (PG_TEST_URL)
	@echo "== test suite on PostgreSQL =="
	CRM_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest $(PYTEST_ARGS)

lint: install-test ## ruff and mypy
	$(BIN)/ruff check src tests bench automation
	$(BIN)/mypy src

bench: install-test ## Benchmarks (see bench/README.md); installs wrk for the lead-capture benchmark
	$(BIN)/pip install $(PIP_FLAGS) -c constraints.txt -e '.[bench]'
	@bash ops/install-bench-tools.sh
	@echo "see bench/README.md for the individual benchmarks"

alerting-check: install-test ## promtool/amtool checks of the alert rules and Alertmanager routing (also in make test)
	promtool check rules ops/prometheus/rules/crm.yml
	promtool test rules ops/prometheus/tests/crm_test.yml
	promtool check config ops/prometheus/prometheus.yml
	amtool check-config ops/alertmanager/alertmanager.yml

prometheus-check: install-test ## A real Prometheus with the shipped rules fires the alerts against a running app (≤ 90 s)
	$(BIN)/pytest -q -m prometheus $(PYTEST_ARGS)

clean: ## Remove the virtual environment and local data under var/
	rm -rf $(VENV) var/*.db var/*.db-* var/dev-api-key

validate-workflows: $(STAMP) ## Check automation/workflows/*.yaml: every mistake as file:line: message
	$(BIN)/crm workflows validate

smoke: install-test ## Tenant smoke tests: make smoke TENANT=mrdj [CASE=config|api|sso]
	$(BIN)/pytest -m tenant_smoke --tenant=$(or $(TENANT),mrdj) $(if $(CASE),--case=$(CASE))

bench-lead-capture: bench ## Lead capture vs. the naive and the bare one-INSERT endpoints, wrk, Postgres
	$(BIN)/python bench/lead_capture.py $(BENCH_ARGS)

bench-automation: bench ## Automation benchmarks on Postgres: throughput vs procrastinate, lead latency, claim speed
	$(BIN)/python bench/worker_throughput.py --runs 5000
	$(BIN)/python bench/lead_to_first_step.py --rate 50 --seconds 20
	$(BIN)/python bench/claim_speed.py --rows $${ROWS:-10000000}
