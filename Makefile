# Helpline QA — `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
CONSTRAINTS := requirements/constraints.txt
PACKAGES := -e common[devstore,audio] -e services/transcriber -e services/scorer -e services/gateway
PROTOS := $(shell find protos -name '*.proto')
GEN_DIR := common/src
PROTO_STAMP := $(GEN_DIR)/helpline/.generated
VENV_STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: help
help: ## Show this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.tools: $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c $(CONSTRAINTS) grpcio-tools
	touch $@

$(PROTO_STAMP): $(VENV)/.tools $(PROTOS)
	rm -rf $(GEN_DIR)/helpline
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(GEN_DIR) --grpc_python_out=$(GEN_DIR) \
		--pyi_out=$(GEN_DIR) $(PROTOS)
	find $(GEN_DIR)/helpline -type d -exec touch {}/__init__.py \;
	touch $@

.PHONY: proto
proto: $(PROTO_STAMP) ## Generate the Python gRPC code from protos/ into common/src/helpline

$(VENV_STAMP): $(VENV)/.tools $(PROTO_STAMP) $(CONSTRAINTS) requirements/dev.in common/pyproject.toml \
		services/transcriber/pyproject.toml services/scorer/pyproject.toml services/gateway/pyproject.toml
	$(PIP) install -c $(CONSTRAINTS) -r requirements/dev.in \
		--config-settings editable_mode=compat $(PACKAGES)
	touch $@

# espeak-ng and sox make the test and demo audio; installed once, as root, where missing.
$(SYSTEM_STAMP): | $(VENV)/.tools
	if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng sox >/dev/null; \
		else echo "please install espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; fi; \
	fi
	touch $@

.PHONY: venv
venv: $(VENV_STAMP) $(SYSTEM_STAMP) ## Create .venv with pinned packages and the helpline-qa command

.PHONY: test
test: venv deploy-check ## Run the whole test suite (installs everything it needs first)
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest ran no test: that is a failure" >&2; exit $$rc; }

.PHONY: run
run: venv ## Start the object store and the three services, and run the main job
	$(PY) -m scripts.devrun $(RUN_ARGS)

.PHONY: lint
lint: venv ## ruff, and buf lint where the buf CLI installs
	$(VENV)/bin/ruff check common/src/helpline_common services tests bench
	if command -v npx >/dev/null && npx --yes @bufbuild/buf@1.50.0 --version >/dev/null 2>&1; then \
		cd protos && npx --yes @bufbuild/buf@1.50.0 lint; else echo "buf not available; skipped buf lint"; fi

.PHONY: deploy-check
deploy-check: ## Render and validate the Kubernetes manifests and lint the Dockerfiles
	if [ -f deploy/check.sh ]; then bash deploy/check.sh; else echo "deploy/check.sh missing" >&2; exit 1; fi

.PHONY: bench
bench: venv ## Benchmarks (bench/README.md); figures go to bench/results/
	$(PY) -m bench

.PHONY: scorer-model
scorer-model: venv ## Train and evaluate the scorer model into var/scorer-model (~60 min with 2 cores; tests and make run use the bundled one)
	$(VENV)/bin/helpline-qa scorer train --out var/scorer-model --annomi-report services/scorer/reports/annomi.json

.PHONY: lock
lock: ## Re-resolve every dependency into requirements/constraints.txt
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -r requirements/dev.in grpcio-tools ./common ./services/transcriber \
		./services/scorer ./services/gateway
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^helpline-' > $(CONSTRAINTS)
	rm -rf .venv-lock

.PHONY: clean
clean: ## Remove the virtualenv, generated code, caches and local data
	rm -rf $(VENV) .tools $(GEN_DIR)/helpline var .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
