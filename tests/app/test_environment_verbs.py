"""The verbs with ENV=, as a user types them: the real `make` in a copy of the project, whose
environments are given as `-c environments=...` (the copy's cdk.json is the tutorial's)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..test_make import project_copy, without_aws
from .environments_scenario import DEV, PROD
from .environments_scenario import stacks as stacks_of

ENVIRONMENTS_ARG = f"-c 'environments={json.dumps({'dev': DEV, 'prod': PROD})}'"


def project(tmp_path: Path) -> Path:
    """A copy of the project with the committed AZ lookups (cdk.context.json) linked."""
    copy = project_copy(tmp_path / "project")
    (copy / "cdk.context.json").symlink_to(ROOT / "cdk.context.json")
    return copy


def make(copy: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the copy, with no AWS credentials to be found."""
    return subprocess.run(["make", "--no-print-directory", *args], cwd=copy,
                          env=without_aws(tmp_path), capture_output=True, text=True,
                          timeout=900, check=False)


@pytest.mark.long
@pytest.mark.cli
def test_make_synth_env_builds_checks_and_summarizes_that_environment(tmp_path: Path) -> None:
    # given a project with dev and prod
    copy = project(tmp_path)

    # when a user synthesizes prod
    result = make(copy, tmp_path, "synth", "ENV=prod", f"CDK_ARGS={ENVIRONMENTS_ARG}")

    # then prod alone is synthesized (offline: no credentials), scanned and summarized with its
    # environment and region; dev was validated, not built
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "environment prod (eu-central-1): 1 stack(s)" in result.stdout, output[-5000:]
    assert "stack prod/EcsPlayground:" in result.stdout
    assert "environment dev" not in result.stdout
    assert list(stacks_of(copy / "cdk.out")) == ["prod/EcsPlayground"]
    assert "prodEcsPlayground" in output  # the scanners named the stage's template


# `make test-long`: a whole `make synth` (make, the CLI, the app) for one message. `make test` holds
# each part: the message (test_environments.py, the app in process), ENV reaching the CLI as
# `-c environment=` (below, `make -n`), and a configuration error through the real CLI on stderr
# without a stack trace (test_cli.py, the typo).
@pytest.mark.long
@pytest.mark.cli
def test_make_synth_with_an_undeclared_env_lists_the_declared_ones(tmp_path: Path) -> None:
    result = make(project(tmp_path), tmp_path, "synth", "ENV=staging",
                  f"CDK_ARGS={ENVIRONMENTS_ARG}")
    assert result.returncode != 0
    assert ("ENV=staging is not a declared environment; declared: dev, prod (cdk.json context "
            "'environments')") in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("verb, stacks", [("deploy", '"$ECS_PLAYGROUND_ENV/*"'),
                                           ("diff", '"$ECS_PLAYGROUND_ENV/*"')])
def test_diff_and_deploy_work_on_the_env_stage_and_always_tell_the_app(
    tmp_path: Path, verb: str, stacks: str,
) -> None:
    # `make -n` prints the commands without running them
    copy = project(tmp_path)
    named = make(copy, tmp_path, "-n", verb, "ENV=prod").stdout
    unnamed = make(copy, tmp_path, "-n", verb).stdout
    cdk = [line for line in named.splitlines() if f"cdk --no-notices {verb}" in line]
    assert cdk and stacks in cdk[0] and '-c "environment=$ECS_PLAYGROUND_ENV"' in cdk[0], named
    # without ENV the app is told so (an empty environment): with environments declared it
    # asks for one; without, it is today's app (deploy --all)
    (line,) = [line for line in unnamed.splitlines() if f"cdk --no-notices {verb}" in line]
    assert '-c "environment=$ECS_PLAYGROUND_ENV"' in line, unnamed
    assert ("--all" in line) is (verb == "deploy") and "/*" not in line


def test_synth_and_local_pass_env_only_when_given(tmp_path: Path) -> None:
    copy = project(tmp_path)
    for verb in ("synth", "local"):
        assert 'environment=$ECS_PLAYGROUND_ENV' in make(copy, tmp_path, "-n", verb,
                                                          "ENV=dev").stdout
        assert "environment=" not in make(copy, tmp_path, "-n", verb).stdout
