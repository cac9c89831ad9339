# Two commands: `make up` starts the platform, `make test` runs the whole suite.
# Both install what is missing into .venv first (torch pinned to the CPU build by constraints.txt).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP_FLAGS ?= --disable-pip-version-check -q
PYTEST_ARGS ?= --durations=25  # the slowest tests, to keep `make test` within its 15 minutes

.PHONY: up test install lint format services browser clean-venv console console-test schema-check

$(STAMP): pyproject.toml sdk/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ./sdk -e '.[dev]'
	@touch $@

install: $(STAMP)

# The console (frontend/): rebuilt when missing or older than its sources.
CONSOLE_SRC := $(shell find frontend/src frontend/scripts -type f 2>/dev/null) \
	frontend/index.html frontend/package.json frontend/package-lock.json \
	frontend/schema.graphql frontend/vite.config.ts frontend/tsconfig.json
CONSOLE_DEPS := frontend/node_modules/.package-lock.json

$(CONSOLE_DEPS): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend/dist/index.html: $(CONSOLE_SRC) $(CONSOLE_DEPS)
	cd frontend && npm run build

console: frontend/dist/index.html

console-test: $(CONSOLE_DEPS)
	cd frontend && npm test

# The console's copy of the GraphQL schema must match the server's.
schema-check: install $(CONSOLE_DEPS)
	$(BIN)/python -c "from backend.graphql.schema import build_schema; print(build_schema().as_str())" \
		| (cd frontend && npm run -s schema:check -- -)

up: install console
	$(BIN)/plinth import-local
	$(BIN)/plinth up

services:
	@bash scripts/ensure-services.sh

browser:
	@bash scripts/ensure-browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The checks before pytest run two at a time (mypy and the console's tests take a core each).
test: install services browser
	@$(MAKE) --no-print-directory -j2 lint schema-check console console-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
