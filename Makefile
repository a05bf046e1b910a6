# One command each, on a fresh machine with Python 3.11+:
#   make site   set up, check the catalog, build the site into site/
#   make test   set up, lint, type-check and run every test
# `make quick` skips the slow tests (real Envoy) for a fast local loop.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup toolchains site serve prove test quick lint clean

setup: $(STAMP) toolchains

# The sample filters' toolchains, from Debian: clang 14 and lld 14 for the C filters. Node.js and
# npm (for the AssemblyScript filter) come with the machine. Installed only when missing.
toolchains:
	@if ! command -v clang-14 >/dev/null || ! command -v wasm-ld-14 >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 lld-14 >/dev/null; \
	  else echo "missing toolchain: run 'sudo apt-get install clang-14 lld-14' (Debian 12)" >&2; exit 1; fi; \
	fi
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "missing toolchain: install Node.js 20 and npm" >&2; exit 1; }

# Everything is pinned: direct dependencies in pyproject.toml, the rest in constraints.txt.
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Building the site needs no toolchain and no network: the metadata is checked, the binaries are
# not (CI proves them with `make prove` / the test suite).
site: $(STAMP)
	$(VENV)/bin/catalog validate --metadata-only
	$(VENV)/bin/mkdocs build --strict

prove: setup
	$(VENV)/bin/catalog validate --deep --rebuild

serve: $(STAMP)
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

lint: setup
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/ruff format --check generator tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/catalog schema --check

test: lint
	$(PY) -m pytest

quick: setup
	$(PY) -m pytest -m 'not slow' -q

clean:
	rm -rf $(VENV) site .catalog-cache
