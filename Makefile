# The two commands: `make demo` runs a day end to end, `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean stop

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m grassroots demo

test: setup
	scripts/system-deps
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check plugins dags tests bench
	$(BIN)/ruff format --check plugins dags tests bench

bench: setup
	$(BIN)/python bench/loader_throughput.py --repeat 3

stop:
	$(BIN)/python -m grassroots db stop

clean: stop
	rm -rf .grassroots
