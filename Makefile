# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
DATA ?= data
# The sample county lives in its own folder, laid out like a data folder (inbox/, warehouse.duckdb, reports/):
# make targets never touch $(DATA)/inbox, the real inbox (FUND_PIPELINE_INBOX's default), nor the real warehouse.
SAMPLE ?= $(DATA)/sample
SCALE ?= 0.02

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export FUND_PIPELINE_DATA_DIR ?= $(abspath $(DATA))
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

## (Re)make the sample county's spreadsheets in $(SAMPLE)/inbox; refuses a folder the sample did not make.
sample: $(STAMP)
	@if [ -d $(SAMPLE)/inbox ] && [ ! -f $(SAMPLE)/inbox/sample.json ]; then \
	  echo "$(SAMPLE)/inbox 不是样例县生成的文件夹,不会删除;请用 SAMPLE=其他文件夹" >&2; exit 1; fi
	rm -rf $(SAMPLE)/inbox
	$(BIN)/fund-pipeline sample --out $(SAMPLE)/inbox --scale $(SCALE)

## Build the environment, make the sample county and run the whole pipeline on it, into its own DuckDB
## warehouse, reports and landing cache under $(SAMPLE)/. A sample this code already made, unedited, is used
## as it is. The cache is the sample's own: a run prunes the entries of files its inbox no longer has, so one
## shared with the real inbox would lose the real files' entries (FUND_PIPELINE_CACHE=off is respected).
run: $(STAMP)
	$(BIN)/fund-pipeline sample --out $(SAMPLE)/inbox --scale $(SCALE) --reuse
	FUND_PIPELINE_CACHE=$(if $(filter off,$(FUND_PIPELINE_CACHE)),off,$(abspath $(SAMPLE))/cache) \
	$(BIN)/fund-pipeline run --inbox $(SAMPLE)/inbox --warehouse duckdb:///$(SAMPLE)/warehouse.duckdb \
	  --reports $(SAMPLE)/reports

## The Dagster UI and daemon on this machine (http://127.0.0.1:3000).
dev: $(STAMP)
	$(BIN)/dagster dev -w workspace.yaml

## The whole test suite; starts a local PostgreSQL for the PostgreSQL tests when the server is installed.
test: $(STAMP)
	@. .ci/postgres.sh && $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check fund_pipeline fund_pipeline_tests benchmarks

## A county-year through the naive stack and through fund_pipeline on DuckDB and PostgreSQL, re-drops and a
## clerk's check, into benchmarks/results.md (docs/benchmarks.md). Quick run: make bench BENCH_ARGS="--scale 0.02"
bench: $(STAMP)
	@. .ci/postgres.sh && $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

## Generated files only: the sample county ($(SAMPLE)/: its spreadsheets, warehouse, reports and cache) and build
## output. Never the real inbox, warehouse, reports or Dagster run history ($(DATA)/…, .dagster_home).
clean:
	@if [ -f $(SAMPLE)/inbox/sample.json ]; then rm -rf $(SAMPLE)/inbox; fi
	rm -rf $(SAMPLE)/warehouse.duckdb $(SAMPLE)/warehouse.duckdb.wal $(SAMPLE)/warehouse.duckdb.tmp $(SAMPLE)/reports $(SAMPLE)/cache \
	  dbt/target dbt/logs .pytest_cache
	@rmdir $(SAMPLE) 2>/dev/null || true
