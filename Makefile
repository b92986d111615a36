# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi

.PHONY: run test lint format bench clean

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

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/activate
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(BIN)/activate
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
