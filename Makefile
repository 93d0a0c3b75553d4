# ConvNet Playground. `make build` builds the site into build/site; `make test` runs the test suite.
# Both create/update the virtual environment first (`make install`).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install build precompute featurevis render serve test test-fast bench lint browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The JavaScript linter (Biome, pinned in package.json + package-lock.json) comes from npm; without npm the
# site still builds and the Python checks still run.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "npm not found: skipping the JavaScript linter (Biome); install Node.js + npm to lint site_templates/static"; fi

install: $(NODE_STAMP)

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

lint: install
	$(BIN)/ruff check precompute tests benchmarks
	$(BIN)/ruff format --check precompute tests benchmarks
	@if [ -x node_modules/.bin/biome ]; then node_modules/.bin/biome check site_templates/static; \
	else echo "npm not found: skipping biome (the JavaScript linter)"; fi

# The whole suite under the TensorFlow backend, then the backend-sensitive tests again under JAX.
test: install browser lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -m backend $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf build
