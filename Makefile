# Two commands do everything on a fresh machine with Python, pip and apt: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export UV_COMPILE_BYTECODE := 1

DEMO_HOME ?= data/home
DEMO_INBOX ?= data/inbox
DEMO_EVENTS ?= 50000
DEMO_ORGS ?= 4

.PHONY: install install-browser demo demo-data test test-fast lint bench bench-large clean

$(BIN)/uv:
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

# Python dependencies from uv.lock (exact versions), the project itself, and dbt's manifest, quietly
# (uv would list every one of the ~180 packages it installs; its errors still print); the
# project's bytecode is written once because with PYTHONDONTWRITEBYTECODE set every fresh `workstream`
# process would otherwise compile its modules again.
install: $(BIN)/uv
	@echo "installing the locked dependencies into $(VENV) (a minute or two on a fresh machine)…"
	@$(BIN)/uv sync --frozen --inexact --quiet --python $(PY)
	@$(MAKE) -s --no-print-directory $(MANIFEST)
	$(BIN)/python -m compileall -q dagster_project streamlit_app > /dev/null

# dbt's parse takes seconds, so it runs only when a file of the dbt project or the lock (dbt's
# version) is newer than the manifest: every `make test-fast` and `make test` starts with `install`.
MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt -path dbt/target -prune -o -path dbt/logs -prune -o -type f -print)
$(MANIFEST): $(DBT_SOURCES) uv.lock
	WORKSTREAM_WAREHOUSE=/tmp/workstream-parse.duckdb $(BIN)/dbt parse --project-dir dbt --profiles-dir dbt --quiet
	@touch $@

# Debian's Chromium for the real-browser test (playwright drives it; no `playwright install`).
install-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo-data: install
	@if [ ! -d "$(DEMO_INBOX)" ] || [ -z "$$(ls -A $(DEMO_INBOX) 2>/dev/null)" ]; then \
		$(BIN)/workstream generate --out $(DEMO_INBOX) --orgs $(DEMO_ORGS) --events $(DEMO_EVENTS) --bad-rate 0.01 \
			--end "$$(date -u +%Y-%m-%dT%H:00:00Z)"; \
	fi
	$(BIN)/workstream run --inbox $(DEMO_INBOX) --home $(DEMO_HOME)
	$(BIN)/workstream users demo --home $(DEMO_HOME)

demo: demo-data
	$(BIN)/workstream serve --home $(DEMO_HOME) --inbox $(DEMO_INBOX)

lint: install
	$(BIN)/ruff check dagster_project streamlit_app tests benchmarks
	$(BIN)/ruff format --check dagster_project streamlit_app tests benchmarks

# Two pytest workers (pytest-xdist), one test file each at a time: on 2 cores the suite is mostly
# single-threaded Python and subprocesses (dbt, `workstream run`); its duration is in benchmarks/README.md.
# Files are handed out in collection order, which tests/ordering.py makes costliest first, so the
# workers do not end on one long file each in turn.
TEST_WORKERS ?= 2

test: install install-browser
	$(BIN)/ruff check dagster_project streamlit_app tests benchmarks
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The fast lane: the Python tests that need no pipeline run and cost no more than a second or two
# (`slow` marks the whole-fold equivalence and crash tests), and dbt's unit tests on an empty
# warehouse; its duration is in benchmarks/README.md. `make test` stays the whole suite.
FAST_WAREHOUSE ?= /tmp/workstream-unit.duckdb
test-fast: install
	$(BIN)/ruff check dagster_project streamlit_app tests benchmarks
	$(BIN)/pytest -n $(TEST_WORKERS) -q -m "not integration and not browser and not slow" \
		tests/unit tests/hostile tests/lifecycle tests/memory tests/outbox tests/alerts
	$(PY) -m tests.dbt_unit_warehouse $(FAST_WAREHOUSE)
	WORKSTREAM_WAREHOUSE=$(FAST_WAREHOUSE) $(BIN)/dbt build --project-dir dbt --profiles-dir dbt --quiet \
		--empty --select "+test_type:unit" --exclude "test_type:data"

bench: install
	$(PY) -m benchmarks.run --events 1000000
	$(PY) -m benchmarks.table

bench-large: install
	$(PY) -m benchmarks.run --events 10000000 --large --skip-apply
	$(PY) -m benchmarks.run --events 5000000 --span-days 600 --skip-ingest --large
	$(PY) -m benchmarks.table

clean:
	rm -rf data/home data/inbox data/bench dbt/target
