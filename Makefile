# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run reset test test-e2e lint format bench lock clean figures

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

run: $(BIN)/activate
	APP_ENV=development $(BIN)/flask db upgrade
	APP_ENV=development $(BIN)/flask seed-demo --if-empty
	APP_ENV=development $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: $(BIN)/activate
	$(BIN)/pytest $(PYTEST_ARGS)

# Throw the demo database (instance/portal.db) and its uploads away and build them again.
# Only the default SQLite database: with DATABASE_URL set, drop that database yourself.
reset: $(BIN)/activate
	@if [ -n "$$DATABASE_URL" ]; then \
		echo "make reset only resets instance/portal.db; DATABASE_URL is set" >&2; exit 1; fi
	rm -f instance/portal.db instance/portal.db-wal instance/portal.db-shm
	rm -rf instance/uploads
	APP_ENV=development $(BIN)/flask db upgrade
	APP_ENV=development $(BIN)/flask seed-demo

# Browser tests (tests/e2e): Playwright drives Debian's chromium, installed here when it
# is missing (never a browser download); axe-core comes from tests/e2e/package-lock.json.
E2E := tests/e2e
test-e2e: $(BIN)/activate $(E2E)/node_modules/.package-lock.json
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	$(BIN)/pytest $(E2E) $(PYTEST_ARGS)

$(E2E)/node_modules/.package-lock.json: $(E2E)/package.json $(E2E)/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	cd $(E2E) && npm ci --no-audit --no-fund
	touch $@

# Run the whole suite on SQLite and on PostgreSQL and put their security figures
# (tests/figures.py) into SECURITY.md.
FIGURES_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
figures: $(BIN)/activate
	$(BIN)/pytest -q --figures .figures-sqlite.md $(PYTEST_ARGS)
	TEST_DATABASE_URL="$(FIGURES_PG_URL)" $(BIN)/pytest -q --figures .figures-pg.md $(PYTEST_ARGS)
	$(BIN)/python -m tests.figures SECURITY.md SQLite=.figures-sqlite.md PostgreSQL=.figures-pg.md
	rm -f .figures-sqlite.md .figures-pg.md

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -r app -lll

format: $(BIN)/activate
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/activate
	$(BIN)/python -m bench $(BENCH_ARGS)

# Recompile the hashed lock files from requirements.in and requirements-dev.in. Existing pins
# are kept unless a change forces them; move one with LOCK_ARGS="--upgrade-package NAME".
PIP_TOOLS_VERSION := 7.6.2
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host
lock: | $(BIN)/activate
	$(BIN)/pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) $(LOCK_ARGS) \
		--output-file requirements.txt requirements.in
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile $(LOCK_FLAGS) $(LOCK_ARGS) \
		--output-file requirements-dev.txt requirements.in requirements-dev.in

clean:
	rm -rf $(VENV) .pytest_cache $(E2E)/node_modules $(E2E)/screenshots
