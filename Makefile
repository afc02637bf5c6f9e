# Two commands do all set-up: `make run` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint schema seed migrate clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed  ## serve on SQLite + memory, seeding examples into an empty database
	$(BIN)/commpulse migrate
	$(BIN)/commpulse seed
	$(BIN)/commpulse serve --host $(HOST) --port $(PORT)

migrate: $(VENV)/.installed  ## bring COMMPULSE_DATABASE_URL to the newest schema revision
	$(BIN)/commpulse migrate

seed: $(VENV)/.installed
	$(BIN)/commpulse seed

test: $(VENV)/.installed-test  ## lint, type-check and run the whole suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(VENV)/.installed  ## write schema.graphql from the live schema, for review
	$(BIN)/python -c "from schema import schema; print(schema.as_str())" > schema.graphql

clean:
	rm -rf $(VENV) commpulse.db commpulse.db-wal commpulse.db-shm
