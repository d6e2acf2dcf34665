# The two commands: `make demo` runs a day end to end, `make test` runs the suite.
# `make airflow` starts a real local Airflow for the project (Ctrl-C stops it).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint bench bench-city airflow clean stop

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m grassroots demo

# The suite's files run in a worker per core, at most 4, a file per worker at a time (module
# fixtures build their days once; the files that read one of the session's shared runs, demo_run or
# warehouse_days, share one worker, so it runs once: tests/conftest.py's xdist groups), each worker with an embedded server of its own. (On 2 cores,
# 3 workers took 2134 s against 1943 s for 2: the multi-day fixtures slow each other down.) On
# WAREHOUSE_DSN's server the workers would share its roles, so the suite runs in one process
# there (as with `make test TEST_WORKERS=0`).
TEST_WORKERS ?= $(if $(WAREHOUSE_DSN),0,$(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n))

test: setup
	scripts/system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# The developer loop: unit tests and the DAG files' import check, no pipeline run (about a minute).
test-fast: setup
	scripts/system-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) tests/unit tests/dags/test_dagbag.py --durations=15

lint: setup
	$(BIN)/ruff check plugins dags tests bench
	$(BIN)/ruff format --check plugins dags tests bench
	@! grep -rnE "fmt: (skip|off)" plugins dags tests bench --include=*.py || (echo "the formatter lays out every line: no fmt: skip/off" && false)
	$(BIN)/sqlfluff lint dbt

bench: setup
	$(BIN)/python bench/loader_throughput.py --repeat 3
	$(BIN)/python bench/task_startup.py

# A city's days through the DAGs' tasks (not part of `make test`): RESIDENTS=1000000 DAYS=3 by default.
RESIDENTS ?= 1000000
DAYS ?= 3
bench-city: setup
	$(BIN)/python bench/city.py --residents $(RESIDENTS) --days $(DAYS)

airflow: setup
	$(BIN)/python -m grassroots airflow

stop:
	$(BIN)/python -m grassroots db stop

clean: stop
	rm -rf .grassroots
