"""The Makefile's verbs as a user types them, run by the real `make` in a copy of the project."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT
from .npm_registry_stub import NEWER_VERSION, npm_registry_stub
from .tutorial import write_cdk_json

# What the verbs read from the project; the rest is linked, so nothing is installed again.
LINKED = (".venv", "node_modules", "app.py", "ecs_playground", "ecs_playground_app",
          "assembly_review", "docker", "requirements.txt", "requirements-dev.txt",
          "requirements-checkov.txt", "pyproject.toml", "package.json", "package-lock.json")


INSTALLED = (".venv/.installed-stamp", ".venv/tools/checkov/.installed-stamp")
"""The install's stamps: a copy's verbs take the linked installation as it is only while these
are up to date."""


def project_copy(directory: Path) -> Path:
    """The Makefile, the tutorial's cdk.json, and links to the installed project: `make` here
    writes its cdk.out into *directory*, never into the repository.

    Only over an up-to-date install: a stamp older than an edited pyproject.toml (or
    requirements, package.json) would make a verb in the copy reinstall through the links into
    the repository's own .venv and node_modules (`npm ci` empties node_modules first), under
    every test running beside it. `make test` installs first; plain pytest after such an edit
    stops here instead."""
    current = subprocess.run(["make", "-q", "--no-print-directory", *INSTALLED], cwd=ROOT,
                             capture_output=True, text=True, timeout=30, check=False)
    assert current.returncode == 0, (
        "the installation is older than what it installs from: run `make install` first (a "
        "verb in this copy would reinstall into the repository's .venv and node_modules)")
    directory.mkdir()
    shutil.copy(ROOT / "Makefile", directory / "Makefile")
    write_cdk_json(directory, ROOT)
    for name in LINKED:
        (directory / name).symlink_to(ROOT / name)
    return directory


def without_aws(home: Path) -> dict[str, str]:
    """This environment with no way to find AWS credentials (and no instance-role probe)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(HOME=str(home), AWS_CONFIG_FILE=str(home / "no-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


def on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str],
                  timeout: float = 600) -> tuple[int, str]:
    """Run *argv* with stdout and stderr on a pseudo-terminal, as a user at a shell does (the
    CDK CLI prints some notices only there); return its status and everything it printed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process and its children are done
                break
            if not chunk:
                break
            output += chunk
        else:
            process.kill()
            raise AssertionError(f"{argv} did not finish within {timeout}s:\n{output.decode()}")
        return process.wait(timeout=30), output.decode(errors="replace")
    finally:
        os.close(leader)


def test_plain_make_prints_the_verbs_and_installs_nothing(tmp_path: Path) -> None:
    # given the Makefile alone in an empty folder (nothing to install from, nothing installed)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")

    # when a user types plain `make`
    result = subprocess.run(
        ["make", "--no-print-directory"], cwd=tmp_path, capture_output=True, text=True,
        timeout=30, check=False,
    )

    # then it lists every verb with what it does, and touches nothing
    assert result.returncode == 0, result.stdout + result.stderr
    verbs = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert {"install", "synth", "test", "test-long", "diff", "deploy", "local", "help"} <= verbs, (
        result.stdout)
    assert "up to date" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]


def _pytest_line(project: Path, verb: str, *assignments: str) -> str:
    """The pytest command `make VERB` runs (make -n: printed, not run), as typed in a shell: not
    with the variables of the make that runs this test (CI's TEST_MARKS=... reaches a sub-make
    through MAKEFLAGS, and make exports it to its recipes' environment too)."""
    inherited = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "TEST_MARKS", "TEST_WORKERS",
                 "PYTEST_ARGS"}
    shell = {k: v for k, v in os.environ.items() if k not in inherited}
    result = subprocess.run(["make", "--no-print-directory", "-n", verb, "PYTEST_ARGS=-x",
                             *assignments], cwd=project, env=shell, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if " -m pytest " in line]
    return line


def test_ci_runs_every_test_make_test_leaves_out_only_the_long_ones(tmp_path: Path) -> None:
    # given the CI entry point: the README's `make test`, with every marker selected
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert 'make test TEST_MARKS="long or not long"' in ci, ci

    # then `make test` deselects exactly the tests marked long, `make test-long` selects exactly
    # those, CI's selection is everything, and each still takes PYTEST_ARGS
    project = project_copy(tmp_path / "project")
    test, long = _pytest_line(project, "test"), _pytest_line(project, "test-long")
    assert '-m "not long" -x' in test, test
    assert "-m long -x" in long, long
    every = _pytest_line(project, "test", "TEST_MARKS=long or not long")
    assert '-m "long or not long" -x' in every, every
    assert "long:" in (ROOT / "pyproject.toml").read_text(), "the marker is registered"


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["diff", "deploy"])
def test_diff_and_deploy_without_credentials_say_what_they_need_before_any_synth(
    tmp_path: Path, verb: str,
) -> None:
    # given the project where no AWS credentials can be found
    project = project_copy(tmp_path / "project")

    # when a user runs the verb
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", verb], cwd=project, env=without_aws(tmp_path),
        capture_output=True, text=True, timeout=120, check=False,
    )
    seconds = time.monotonic() - started

    # then it stops at once, says what is missing and how to provide it, and synthesized nothing
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"make {verb}: no AWS credentials found" in result.stderr, output
    for advice in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "aws sso login", "AWS_REGION",
                   'CDK_ARGS="--profile NAME"', "cdk bootstrap aws://ACCOUNT/REGION",
                   "docs/deploying.md"):
        assert advice in result.stderr, advice
    assert not (project / "cdk.out").exists(), "the CLI ran: it synthesizes first"
    assert "node_modules/.bin/cdk" not in result.stdout
    assert seconds < 10, f"{seconds:.1f} s: the guidance must come before a synth (~20 s)"


@pytest.mark.cli
@pytest.mark.long  # a whole `make synth` (cfn-lint and checkov, which tests/app/gates run anyway)
def test_make_synth_prints_no_upgrade_banner_and_no_alarm_notes(tmp_path: Path) -> None:
    # given a registry that says a newer CDK CLI exists (the CLI checks once a day, on a
    # terminal), and proof that the pinned CLI, run directly, does print its upgrade banner
    project = project_copy(tmp_path / "project")
    with npm_registry_stub(tmp_path) as registry:
        env = {**without_aws(tmp_path), **registry.env, "CDK_HOME": str(tmp_path / "cdk-home"),
               "CDK_DISABLE_CLI_TELEMETRY": "true"}
        status, direct = on_a_terminal(
            [str(ROOT / "node_modules/.bin/cdk"), "--no-notices", "doctor"], project, env)
        assert status == 0, direct
        assert f"Newer version of CDK is available [{NEWER_VERSION}" in direct.replace(
            "\x1b[32m", "").replace("\x1b[39m", ""), direct
        shutil.rmtree(tmp_path / "cdk-home")  # the check is due again
        registry.requests.clear()

        # when a user runs `make synth` at a terminal
        status, output = on_a_terminal(["make", "--no-print-directory", "synth"], project, env)

    # then it synthesizes and prints neither the banner (the CLI is pinned: `npm install -g`
    # is the wrong advice) nor a note per deployment alarm that it may cause a circular
    # dependency (it cannot: the alarms name the ELB), and the CLI did not even ask
    assert status == 0, output[-5000:]
    assert "stack EcsPlayground:" in output, output[-5000:]
    assert "Newer version" not in output and "npm install -g" not in output, output
    assert "circular dependency" not in output, output
    assert registry.requests == []
