# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the library alone, which is all `make demo` needs (the dev extras add about 40 s of install)
CORE_STAMP := $(VENV)/.installed-core

.PHONY: test test-min demo install lint bench clean

$(CORE_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# The suite on the lowest dependency versions pyproject.toml declares (constraints-min.txt).
VENV_MIN := .venv-min
$(VENV_MIN)/.installed: pyproject.toml constraints.txt constraints-min.txt
	test -x $(VENV_MIN)/bin/python || $(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MIN)/bin/python -m pip install --quiet -c constraints.txt -c constraints-min.txt -e '.[dev]'
	touch $@

test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pytest -q

demo: $(CORE_STAMP)
	$(BIN)/levrf demo

bench: $(STAMP)
	$(BIN)/python benchmarks/collect.py

clean:
	rm -rf $(VENV) $(VENV_MIN) levrf-report .pytest_cache
