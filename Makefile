# ConvNet Playground. `make build` builds the site into build/site; `make test` runs the test suite.
# `make build` installs the runtime dependencies first (`make install`); test, lint and bench add the dev extra.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install install-dev build precompute featurevis render serve test test-fast bench lint browser clean

install: $(STAMP)

# The installer is uv (Astral's, bootstrapped into the venv with pip): the same versions as pip resolves, in
# about 15 s instead of pip's 60-80 s on 2 cores (pip unpacks and byte-compiles TensorFlow's ~20,000 files on
# one core). --compile-bytecode keeps the .pyc files that pip would write: without them every process would
# compile TensorFlow again on import (8 s -> 17 s where PYTHONDONTWRITEBYTECODE is set). Where uv cannot be
# installed, pip does the work.
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
define venv_install
	@if $(PIP) 'uv>=0.5' >/dev/null 2>&1; then $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python $(1); \
	else echo "uv could not be installed: installing with pip (slower)"; $(PIP) $(1); fi
endef

# `make build` needs only the runtime dependencies; tests, linters and benchmarks add the `dev` extra.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call venv_install,-e .)
	@touch $(STAMP)

install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) pyproject.toml
	$(call venv_install,-e '.[dev]')
	@touch $(DEV_STAMP)

# The JavaScript linter (Biome, pinned in package.json + package-lock.json) comes from npm; without npm the
# site still builds and the Python checks still run.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: skipping the JavaScript linter (Biome); install Node.js + npm to lint site_templates/static"; fi


build: install
	$(BIN)/playground build $(ARGS)

precompute: install
	$(BIN)/playground precompute $(ARGS)

featurevis: install
	$(BIN)/playground featurevis $(ARGS)

render: install
	$(BIN)/playground render $(ARGS)

serve: install
	$(BIN)/playground serve $(ARGS)

# Debian's Chromium drives the browser tests (Playwright cannot download its own browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install-dev $(NODE_STAMP)
	$(BIN)/ruff check precompute tests benchmarks
	$(BIN)/ruff format --check precompute tests benchmarks
	@if [ -x node_modules/.bin/biome ]; then node_modules/.bin/biome check site_templates/static; \
	else echo "npm not found: skipping biome (the JavaScript linter)"; fi

# The whole suite under the TensorFlow backend, then the backend-sensitive tests again under JAX.
# Two pytest-xdist workers, a test file each at a time (module fixtures are built once); the expensive shared
# builds (the trained playground-net, the real site) are made once per run (tests/helpers.py: once_per_run).
XDIST ?= -n 2 --dist loadfile

test: install-dev browser lint
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
	KERAS_BACKEND=jax $(BIN)/python -m pytest $(XDIST) -m backend $(PYTEST_ARGS)

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf build
