# Two commands do all set-up: `make run` and `make test`. Both build .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
CLUSTER_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/commpulse
CLUSTER_BROADCAST_URL ?= redis://127.0.0.1:6379
CLUSTER_TOKEN ?= .cluster-token
CLUSTER_PORTS ?= 8001 8002
PORT ?= 8000
# `make test` runs pytest on this many processes (pytest-xdist), a whole file to each: most
# tests wait on a server subprocess or a database, so two keep both cores of a CI machine
# busy. A file's module-scoped servers start once. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
# a local session serves without auth, on loopback only (the server refuses anything else);
# COMMPULSE_AUTH=on make run serves with tokens (`commpulse tokens create NAME --role admin`)
COMMPULSE_AUTH ?= off
export HOST PORT COMMPULSE_AUTH

.PHONY: run test lint schema seed migrate cluster clean vendor vendor-update board typecheck bench

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

cluster: $(VENV)/.installed  ## two instances (CLUSTER_PORTS) sharing PostgreSQL and Redis, auth on
	COMMPULSE_DATABASE_URL=$(CLUSTER_DATABASE_URL) $(BIN)/commpulse migrate --create
	@COMMPULSE_DATABASE_URL=$(CLUSTER_DATABASE_URL) COMMPULSE_BROADCAST_URL=$(CLUSTER_BROADCAST_URL) \
	  $(BIN)/commpulse tokens ensure cluster-admin --role admin --file $(CLUSTER_TOKEN)
	@echo "Send it as Authorization: Bearer <token>, for example:"
	@echo "  curl -H \"Authorization: Bearer \$$(cat $(CLUSTER_TOKEN))\" -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"query\": \"{ statusCounts { kind status count } }\"}' http://$(HOST):$(firstword $(CLUSTER_PORTS))/graphql"
	@echo "  websockets: connection_init payload {\"Authorization\": \"Bearer <token>\"}"
	@# Ctrl-C stops both, and waits for them; each server gets one signal. The terminal sends
	@# SIGINT to the whole process group, the servers included, so on INT this shell only waits:
	@# uvicorn takes a SIGINT after any first signal as a forced exit, which skips the lifespan's
	@# shutdown, and the SIGTERM this trap used to send could be handled before the SIGINT. A
	@# TERM sent to this shell (or to make, which passes it on) is passed to the servers, not
	@# with `kill 0`: that signalled this shell too, which ran the trap again until sh crashed.
	@# (sh starts them with SIGINT ignored, until uvicorn's handler: a Ctrl-C before they serve is
	@# lost on them, and the next one stops them.)
	pids=; for port in $(CLUSTER_PORTS); do \
	  COMMPULSE_AUTH=on COMMPULSE_DATABASE_URL=$(CLUSTER_DATABASE_URL) \
	  COMMPULSE_BROADCAST_URL=$(CLUSTER_BROADCAST_URL) \
	    $(BIN)/commpulse serve --host $(HOST) --port $$port & pids="$$pids $$!"; \
	done; trap wait INT; trap 'kill $$pids 2>/dev/null; wait' TERM; wait

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
	$(MAKE) --no-print-directory typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# requests a second against a bare strawberry app and raw Starlette (wrk when installed, else
# Python clients); fan-out p99 against a raw websocket broadcast, 1,000, 5,000 and 10,000 subscribers
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.requests
	$(BIN)/python -m bench.writes
	$(BIN)/python -m bench.stop_million --engines sqlite,postgres
	$(BIN)/python -m bench.fanout 1000 5000 10000
	$(BIN)/python -m bench.release 1000 5000

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: $(VENV)/.installed  ## write schema.graphql from the live schema, for review
	$(BIN)/python -c "from schema import schema; print(schema.as_str())" > schema.graphql

# GraphiQL's files (React, GraphiQL, its explorer plugin, graphql-ws), pinned in package.json,
# copied into server/static/vendor with their licences; fails if one differs from the sha256
# in server/static/vendor/MANIFEST.json. After bumping a pin: `make vendor-update`, review, commit.
vendor: node_modules/.installed
	node web/vendor.mjs

vendor-update: node_modules/.installed
	node web/vendor.mjs --update

# The status board (web/board, TypeScript): types for its .graphql operations from
# schema.graphql (@graphql-codegen), then the bundle server/static/board/board.js (esbuild),
# which is committed; a test fails while it differs from a fresh build.
board: node_modules/.installed
	node web/build.mjs

# The board type-checked against schema.graphql: a schema change that breaks it fails here.
typecheck:
	@if [ -x node_modules/.bin/tsc ]; then node web/build.mjs --types && node_modules/.bin/tsc --noEmit -p web; \
	else echo "node tools not installed: the board's type-check is skipped"; fi

clean:
	rm -rf $(VENV) node_modules commpulse.db commpulse.db-wal commpulse.db-shm
