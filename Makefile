# Two entry points for a fresh Debian machine: `make demo` and `make test`.
# Both create .venv and install what they need, Debian packages included.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Salt in a venv of its own (its dependencies are not the collection's): the tests of
# Salt's etcd modules against corral-store use it
SALT_VENV := $(VENV)/salt
SALT_STAMP := $(SALT_VENV)/.installed

.PHONY: demo test lint bench bench-smoke system-deps clean

$(STAMP): pyproject.toml scripts/system-deps.sh
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,ansible,bench]'
	touch $(STAMP)

$(SALT_STAMP): $(STAMP)
	$(PYTHON) -m venv $(SALT_VENV)
	$(SALT_VENV)/bin/pip install -q 'salt>=3007' 'python-etcd==0.4.5'
	touch $(SALT_STAMP)

system-deps:
	bash scripts/system-deps.sh

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/mypy

test: $(STAMP) $(SALT_STAMP) lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run --check

bench-smoke: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run --smoke

clean:
	rm -rf $(VENV) tests/output .pytest_cache
