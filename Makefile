# qmatmul: every target installs what it needs first, so a fresh clone needs no manual step.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOARD ?=
MODE ?=
BAUD ?=
LINK ?=
CORE_ONLY ?=

.PHONY: install demo test test-all sim lint format bitstream bench clean help

help:
	@echo "make demo | test | sim | lint | bitstream BOARD=<board> | bench | install | clean"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,workloads,physics]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m sw.cli demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)  # also the larger boards' whole-device models (tests/conftest.py)
	QMATMUL_ALL_DEVICES=1 $(PY) -m pytest -q

sim: $(STAMP)
	$(PY) -m sim

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bitstream: $(STAMP)
	$(PY) -m boards.build $(BOARD) $(if $(MODE),--mode $(MODE)) $(if $(BAUD),--baud $(BAUD)) $(if $(LINK),--link $(LINK)) $(if $(CORE_ONLY),--core-only)

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build sim_build .pytest_cache .hypothesis
