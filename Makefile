# Two commands do all set-up: `make run` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
CLUSTER_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/commpulse
CLUSTER_BROADCAST_URL ?= redis://127.0.0.1:6379
PORT ?= 8000
# a local session serves without auth, on loopback only (the server refuses anything else);
# COMMPULSE_AUTH=on make run serves with tokens (`commpulse tokens create NAME --role admin`)
COMMPULSE_AUTH ?= off
export HOST PORT COMMPULSE_AUTH

.PHONY: run test lint schema seed migrate cluster clean bench

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

cluster: $(VENV)/.installed  ## two instances on ports 8001 and 8002 sharing PostgreSQL and Redis
	createdb -h 127.0.0.1 -U postgres commpulse 2>/dev/null || true
	COMMPULSE_DATABASE_URL=$(CLUSTER_DATABASE_URL) $(BIN)/commpulse migrate
	trap 'kill 0' INT TERM EXIT; \
	for port in 8001 8002; do \
	  COMMPULSE_DATABASE_URL=$(CLUSTER_DATABASE_URL) COMMPULSE_BROADCAST_URL=$(CLUSTER_BROADCAST_URL) \
	    $(BIN)/commpulse serve --host $(HOST) --port $$port & \
	done; wait

migrate: $(VENV)/.installed  ## bring COMMPULSE_DATABASE_URL to the newest schema revision
	$(BIN)/commpulse migrate

seed: $(VENV)/.installed
	$(BIN)/commpulse seed

# node tools for the GraphQL-over-HTTP audit test; without node that test skips (fails in CI)
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the graphql-http audit test will be skipped"; fi

test: $(VENV)/.installed-test node_modules/.installed  ## lint, type-check and run the whole suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)/.installed-test  ## fan-out p99 against a raw websocket broadcast, 1,000 and 5,000 subscribers
	$(BIN)/python -m bench.fanout 1000 5000

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(VENV)/.installed  ## write schema.graphql from the live schema, for review
	$(BIN)/python -c "from schema import schema; print(schema.as_str())" > schema.graphql

clean:
	rm -rf $(VENV) node_modules commpulse.db commpulse.db-wal commpulse.db-shm
