# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install on first
# use; a second call installs nothing (the stamp file is newer than pyproject.toml).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-fast bench demo clean install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the whole suite (embedded PostgreSQL and NATS unless DATABASE_URL / NATS_URL are set).
run: $(STAMP)
	$(BIN)/python -m deploy.suite run

## With the suite running (`make run` in another terminal): replay 2020 in Quangang through the
## gateway's API. Options: DEMO_ARGS='--households 2000 --seed 7' (python -m deploy.demo --help).
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/python -m deploy.demo $(DEMO_ARGS)

## Run every test (real PostgreSQL, real nats-server, real HTTP through the gateway).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks print their figures (they assert nothing).
bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_gateway
	$(BIN)/python -m tests.bench.bench_events

clean:
	rm -rf $(VENV) .data
