# Two commands: `make up` starts the platform, `make test` runs the whole suite.
# Both install what is missing into .venv first (torch pinned to the CPU build by constraints.txt).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_FLAGS ?= --disable-pip-version-check -q

.PHONY: up test install lint format services clean-venv

$(STAMP): pyproject.toml sdk/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ./sdk -e '.[dev]'
	@touch $@

install: $(STAMP)

up: install
	$(BIN)/plinth import-local
	$(BIN)/plinth up

services:
	@bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install services lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
