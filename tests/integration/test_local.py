"""The real app through the real CDK CLI against the emulator: create, rolling update, destroy,
failure.

The tests run in file order and share the session's emulator: each step starts
from the state the previous one left.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import process
from emulator.compat.util import camel_keys
from tests.integration.conftest import IMAGES, REPO, STACK, Session, requires_cli
from tests.integration.inventory import exists

pytestmark = [pytest.mark.cli, requires_cli]

_state: dict[str, Any] = {}


def _resources(session: Session) -> dict[str, dict[str, str]]:
    cfn = session.clients("cloudformation")
    listed = cfn.describe_stack_resources(StackName=STACK)["StackResources"]
    return {r["LogicalResourceId"]: r for r in listed}


def _service(session: Session, name: str) -> dict[str, Any]:
    ecs = session.clients("ecs")
    arns = [a for a in ecs.list_services(cluster="app01")["serviceArns"] if a.endswith(f"/{name}")]
    return ecs.describe_services(cluster="app01", services=arns)["services"][0]


def _task_definition(session: Session, arn: str) -> dict[str, Any]:
    return session.clients("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]


def test_create_deploys_every_resource(session: Session) -> None:
    result = session.cdk("deploy", "--all", "--require-approval", "never", *IMAGES)
    assert result.returncode == 0, result.output
    _state["create_seconds"] = result.seconds
    template = session.template()["Resources"]
    listed = _resources(session)
    assert sorted(listed) == sorted(template), "resources skipped by the emulator"
    missing = [
        f"{name} ({body['Type']})"
        for name, body in template.items()
        if not exists(
            session.clients,
            body["Type"],
            listed[name]["PhysicalResourceId"],
            body.get("Properties"),
        )
    ]
    assert not missing, f"physical IDs that do not resolve: {missing}"
    _state["physical"] = {k: v["PhysicalResourceId"] for k, v in listed.items()}


def test_create_holds_the_tutorial_facts(session: Session) -> None:
    ecs = session.clients("ecs")
    cluster = ecs.describe_clusters(clusters=["app01"])["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert cluster["registeredContainerInstancesCount"] == 4
    groups = session.clients("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [(g["DesiredCapacity"], len(g["Instances"])) for g in groups] == [(4, 4)]
    elbs = session.clients("elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert len(elbs) == 2
    for elb in elbs:
        assert elb["ListenerDescriptions"]
        assert elb["HealthCheck"]["Target"].startswith("HTTP:")
    names = {e["LoadBalancerName"] for e in elbs}
    for name in ("user", "location"):
        service = _service(session, name)
        assert service["desiredCount"] == 4
        assert service["deploymentConfiguration"]["maximumPercent"] == 200
        assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 50
        assert service["loadBalancers"][0]["loadBalancerName"] in names
    assert session.clients("rds").describe_db_instances()["DBInstances"]
    secrets = session.clients("secretsmanager")
    arn = secrets.list_secrets()["SecretList"][0]["ARN"]
    assert '"password"' in secrets.get_secret_value(SecretId=arn)["SecretString"]


def test_create_keeps_every_task_definition_field(session: Session) -> None:
    template = session.template()["Resources"]
    listed = _resources(session)
    for name, body in template.items():
        if body["Type"] != "AWS::ECS::TaskDefinition":
            continue
        described = _task_definition(session, listed[name]["PhysicalResourceId"])
        for expected in camel_keys(body["Properties"]["ContainerDefinitions"]):
            actual = next(
                c for c in described["containerDefinitions"] if c["name"] == expected["name"]
            )
            for key in expected:
                assert key in actual, f"{name}: container field {key} lost"
        assert described["networkMode"] == body["Properties"].get("NetworkMode", "bridge")


def test_rolling_update_registers_a_new_revision(session: Session) -> None:
    before = _task_definition(session, _service(session, "location")["taskDefinition"])
    result = session.cdk(
        "deploy",
        "--all",
        "--require-approval",
        "never",
        "-c",
        "user.image=srirajan/user:10",
        "-c",
        "location.image=srirajan/location:11",
    )
    assert result.returncode == 0, result.output
    _state["update_seconds"] = result.seconds
    after = _task_definition(session, _service(session, "location")["taskDefinition"])
    assert after["revision"] == before["revision"] + 1
    assert after["containerDefinitions"][0]["image"] == "srirajan/location:11"
    physical = {k: v["PhysicalResourceId"] for k, v in _resources(session).items()}
    kept_types = (
        "AWS::RDS::DBInstance",
        "AWS::SecretsManager::Secret",
        "AWS::ElasticLoadBalancing::LoadBalancer",
    )
    template = session.template()["Resources"]
    for name, body in template.items():
        if body["Type"] in kept_types or (
            body["Type"] == "AWS::ECS::Service" and "location" not in name.lower()
        ):
            assert physical[name] == _state["physical"][name], f"{name} was replaced"


def test_destroy_leaves_only_retained_resources(session: Session) -> None:
    template = session.template()["Resources"]
    physical = {k: v["PhysicalResourceId"] for k, v in _resources(session).items()}
    result = session.cdk("destroy", "--all", "--force")
    assert result.returncode == 0, result.output
    _state["destroy_seconds"] = result.seconds
    stacks = session.clients("cloudformation").describe_stacks()["Stacks"]
    assert STACK not in [s["StackName"] for s in stacks]
    left = []
    for name, body in template.items():
        kept = _retained(template, body)
        if body["Type"].startswith("Custom::") or body["Type"] == "AWS::CDK::Metadata":
            continue
        still = exists(session.clients, body["Type"], physical[name], body.get("Properties"))
        if still and not (kept and body["Type"] != "AWS::RDS::DBInstance"):
            left.append(f"{name} ({body['Type']})")
    assert not left, f"left after destroy: {left}"
    snapshots = session.clients("rds").describe_db_snapshots()["DBSnapshots"]
    snapshot_kept = any(b.get("DeletionPolicy") == "Snapshot" for b in template.values())
    assert bool(snapshots) == snapshot_kept


def _retained(template: dict[str, Any], body: dict[str, Any]) -> bool:
    """Kept by its DeletionPolicy, or an attachment whose secret is kept (its effect lives in the
    secret).
    """
    policies = ("Retain", "Snapshot", "RetainExceptOnCreate")
    if body["Type"] == "AWS::SecretsManager::SecretTargetAttachment":
        secret = body["Properties"]["SecretId"].get("Ref", "")
        return template.get(secret, {}).get("DeletionPolicy") in policies
    return body.get("DeletionPolicy") in policies


def _up_command(state_dir: Path, output: Path) -> list[str]:
    """``python -m emulator up`` with its own state directory and cloud assembly."""
    emulator = [sys.executable, "-m", "emulator", "--state-dir", str(state_dir)]
    return [*emulator, "up", "-o", str(output)]


def _kill_emulator_when(
    line_marker: str, state_dir: Path, output: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m emulator up``; kill its emulator when the driver prints ``line_marker``."""
    command = _up_command(state_dir, output)
    driver = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert driver.stdout is not None
    lines = []
    for line in driver.stdout:
        lines.append(line)
        if line.startswith(line_marker):
            emulator = process.read_state(state_dir)
            assert emulator is not None
            os.kill(emulator.pid, signal.SIGKILL)
            break
    rest, errors = driver.communicate(timeout=300)
    return subprocess.CompletedProcess(command, driver.returncode, "".join(lines) + rest, errors)


def test_emulator_dying_mid_deploy_fails_clearly_and_up_recovers(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    broken = _kill_emulator_when("==> deploy:", state_dir, tmp_path / "out")
    assert broken.returncode != 0
    assert re.search(
        r"deploy failed: the emulator .* stopped while 'cdk deploy' was running", broken.stderr
    )
    started = time.monotonic()
    again = subprocess.run(
        _up_command(state_dir, tmp_path / "out"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    _state["up_seconds"] = time.monotonic() - started
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert "aws ecs describe-services --cluster app01" in again.stdout
        assert process.read_state(state_dir) is not None
    finally:
        subprocess.run(
            [sys.executable, "-m", "emulator", "--state-dir", str(state_dir), "down"],
            cwd=REPO,
            check=False,
        )
    assert process.read_state(state_dir) is None
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_report_timings() -> None:
    """Not an assertion: prints the measured seconds (pytest -s, or see -rA)."""
    print({k: round(v, 1) for k, v in _state.items() if k.endswith("seconds")})
