# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
DATA ?= data
SCALE ?= 0.02

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export FUND_PIPELINE_DATA_DIR ?= $(CURDIR)/$(DATA)
export DO_NOT_TRACK = 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all venv sample run dev test test-fast lint bench clean

all: run

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@$(BIN)/python -m fund_pipeline.instance_config $(DAGSTER_HOME) >/dev/null
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

sample: $(STAMP)
	$(BIN)/fund-pipeline sample --out $(DATA)/inbox --scale $(SCALE)

## Build the environment, make the sample county and run the whole pipeline on the embedded DuckDB default.
run: $(STAMP)
	@rm -rf $(DATA)/inbox
	$(BIN)/fund-pipeline sample --out $(DATA)/inbox --scale $(SCALE)
	$(BIN)/fund-pipeline run

## The Dagster UI and daemon on this machine (http://127.0.0.1:3000).
dev: $(STAMP)
	$(BIN)/dagster dev -w workspace.yaml

## The whole test suite; starts a local PostgreSQL for the PostgreSQL tests when the server is installed.
test: $(STAMP)
	@. .ci/postgres.sh && $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check fund_pipeline fund_pipeline_tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(DATA) .dagster_home dbt/target dbt/logs .pytest_cache
