# wasmgrid — one entry point for developers and CI. Every target bootstraps its own env.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
PY := .venv/bin/python
PROTO_OUT := libs/common/src
PROTOS := $(shell find protos -name '*.proto' | sort)
SRC := libs services tests bench fuzz reliability scripts deploy conftest.py
#: `make test` fails when total line coverage is below this (CI sets 90).
COV_FAIL_UNDER ?= 0

.DEFAULT_GOAL := help
.PHONY: help install up test test-fast check fmt protos check-protos deps examples bench lint \
	typecheck hooks clean screenshots

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-11s %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --all-packages --locked
	@touch $@

install: .venv/.installed ## create/refresh .venv from uv.lock (all members + dev tools)

up: install ## start the whole suite (embedded PostgreSQL + Redis); Ctrl-C stops it
	.venv/bin/wasmgrid dev up

test: install ## every test, with line coverage per package (PYTEST_ARGS, COV_FAIL_UNDER)
	rm -f .coverage .coverage.*
	COVERAGE_FILE=$(CURDIR)/.coverage $(PY) -m pytest --cov --cov-report= $(PYTEST_ARGS); \
	tests=$$?; $(PY) scripts/coverage_report.py --fail-under $(COV_FAIL_UNDER); \
	cover=$$?; exit $$(( tests ? tests : cover ))

test-fast: install ## the unit tests only: no servers, no processes (well under a minute)
	$(PY) -m pytest -m "not integration and not containers" $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check $(SRC)
	.venv/bin/ruff format --check $(SRC)

typecheck: install
	.venv/bin/mypy $(SRC)

check: lint typecheck check-protos deps deploy-check ## read-only: ruff, ruff format, mypy strict, proto drift, deps, manifests

fmt: install ## apply ruff fixes and formatting
	.venv/bin/ruff check --fix $(SRC)
	.venv/bin/ruff format $(SRC)

protos: install ## regenerate libs/common/src/wasmgrid/api/** from protos/
	$(PY) scripts/gen_protos.py

check-protos: install
	$(PY) scripts/gen_protos.py --check

deps: install ## each workspace member declares exactly what it imports (deptry)
	$(PY) scripts/check_deps.py

hooks: install ## install the git pre-commit hook (runs what `make check` runs)
	.venv/bin/pre-commit install

examples: install ## rebuild examples/modules and examples/components (clang, wasi-libc, npm)
	$(MAKE) -C examples/modules
	$(MAKE) -C examples/components

# The README's pictures of the web pages, taken by the browser tests (needs Debian's chromium).
screenshots: install ## refresh docs/screenshots from the browser tests (needs chromium)
	WASMGRID_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/e2e/test_web_pages.py -p no:cacheprovider

bench: install ## benchmarks beside their baselines (BENCH_ARGS; needs wrk)
	$(PY) -m bench $(BENCH_ARGS)

clean: ## remove the venv and tool caches
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*

include deploy/containers/containers.mk
include deploy/k8s/k8s.mk
include reliability/reliability.mk
