# `make demo` and `make test` set everything up themselves: a .venv in the repo, the Python
# packages, and the embedded Elasticsearch's jars (resolved with Maven on first use).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export MEDIAMON_HOME ?= $(CURDIR)/.mediamon

.PHONY: demo test lint bench es-start es-stop clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# The tests also run the DAGs on a real Airflow; the demo does not need it.
$(BIN)/.installed-airflow: $(BIN)/.installed
	$(BIN)/pip install -q -e ".[test,airflow]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mediamon demo

test: $(BIN)/.installed-airflow
	$(BIN)/pytest

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
