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

# Debian packages, installed only when missing (as root; otherwise the error says what to install),
# each job taking what it needs: `make site` nothing, a release the toolchain of its recipe,
# `make test` all of them. A package is named by a command it provides (or a file, from '/').
#   toolchain-clang           the C filters' recipe: clang 14 and lld 14
#   toolchain-assemblyscript  the AssemblyScript recipe: Node.js 20 and npm (checked, not installed: see below)
#   toolchain-wat, -url       nothing: WAT is compiled by wasmtime, a release URL is downloaded
#   toolchain-browser         chromium, for the site's browser tests (Playwright; never a downloaded browser)
#   toolchain-bench           the load generators of `catalog filter bench` (wrk, h2load) and openssl
#   toolchain-github          gh and jq, for the workflows that talk to GitHub
define debian
	@missing=""; for pair in $(1); do tool=$${pair%%=*}; package=$${pair#*=}; \
	  case "$$tool" in /*) test -x "$$tool" ;; *) command -v "$$tool" > /dev/null ;; esac || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing > /dev/null; \
	  else echo "missing:$$missing; run 'sudo apt-get install$$missing' (Debian 12)" >&2; exit 1; fi; \
	fi
endef

.PHONY: toolchain-clang toolchain-assemblyscript toolchain-wat toolchain-url toolchain-browser toolchain-bench toolchain-github
toolchain-clang:
	$(call debian,clang-14=clang-14 wasm-ld-14=lld-14)
# Node.js is not Debian's (18): the AssemblyScript recipe pins major NODE_MAJOR, as NodeSource's
# nodejs or actions/setup-node provide it.
NODE_MAJOR := 20
toolchain-assemblyscript:
	@case "$$(node --version 2> /dev/null)" in v$(NODE_MAJOR).*) ;; \
	  *) echo "missing: Node.js $(NODE_MAJOR) (found: $$(node --version 2> /dev/null || echo none)); install NodeSource's nodejs $(NODE_MAJOR).x (Debian 12's is 18), or in CI use actions/setup-node" >&2; exit 1 ;; \
	esac
	@command -v npm > /dev/null || { echo "missing: npm, which comes with Node.js $(NODE_MAJOR)" >&2; exit 1; }
toolchain-wat toolchain-url:
	@:
toolchain-browser:
	$(call debian,/usr/bin/chromium=chromium)
toolchain-bench:
	$(call debian,wrk=wrk h2load=nghttp2-client openssl=openssl)
toolchain-github:
	$(call debian,gh=gh jq=jq)

toolchains: toolchain-clang toolchain-assemblyscript toolchain-browser toolchain-bench

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

lint: $(STAMP) $(LINTERS)
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

test: lint toolchains
	$(PY) -m pytest -n $(WORKERS)

quick: setup
	$(PY) -m pytest -n $(WORKERS) -m 'not slow' -q

clean:
	rm -rf $(VENV) site .catalog-cache test-artifacts
