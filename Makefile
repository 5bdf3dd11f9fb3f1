# Tally: one entry point. `make dev` runs the local stack, `make test` runs every check.
# Both bootstrap what they need (uv, the locked environment, the SAM CLI) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS        := $(CURDIR)/.tools
UV_VERSION   := 0.13.8
SAM_VERSION  := 1.170.0
UV           := $(TOOLS)/uv/bin/uv
SAM          := $(TOOLS)/sam/bin/sam
VENV         := $(CURDIR)/.venv
PY           := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)
export SAM_CLI_TELEMETRY := 0

.PHONY: help dev test lint typecheck sam-lint scan unit integration e2e build reproducible requirements bench openapi bootstrap clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(TOOLS)/uv/bin/uv:
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet "uv==$(UV_VERSION)"

$(TOOLS)/python313: scripts/find-python313.sh | $(UV)
	@mkdir -p $(TOOLS)
	scripts/find-python313.sh $(UV) > $@.tmp && mv $@.tmp $@

$(VENV)/.synced: uv.lock pyproject.toml $(TOOLS)/python313 | $(UV)
	$(UV) sync --locked --python "$$(cat $(TOOLS)/python313)"
	@touch $@

$(SAM): | $(UV) $(TOOLS)/python313
	UV_TOOL_DIR=$(TOOLS)/uv-tools UV_TOOL_BIN_DIR=$(TOOLS)/sam/bin \
		$(UV) tool install --quiet --python "$$(cat $(TOOLS)/python313)" "aws-sam-cli==$(SAM_VERSION)"

# checkov pins a boto3 older than the runtime's, so it has its own locked project
# (tools/checkov, docs/decisions/0007-checkov-in-its-own-locked-environment.md).
CHECKOV_ENV := $(TOOLS)/checkov
CHECKOV     := $(CHECKOV_ENV)/bin/checkov

$(CHECKOV_ENV)/.synced: tools/checkov/uv.lock tools/checkov/pyproject.toml $(TOOLS)/python313 | $(UV)
	UV_PROJECT_ENVIRONMENT=$(CHECKOV_ENV) $(UV) sync --quiet --locked --project tools/checkov \
		--python "$$(cat $(TOOLS)/python313)"
	@touch $@

bootstrap: $(VENV)/.synced $(SAM) $(CHECKOV_ENV)/.synced ## install uv, the locked environments, the SAM CLI and checkov

dev: $(VENV)/.synced ## run the local stack at http://127.0.0.1:$${PORT:-3000}
	$(PY) -m local

lint: $(VENV)/.synced ## ruff (lint + format check)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.synced ## mypy, strict
	$(PY) -m mypy layers/common functions local tests benchmarks

sam-lint: $(SAM) $(TOOLS)/python313 ## sam validate --lint
	$(SAM) validate --lint --template template.yaml

# Zero unsuppressed findings: each suppression sits in template.yaml next to its resource, with
# its reason. checkov never calls home (--skip-download): the network reaches only registries.
scan: $(VENV)/.synced $(CHECKOV_ENV)/.synced ## cfn-lint with the serverless rules, and checkov, on the template
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --compact --quiet

unit: $(VENV)/.synced
	$(PY) -m pytest tests/unit -q

integration: $(VENV)/.synced
	$(PY) -m pytest tests/integration -q

e2e: $(VENV)/.synced
	$(PY) -m pytest tests/e2e -q

test: bootstrap lint typecheck sam-lint scan ## every check: ruff, mypy, sam lint, scanners, unit, integration, e2e
	$(PY) -m pytest tests -q

# Every file of .aws-sam/build is a function of the commit: bytecode without build paths or
# timestamps, no install records, file times set to the commit's (SOURCE_DATE_EPOCH), so two
# builds of one commit are byte-identical (`make reproducible`) and so are the zips SAM makes.
build: $(SAM) $(TOOLS)/python313 ## sam build (arm64 layer with bytecode, no boto3)
	SAM="$(SAM)" UV="$(UV)" TALLY_PYTHON="$$(cat $(TOOLS)/python313)" scripts/sam-build.sh

reproducible: $(SAM) $(TOOLS)/python313 ## build HEAD in two fresh clones and compare them byte for byte
	UV="$(UV)" SAM="$(SAM)" TALLY_PYTHON="$$(cat $(TOOLS)/python313)" scripts/reproducible-build.sh

# The layer's pinned wheels with their hashes: uv.lock's runtime dependencies minus boto3 and
# what only it needs, and urllib3, which requests (stripe) shares with botocore: the Lambda runtime
# provides them. The layer installs them with
# --require-hashes; tests/unit/test_layer_requirements.py catches drift.
LAYER_EXPORT := export --frozen --no-dev --no-emit-project --prune boto3 --prune urllib3 --format requirements-txt

requirements: | $(UV) ## regenerate layers/common/requirements.txt from uv.lock
	$(UV) $(LAYER_EXPORT) > layers/common/requirements.txt.tmp
	mv layers/common/requirements.txt.tmp layers/common/requirements.txt

bench: $(VENV)/.synced ## print the performance figures (BENCH="cold local" for some sections)
	$(PY) -m benchmarks $(BENCH)

openapi: $(VENV)/.synced ## regenerate functions/docs/openapi.json from the routers
	PYTHONPATH=layers/common:functions $(PY) -m docs.generate

clean: ## remove build output and tool environments
	rm -rf .aws-sam $(TOOLS) $(VENV)
