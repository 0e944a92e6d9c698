"""Shared fixtures: the tutorial's platform from its fixed scenario (tests/tutorial.py, never the
user's cdk.json), and the default app that follows cdk.json (tests/default_app.py); each built
once per scenario per session."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# jsii starts `node` from PATH when aws_cdk is first imported: use the virtualenv's Node 24.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# CDK's built-in CloudFormation schema validation (a WASM module) is ~45 % of a synth's CPU
# (bench/README.md); the CLI test keeps it on, in-process tests check templates with assertions
# and the gates (cfn-lint) instead.
os.environ.setdefault("CDK_VALIDATION", "false")
# The stacks the tests build in this process (plain `cdk.App()`s of the library's tests, the
# scenarios) without the stack traces app.py already turns off for its own App (TRACE_SWITCHES in
# ecs_playground_app/app.py): captured behind jsii, they hold only the kernel's frames. ~9 % of
# the CPU of the in-process synth tests (65.2 s against 59.7 s, tests/library and tests/app).
# The context reaches every App through CDK_CONTEXT_JSON, as the CLI passes its context; the CLI
# sets that variable itself for the apps it runs.
os.environ.setdefault("CDK_DISABLE_STACK_TRACE", "1")
os.environ.setdefault(
    "CDK_CONTEXT_JSON", json.dumps({"aws:cdk:disable-creation-stack-traces": True}))

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from ecs_playground_app import config, gates
from ecs_playground_app.stack import EcsPlaygroundStack

from . import scenarios
from .default_app import FOLLOWS_CDK_JSON, REGENERATE, run_app, user_context
from .tutorial import ROOT as ROOT  # re-exported: the repository, for the tests that import it here
from .tutorial import TUTORIAL_CONTEXT

if TYPE_CHECKING:
    from .library.doc_blocks import DocumentedBlocks


def build_stack(removed: Sequence[str] = (), **overrides: Any) -> EcsPlaygroundStack:
    """The tutorial's platform stack as `app.py` builds it from the tutorial's cdk.json, with
    context overrides like `-c KEY=VALUE` (and keys `removed` from that context)."""
    context = {k: v for k, v in {**TUTORIAL_CONTEXT, **overrides}.items() if k not in removed}
    app = cdk.App(context=context)
    platform = config.load(app.node.get_all_context())
    return EcsPlaygroundStack(app, platform.stack_name, config=platform)


def template_of(stack: cdk.Stack) -> Template:
    """Synthesize one stack into an assertions Template."""
    return Template.from_stack(stack)


@dataclass
class Gated:
    """One scenario, synthesized once with the security gates registered (as app.py does)."""

    name: str
    stack: cdk.Stack
    outdir: Path
    report: dict[str, Any]
    error: str | None

    @property
    def templates(self) -> list[Path]:
        """The assembly's CloudFormation templates."""
        return sorted(self.outdir.glob("*.template.json"))

    def findings(self, plugin: str) -> set[str]:
        """Unacknowledged rule IDs that a validation plugin reported."""
        return {
            v["ruleName"]
            for r in self.report.get("pluginReports", []) if r["pluginName"] == plugin
            for v in r["violations"]
        }


def synth_gated(name: str, stack: cdk.Stack) -> Gated:
    """Register the gates on the stack's app and synthesize it; a failing gate is recorded."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    gates.register(app)
    error = None
    try:
        app.synth()
    except Exception as err:  # the plugins fail the synth on findings; the report says which
        error = str(err)
    outdir = Path(app.outdir)
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return Gated(name, stack, outdir, report, error)


CERTIFICATE_ARN = (
    "arn:aws:acm:eu-west-1:111111111111:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
)
"""An ACM certificate ARN (no certificate is looked up at synth)."""


EVERYTHING_ON: dict[str, Any] = {
    # instances and tasks scale between min and max; the AMI is pinned
    "cluster.minCapacity": 2, "cluster.maxCapacity": 6, "cluster.targetCapacityPercent": 90,
    "cluster.machineImageId": "ami-0123456789abcdef0",
    "cluster.machineImageRelease": "null",  # pinned by ID instead of the tutorial's release
    "location.minTaskCount": 2, "location.maxTaskCount": 5,
    "user.minTaskCount": 2, "user.maxTaskCount": 5, "user.scaleMemoryPercent": "null",
    # a private registry image for location
    "location.image": "registry.example.org/team/location:10",
    "location.containerPort": 8081,
    "location.repositoryCredentials": "ecs-playground/registry",
    "user.discoveryName": "users",
    "monitoring.emailSubscriptions": ["ops@example.org", "oncall@example.org"],
    "monitoring.dashboardName": "ecs-playground",
    # one more outbound rule for the instances; IAM database authentication on (HTTPS is not
    # here: the emulator deploys this scenario, and its ELBs want a certificate that exists)
    "cluster.instanceEgress": ["tcp:8443:203.0.113.0/24"],
    "db.iamAuthentication": True,
}
"""Context of the 'everything on' scenario: every operations feature of issue 12."""


def everything_on_stack() -> cdk.Stack:
    """The tutorial's platform with autoscaling, a pinned AMI, a private registry and
    subscribers."""
    return build_stack(**EVERYTHING_ON)


SCENARIOS: dict[str, Callable[[], cdk.Stack]] = {
    "tutorial": build_stack,
    "everything_on": everything_on_stack,
    "minimal_constructs": scenarios.minimal_stack,
    "all_props": scenarios.all_props_stack,
}


@pytest.fixture(scope="session")
def gated() -> dict[str, Gated]:
    """Every scenario synthesized exactly once per test session, gates included."""
    return {name: synth_gated(name, build()) for name, build in SCENARIOS.items()}


@pytest.fixture(scope="session")
def tutorial_stack(gated: dict[str, Gated]) -> cdk.Stack:
    """The tutorial's platform stack (the tutorial's cdk.json, no override)."""
    return gated["tutorial"].stack


@pytest.fixture(scope="session")
def everything_template(gated: dict[str, Gated]) -> Template:
    """The 'everything on' scenario's synthesized template."""
    return template_of(gated["everything_on"].stack)


@pytest.fixture(scope="session")
def tutorial_template(tutorial_stack: cdk.Stack) -> Template:
    """The tutorial's platform, synthesized."""
    return template_of(tutorial_stack)


@pytest.fixture(scope="session")
def default_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default app's assembly: `app.py` run with the user's cdk.json (the snapshots)."""
    return run_app(tmp_path_factory.mktemp("default-app"), user_context())


@pytest.fixture(scope="session")
def default_app_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default app's assembly as `cdk synth` writes it, construct paths in its metadata (the
    diagram)."""
    return run_app(tmp_path_factory.mktemp("default-app-cli"), user_context(), cli=True)


@pytest.fixture(scope="session")
def resources_of() -> Callable[[Template, str], dict[str, Any]]:
    """Resources of one type, by logical ID."""

    def find(template: Template, type_: str) -> dict[str, Any]:
        return dict(template.find_resources(type_))

    return find


SHARED_FIXTURE_GROUPS = {
    "emulator/test_local.py": "emulator",
    "emulator/test_runtime.py": "emulator-runtime",
    "emulator/test_rollout_timeline.py": "emulator",
    "emulator/": "emulator-small",
    "review/": "review",
    "app/gates/": "scanners",
    "app/test_scale.py": "scale",
    "library/provisioner/test_construct.py": "provisioner-synth",
    "bench/test_ts_mirror.py": "ts-mirror",
}
"""Tests (by path under tests/, first match) that share one expensive session or module fixture:
the emulator and its deploys in file order (test_local.py: the real app; test_runtime.py: task
processes behind local ELBs, in an emulator of its own; the other emulator files: small
hand-written apps), the review changes' synths and CLI diffs, the scanners' run over
every scenario, a 60-service catalog, the provisioner's gated synths, the TypeScript mirror's
install and synths. Under pytest-xdist each group runs on one worker, so its fixture is built
once, not once per worker. Every other test that uses the `gated` scenarios joins "scanners"
too."""
GROUP_ORDER = ("emulator", "emulator-small", "review", "emulator-runtime", "scanners")
"""The longest groups first: `make test` passes --no-loadscope-reorder, so each starts on a
worker of its own at once and the other tests fill in around them. The two emulator groups that
mostly wait (on deploys, timeouts) start beside the review's synths, which keep the cores busy;
the third waits for a free worker rather than leave every worker waiting at once."""
WAITING_FIRST = ("services/", "test_install.py")
"""Tests that mostly wait (idle and rotation bounds, installs): the first of the ungrouped ones,
so that their waits overlap other workers' CPU instead of idling the last seconds of a run."""


DEFAULT_APP_FIXTURES = ("default_app", "default_app_cli")
"""Tests that use these share the default app's synths: group "default-app"."""


@pytest.fixture(scope="session")
def documented_blocks(tmp_path_factory: pytest.TempPathFactory) -> DocumentedBlocks:
    """Every ```python block of the README and docs/, run once as written (one process)."""
    from .library.doc_blocks import run_documented_blocks

    return run_documented_blocks(tmp_path_factory.mktemp("documented-blocks"))


def _group_of(item: pytest.Item, relative: str) -> str | None:
    for prefix, group in SHARED_FIXTURE_GROUPS.items():
        if relative.startswith(prefix):
            return group
    fixtures = getattr(item, "fixturenames", ())
    if "gated" in fixtures:
        return "scanners"
    if "documented_blocks" in fixtures:
        return "documented-blocks"
    return "default-app" if any(f in fixtures for f in DEFAULT_APP_FIXTURES) else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{FOLLOWS_CDK_JSON}: checks a file that follows the user's cdk.json (the "
        f"default app's snapshots, docs/configuration.md's table, docs/architecture.md); "
        f"`{REGENERATE}` brings it up to date")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Name the verb under the failures: when a check of a file that follows cdk.json failed,
    or syrupy found snapshots no test asserts any more (e.g. a service stack the default app no
    longer has), whose own message names only pytest's --snapshot-update."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    reports = [*terminalreporter.stats.get("failed", []), *terminalreporter.stats.get("error", [])]
    stale = [r.nodeid for r in reports if FOLLOWS_CDK_JSON in getattr(r, "keywords", {})]
    syrupy = getattr(config, "_syrupy", None)
    updating = getattr(config.option, "update_snapshots", False)  # it deletes the unused ones
    unused = 0 if updating or syrupy is None else getattr(syrupy.report, "num_unused", 0)
    if not stale and not unused:
        return
    terminalreporter.write_sep("-", f"run `{REGENERATE}`")
    for nodeid in stale:
        terminalreporter.write_line(f"stale: {nodeid}")
    if unused:
        terminalreporter.write_line(f"{unused} snapshot(s) unused")
    terminalreporter.write_line(
        "The default app's snapshots, docs/configuration.md's table and docs/architecture.md "
        f"follow your cdk.json (and the code): `{REGENERATE}` rewrites them. Review the diff like "
        "code and commit it; the tests of the tutorial's platform do not read cdk.json.")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test's group; under xdist, put the longest groups first, then the tests that
    mostly wait."""
    here = Path(__file__).parent
    rank = {}
    for item in items:
        relative = Path(item.path).relative_to(here).as_posix()
        group = _group_of(item, relative)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        rank[item.nodeid] = (
            GROUP_ORDER.index(group) if group in GROUP_ORDER
            else len(GROUP_ORDER) + (0 if relative.startswith(WAITING_FIRST) else 1))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: rank[item.nodeid])  # stable: file order within a group


def pytest_xdist_node_collection_finished(node: Any, ids: Sequence[str]) -> None:
    """Under --dist loadgroup, pytest-xdist marks a grouped test by suffixing its node ID with
    '@group'. If a pytest or xdist upgrade stops that (pytest 9.2 did: xdist issue 1386), the
    emulator tests would be spread over workers and fail in confusing ways: stop with the reason."""
    if node.config.getoption("dist") != "loadgroup":
        return
    lost = [i for i in ids if i.startswith("tests/emulator/") and "@" not in i]
    if lost:
        pytest.exit(
            f"pytest-xdist did not group {len(lost)} emulator tests (e.g. {lost[0]}): --dist "
            "loadgroup does not work with this pytest/pytest-xdist pair (pytest-xdist issue "
            "1386); install the versions requirements-dev.txt pins", returncode=4)
