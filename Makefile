# ConvNet Playground. `make build` builds the site into build/site; `make test` runs the test suite.
# `make build` installs the runtime dependencies first (`make install`); test, lint and bench add the dev extra.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install install-dev install-latest lock build precompute featurevis render serve test test-fast bench bench-smoke lint browser clean

install: $(STAMP) $(NODE_STAMP)

# Installs are locked: requirements.lock (runtime) and requirements-dev.lock (runtime + the `dev` extra) pin every
# package of the environment with hashes, for Python 3.11 and 3.12 (one universal lock, markers where they differ).
# pyproject.toml keeps ranges for people who `pip install` the package into an environment of their own.
# The installer is uv (Astral's, pinned, kept in .venv/.tools so that `uv pip sync` never removes itself): it
# installs exactly the lock, byte-compiled (--compile-bytecode: without the .pyc files every process compiles
# TensorFlow again on import, 8 s -> 17 s where PYTHONDONTWRITEBYTECODE is set), in ~30 s where pip takes 60-85 s.
# Where uv cannot be installed, pip installs the same pins (--require-hashes), then the package without deps.
UV_VERSION := 0.13.9
UV := $(VENV)/.tools/bin/uv
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
define venv_install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if test -x $(UV) || $(BIN)/python -m pip install -q --disable-pip-version-check --target $(VENV)/.tools 'uv==$(UV_VERSION)' >/dev/null 2>&1; then \
	  $(UV) pip sync -q --compile-bytecode --python $(BIN)/python $(1) && \
	  $(UV) pip install -q --compile-bytecode --no-deps --python $(BIN)/python -e .; \
	else echo "uv could not be installed: installing the same pins with pip (slower)"; \
	  $(PIP) --require-hashes --no-deps -r $(1) && $(PIP) --no-deps --no-build-isolation -e .; fi
endef

# `make build` needs only the runtime dependencies; tests, linters and benchmarks add the `dev` extra.
$(STAMP): requirements.lock pyproject.toml
	$(call venv_install,requirements.lock)
	@rm -f $(DEV_STAMP)
	@touch $(STAMP)

install-dev: $(DEV_STAMP)

$(DEV_STAMP): requirements-dev.lock pyproject.toml
	$(call venv_install,requirements-dev.lock)
	@touch $(STAMP) $(DEV_STAMP)

# Refresh the locks from pyproject.toml's ranges (the newest versions they allow today), for every Linux x86-64,
# macOS arm64 and Windows Python >= 3.11 (uv's universal resolution). The runtime lock comes first and constrains the
# dev lock, so `make install` and `make install-dev` agree on every package they share. Commit both files.
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes -q
lock:
	@test -x $(UV) || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install -q --target $(VENV)/.tools 'uv==$(UV_VERSION)'; }
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) $(LOCK_ARGS) -c requirements.lock -o requirements-dev.lock

# The newest versions pyproject.toml allows, no lock (CI's weekly drift job): what a user's `pip install` gets today.
install-latest:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install -q --target $(VENV)/.tools 'uv==$(UV_VERSION)'
	$(UV) pip install -q --compile-bytecode --upgrade --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP) $(DEV_STAMP)

# From npm (pinned in package.json + package-lock.json): ONNX Runtime Web, which the build copies into the site
# for the in-browser own-image search, and the JavaScript linter (Biome). Without npm the site still builds (its
# page says the own-image search needs `playground serve` there) and the Python checks still run.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: the site is built without the in-browser own-image search (onnxruntime-web), and biome does not lint site_templates/static; install Node.js + npm for both"; fi


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
# PLAYGROUND_CHROMIUM names another Chromium/Chrome instead (GitHub's runners use their Chrome).
browser:
	@test -n "$$PLAYGROUND_CHROMIUM" || command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install-dev $(NODE_STAMP)
	$(BIN)/ruff check precompute tests benchmarks docs
	$(BIN)/ruff format --check precompute tests benchmarks docs
	@if [ -x node_modules/.bin/biome ]; then node_modules/.bin/biome check site_templates/static; \
	else echo "npm not found: skipping biome (the JavaScript linter)"; fi

# The whole suite under the TensorFlow backend, then the backend-sensitive tests again under JAX. Two pytest-xdist
# workers, a test file each at a time (module fixtures are built once), costliest first, and the tests that share
# an expensive build (the trained playground-net, the built sites) on one worker that builds it once
# (tests/scheduling.py). The benchmark smoke runs (the GPU-check dry run) are `make bench-smoke`.
XDIST ?= -n 2 --dist loadfile

test: install-dev browser lint
	$(BIN)/python -m pytest $(XDIST) -m "not bench" $(PYTEST_ARGS)
	KERAS_BACKEND=jax $(BIN)/python -m pytest $(XDIST) -m "backend and not bench" $(PYTEST_ARGS)

bench-smoke: install-dev
	$(BIN)/python -m pytest -m bench $(PYTEST_ARGS)

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf build
