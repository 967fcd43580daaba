# Two commands matter: `make demo` and `make test`. Both bootstrap .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench prompts sysdeps clean serve

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Node packages the browser tests use (axe-core for accessibility), pinned by package-lock.json.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json | sysdeps
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

# System packages the suite needs (ffmpeg for pydub, chromium for browser tests,
# espeak-ng and sox for generated prompts). Installed only when missing and apt is usable.
sysdeps:
	@scripts/sysdeps.sh

demo: $(STAMP) sysdeps
	$(BIN)/contact-center demo

serve: $(STAMP)
	$(BIN)/contact-center serve

lint: $(STAMP)
	$(BIN)/ruff check contact_center tests bench
	$(BIN)/ruff format --check contact_center tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Parallel (pytest-xdist): every test has its own schema, Redis prefix and database per worker.
# TEST_WORKERS=0 runs in one process (e.g. to debug with -s).
TEST_WORKERS ?= 2
test: $(STAMP) sysdeps $(NODE_STAMP) lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) tests/unit

bench: $(STAMP) sysdeps
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

prompts: $(STAMP) sysdeps
	$(BIN)/contact-center ivr prompts

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache data node_modules
