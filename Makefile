# wasmgrid — one entry point for developers and CI. Every target bootstraps its own env.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
PY := .venv/bin/python
PROTO_OUT := libs/common/src
PROTOS := $(shell find protos -name '*.proto' | sort)
SRC := libs services tests bench scripts deploy conftest.py

.PHONY: install up test check fmt protos check-protos examples bench lint typecheck clean screenshots

.venv/.installed: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --all-packages --locked
	@touch $@

install: .venv/.installed

up: install
	.venv/bin/wasmgrid dev up

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	.venv/bin/ruff check $(SRC)
	.venv/bin/ruff format --check $(SRC)

typecheck: install
	.venv/bin/mypy $(SRC)

check: lint typecheck check-protos deploy-check

fmt: install
	.venv/bin/ruff check --fix $(SRC)
	.venv/bin/ruff format $(SRC)

protos: install
	$(PY) scripts/gen_protos.py

check-protos: install
	$(PY) scripts/gen_protos.py --check

examples:
	$(MAKE) -C examples/modules

# The README's pictures of the web pages, taken by the browser tests (needs Debian's chromium).
screenshots: install
	WASMGRID_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/e2e/test_web_pages.py -p no:cacheprovider

bench: install
	$(PY) -m bench $(BENCH_ARGS)

include deploy/containers/containers.mk

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache

include deploy/k8s/k8s.mk
