# One command each, on a fresh machine with Python 3.11+:
#   make site   set up, check the catalog, build the site into site/
#   make test   set up, lint, type-check and run every test
# `make quick` skips the slow tests (real Envoy) for a fast local loop.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup venv toolchains site serve prove test quick lint clean

setup: $(STAMP) toolchains

# The Python environment alone (the `catalog` command): what the trusted review workflow needs.
venv: $(STAMP)

# From Debian, installed only when missing: clang 14 and lld 14 for the C filters, chromium for
# the site's browser tests (driven by Playwright; never a downloaded browser), the load generators
# of `catalog filter bench` (wrk, h2load from nghttp2-client) and openssl for its TLS certificates.
# Node.js and npm (for the AssemblyScript filter) come with the machine.
toolchains:
	@missing=""; \
	command -v clang-14 >/dev/null || missing="$$missing clang-14"; \
	command -v wasm-ld-14 >/dev/null || missing="$$missing lld-14"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing (Debian)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing; run 'sudo apt-get install$$missing' (Debian 12)" >&2; exit 1; fi; \
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
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

prove: setup
	$(VENV)/bin/catalog validate --deep --rebuild

serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

# The workflow linters are prebuilt binaries from PyPI, pinned by hash: their own pip call, since
# --require-hashes applies to everything one call installs.
LINTERS := $(VENV)/.workflow-linters
$(LINTERS): .ci/workflow-linters.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps --only-binary=:all: \
	  -r .ci/workflow-linters.txt
	touch $(LINTERS)

lint: setup $(LINTERS)
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/ruff format --check generator tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/catalog schema --check
	$(VENV)/bin/catalog codeowners --check
	$(VENV)/bin/zizmor --quiet --offline --strict-collection .github/workflows
	$(VENV)/bin/actionlint -shellcheck=$(VENV)/bin/shellcheck -pyflakes= .github/workflows/*.yml
	$(VENV)/bin/shellcheck .github/scripts/*.sh

# Tests run in parallel (pytest-xdist), one worker per core CI has: every test starts its own
# servers on ports the kernel picks and writes only under its own temporary directory.
WORKERS ?= 2

test: lint
	$(PY) -m pytest -n $(WORKERS)

quick: setup
	$(PY) -m pytest -n $(WORKERS) -m 'not slow' -q

clean:
	rm -rf $(VENV) site .catalog-cache test-artifacts
