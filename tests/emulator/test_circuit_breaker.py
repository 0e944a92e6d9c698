"""A failing version is rolled back by ECS's deployment circuit breaker (issue 19), as a user
meets it: ``docker/location`` changed so the service exits at start, then ``python -m emulator
up`` (what ``make local`` runs) deploys it under continuous traffic through the ELB. A second
version fails to become healthy instead: a field widened in ``service.json`` without its
migration (the table the first version made cannot hold it, so its tasks fail ``/health``).

The smallest service that shows it, the probe stack of tests/emulator/probe.py: one task
(minimumHealthyPercent 100, maximumPercent 200) on two container instances, so each new task has
an instance of its own while the old one keeps serving. ECS's threshold for one task is its
minimum, 3 failed tasks. The stack is deployed into the session's emulator
(tests/emulator/conftest.py); the first deploy runs in a module fixture, the failing one once for
all the tests below.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import REGION
from emulator.runtime.scheduler import failure_threshold
from tests.emulator.conftest import Session, requires_cli
from tests.emulator.probe import (
    HealthCheck,
    Traffic,
    probe_template,
    wait_for,
    write_probe_assembly,
)
from tests.services.service_harness import MySQL

pytestmark = [pytest.mark.cli, pytest.mark.long, requires_cli]  # make test-long

STACK = "BreakerProbe"
UNHEALTHY_STACK = "BreakerProbeHealth"
GOOD, BAD, WIDE = "c1b0" + "0" * 60, "c1b1" + "0" * 60, "c1b2" + "0" * 60
"""The image assets of the working version and of the failing ones (their source hashes: the
emulator keeps an image per hash, so each version has its own)."""


def _break(source: Path) -> None:
    """The user's mistake in docker/location: a field type the service does not know (it exits 2
    at start with a configuration error)."""
    definition = source / "location" / "service.json"
    definition.write_text(definition.read_text().replace('"type": "integer"', '"type": "int"'))


def _widen(source: Path) -> None:
    """The user's other mistake: "district" widened from 20 to 30 characters, no migration."""
    definition = source / "location" / "service.json"
    text = definition.read_text()
    assert '"district", "type": "string", "max_length": 20' in text
    definition.write_text(text.replace('"district", "type": "string", "max_length": 20',
                                       '"district", "type": "string", "max_length": 30'))


def _template(cluster: str, database: str, mysql: MySQL, asset: str,
              grace_seconds: int) -> dict[str, Any]:
    return probe_template(
        cluster, database, mysql, asset,
        instances=["InstanceA", "InstanceB"],
        desired=1,
        health=HealthCheck(interval=5, timeout=2, draining=10),
        grace_seconds=grace_seconds,
        deployment={
            "MinimumHealthyPercent": 100,
            "MaximumPercent": 200,
            "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        },
        # a mapping, as CDK writes for region facts (the real app has one): the stack's
        # rollback must tell it apart from the resources it restores
        instance_type={"Fn::FindInMap": ["Sizes", {"Ref": "AWS::Region"}, "instance"]},
        mappings={"Sizes": {REGION: {"instance": "t3.medium"}}},
    )


@dataclass
class Rollback:
    """The failing version's deploy and what was seen meanwhile."""

    session: Session
    cluster: str
    returncode: int
    output: str
    traffic: Traffic

    def error(self) -> str:
        """What `make local` said of the failed deploy (it failed: exit 1, the breaker tripped)."""
        assert self.returncode == 1, self.output
        error = self.output[self.output.index("error: deploy failed"):]
        assert "ECS Deployment Circuit Breaker was triggered" in error, error
        return error

    def service(self) -> dict[str, Any]:
        (found,) = self.session.clients("ecs").describe_services(
            cluster=self.cluster, services=["location"])["services"]
        return dict(found)

    def tasks(self, status: str) -> list[dict[str, Any]]:
        ecs = self.session.clients("ecs")
        arns = ecs.list_tasks(cluster=self.cluster, desiredStatus=status)["taskArns"]
        return list(ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]) if arns else []


def _balancer(session: Session, stack: str) -> tuple[str, str]:
    """The stack's load balancer: its name and local URL."""
    resources = session.clients("cloudformation").describe_stack_resources(StackName=stack)
    (name,) = [r["PhysicalResourceId"] for r in resources["StackResources"]
               if r["LogicalResourceId"] == "LoadBalancer"]
    described = httpx.get(f"{session.emulator.endpoint}/_emulator/load-balancers",
                          timeout=5).json()
    (listener,) = described["loadBalancers"][name]["listeners"]
    return name, str(listener["url"])


@contextlib.contextmanager
def _deploy_then_fail(session: Session, folder: Path, stack: str, mistake: Callable[[Path], None],
                      bad: str, grace_seconds: int) -> Iterator[Rollback]:
    """The working version deployed and steady, then the one with the mistake deployed under
    traffic."""
    mysql = MySQL()
    try:
        mysql.execute("SELECT 1")
    except Exception as error:
        pytest.skip(f"no MySQL server at {mysql.host}:{mysql.port}: {error}")
    suffix = uuid.uuid4().hex[:8]
    cluster, database = f"cb{suffix}", f"ecs_cb_{suffix}"

    def up(asset: str, broken: bool) -> Any:
        template = _template(cluster, database, mysql, asset, grace_seconds)
        assembly = write_probe_assembly(
            folder / asset[:4], stack, template, asset, mistake if broken else None
        )
        return session.up("--app", str(assembly), output=False, timeout=300)

    try:
        first = up(GOOD, broken=False)
        assert first.returncode == 0, first.stdout + first.stderr
        name, url = _balancer(session, stack)
        wait_for("the working version InService", lambda: httpx.get(
            f"{session.emulator.endpoint}/_emulator/load-balancers", timeout=5
        ).json()["loadBalancers"][name]["inService"], timeout=60)
        traffic = Traffic(url, session.emulator.endpoint, name)
        second = traffic.run(lambda: up(bad, broken=True))
        yield Rollback(session, cluster, second.returncode, second.stdout + second.stderr,
                       traffic)
    finally:
        session.clients("cloudformation").delete_stack(StackName=stack)
        mysql.drop_database(database)


@pytest.fixture(scope="module")
def rollback(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollback]:
    """A version whose service exits at start."""
    with _deploy_then_fail(session, tmp_path_factory.mktemp("breaker"), STACK, _break, BAD,
                           grace_seconds=300) as seen:
        yield seen


@pytest.fixture(scope="module")
def unhealthy(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollback]:
    """A version whose tasks start but fail their health check (a 10 s grace period)."""
    with _deploy_then_fail(session, tmp_path_factory.mktemp("unhealthy"), UNHEALTHY_STACK,
                           _widen, WIDE, grace_seconds=10) as seen:
        yield seen


def test_ecs_threshold_is_half_the_desired_count_between_3_and_200() -> None:
    assert [failure_threshold(n) for n in (0, 1, 6, 7, 8, 399, 400, 401, 1000)] == [
        3, 3, 3, 4, 4, 200, 200, 200, 200,
    ]


def test_make_local_exits_non_zero_naming_the_service_the_task_definition_and_why(
    rollback: Rollback,
) -> None:
    error = rollback.error()
    assert f"service location (cluster {rollback.cluster}), task definition " \
           f"{rollback.cluster}-location:2: 3 tasks failed, threshold 3" in error, error
    assert "Essential container in task exited (exit code 2)" in error, error
    assert f"ECS rolled the service back to {rollback.cluster}-location:1" in error, error
    assert "UPDATE_ROLLBACK_COMPLETE" in error, error


def test_traffic_is_served_throughout_by_the_old_task(rollback: Rollback) -> None:
    assert rollback.traffic.sent > 20
    assert rollback.traffic.errors == []
    assert rollback.traffic.lowest == 1, "minimumHealthyPercent 100: the old task stays InService"


def test_describe_services_ends_with_the_old_task_definition_primary_and_completed(
    rollback: Rollback,
) -> None:
    service = rollback.service()
    (primary,) = service["deployments"]
    assert primary["status"] == "PRIMARY"
    assert primary["taskDefinition"].endswith(f"/{rollback.cluster}-location:1")
    assert primary["rolloutState"] == "COMPLETED"
    assert service["taskDefinition"] == primary["taskDefinition"]
    assert (service["runningCount"], service["pendingCount"]) == (1, 0)
    messages = [e["message"] for e in service["events"]]
    failed = [m for m in messages if m.endswith("deployment failed: tasks failed to start.")]
    assert len(failed) == 1, messages
    rolled = [m for m in messages if m.startswith("(service location) rolling back to deployment")]
    assert len(rolled) == 1, messages
    assert messages.index(rolled[0]) < messages.index(failed[0]), "newest first"


def test_the_circuit_breaker_trips_at_three_failed_tasks_and_starts_no_more(
    rollback: Rollback,
) -> None:
    stopped = [t for t in rollback.tasks("STOPPED")
               if t["taskDefinitionArn"].endswith("-location:2")]
    assert [t["stoppedReason"] for t in stopped] == ["Essential container in task exited"] * 3
    running = rollback.tasks("RUNNING")
    assert [t["taskDefinitionArn"].split("/")[-1] for t in running] == [
        f"{rollback.cluster}-location:1"], "the old task kept running: never replaced"


def test_the_stack_rolled_back_to_the_previous_task_definition(rollback: Rollback) -> None:
    cloudformation = rollback.session.clients("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    events = cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed["LogicalResourceId"] == "Service"
    assert failed["ResourceStatusReason"].startswith(
        "Resource handler returned message: \"Error occurred during operation 'ECS Deployment "
        "Circuit Breaker was triggered'.\"")
    resources = cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    (definition,) = [r for r in resources if r["LogicalResourceId"] == "TaskDefinition"]
    assert definition["PhysicalResourceId"].endswith(f"{rollback.cluster}-location:1")
    ecs = rollback.session.clients("ecs")
    statuses = {
        revision: ecs.describe_task_definition(
            taskDefinition=f"{rollback.cluster}-location:{revision}")["taskDefinition"]["status"]
        for revision in (1, 2)
    }
    assert statuses == {1: "ACTIVE", 2: "INACTIVE"}


def test_a_version_failing_its_health_check_is_rolled_back_naming_why(
    unhealthy: Rollback,
) -> None:
    # make local fails, naming the health checks and where the tasks said why
    error = unhealthy.error()
    assert "3 tasks failed, threshold 3: Task failed ELB health checks in (elb " in error, error
    assert f"ECS rolled the service back to {unhealthy.cluster}-location:1" in error, error
    logs = re.findall(r"its output: (\S+\.log)", error)
    assert logs, error
    said = Path(logs[0]).read_text()
    assert "cannot hold what this service accepts" in said, said[-2000:]
    assert "MODIFY COLUMN `district` VARCHAR(30) NULL;" in said, said[-2000:]
    # the new tasks were stopped by ECS for their health checks; the old one served throughout
    stopped = [t["stoppedReason"] for t in unhealthy.tasks("STOPPED")
               if t["taskDefinitionArn"].endswith("-location:2")]
    assert len(stopped) == 3, stopped
    assert all(r.startswith("Task failed ELB health checks in (elb ") for r in stopped), stopped
    assert unhealthy.traffic.sent > 20 and unhealthy.traffic.errors == []
    assert unhealthy.traffic.lowest == 1
