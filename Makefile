# `make demo` and `make test` set everything up themselves: a .venv in the repo, the Python
# packages, and the embedded Elasticsearch's jars (resolved with Maven on first use).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export MEDIAMON_HOME ?= $(CURDIR)/.mediamon
# Airflow and its providers are installed with the project's constraints file for this
# Airflow and Python (README, "Deploy"): the same file the Dockerfile uses.
AIRFLOW_VERSION := 3.3.2
PYTHON_VERSION = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CONSTRAINTS = constraints/airflow-$(AIRFLOW_VERSION)-py$(PYTHON_VERSION).txt

.PHONY: demo test test-deploy lint bench es-start es-stop clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# The tests also run the DAGs on a real Airflow, and test-deploy the services of a
# deployment (Postgres, Celery); the demo needs none of it.
$(BIN)/.installed-airflow: $(BIN)/.installed $(CONSTRAINTS)
	$(BIN)/pip install -q -e ".[test,deploy]" -c $(CONSTRAINTS)
	touch $@

$(CONSTRAINTS):
	@echo "no $@: mediamon has constraints for Airflow $(AIRFLOW_VERSION) on these Pythons:" \
	  $$(ls constraints); exit 1

demo: $(BIN)/.installed
	$(BIN)/mediamon demo

test: $(BIN)/.installed-airflow
	$(BIN)/pytest

# A whole deployment on this machine (tests/deploy): Postgres and Redis from the Debian
# packages postgresql and redis-server, the Airflow services, LocalExecutor then Celery.
test-deploy: $(BIN)/.installed-airflow
	$(BIN)/pytest -m deploy -s tests/deploy

lint: $(BIN)/.installed-airflow
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ingest

# The benchmarks of issue #7 (README "Performance"): `make bench ARGS=--quick` for a short run.
bench: $(BIN)/.installed-airflow
	$(BIN)/python -m benchmarks $(ARGS)

es-start: $(BIN)/.installed
	$(BIN)/mediamon es start

es-stop: $(BIN)/.installed
	$(BIN)/mediamon es stop

clean:
	-$(BIN)/mediamon es stop
	rm -rf $(VENV) .mediamon
