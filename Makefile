# Every target creates .venv when it is missing, so a fresh clone needs nothing installed by hand.
# Each install has its own stamp: `make demo` installs what the demo runs (the cli and sandbox extras),
# `make console` adds the console extra, `make test` the dev tools on top; each reinstalls when
# pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.installed-demo
CONSOLE_STAMP := $(VENV)/.installed-console
DEV_STAMP := $(VENV)/.installed

.PHONY: demo console test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli,sandbox]'
	touch $@

$(CONSOLE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli,sandbox,console]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/python -m horde_users.cli.demo

console: $(CONSOLE_STAMP)
	$(BIN)/python -m horde_users.cli.demo --console

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src tests bench
	$(BIN)/python -m tests.client.twins

# Two workers: most tests wait on sockets, subprocesses and timeouts rather than on the CPU.
test: lint
	$(BIN)/pytest -n 2 --dist worksteal

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-bench .pytest_cache .mypy_cache .ruff_cache
