"""The local platform runs for real (issue 19): ECS tasks whose image is built from ``docker/``
run as processes from that source, with the task definition's environment and secrets, placed on
the cluster's container instances under ECS's rules.

The probe stack of ``tests/emulator/probe.py`` (a hand-written cloud assembly, no synth) with
four EC2 instances and a service of 4 tasks. It deploys into an emulator of
its own, which the last test kills with ``kill -9``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import process
from emulator.runtime import pids
from tests.emulator.conftest import REPO, requires_cli
from tests.emulator.inventory import clients_for
from tests.emulator.probe import (
    PORT,
    HealthCheck,
    Traffic,
    probe_template,
    wait_for,
    write_probe_assembly,
)
from tests.services.service_harness import MySQL

pytestmark = [pytest.mark.cli, requires_cli]

STACK = "RuntimeProbe"
ASSET_HASH = "5e1f" + "0" * 60
INSTANCES = 4
TIME_SCALE = "0.05"
"""The tests' clock: a 30 s health-check interval takes 1.5 s."""


def _template(
    cluster: str, database: str, mysql: MySQL, desired: int, version: str = "1"
) -> dict[str, Any]:
    return probe_template(
        cluster, database, mysql, ASSET_HASH,
        instances=[f"Instance{i}" for i in range(INSTANCES)],
        desired=desired,
        health=HealthCheck(interval=30, timeout=5, draining=60),
        grace_seconds=20,
        deployment={"MinimumHealthyPercent": 50, "MaximumPercent": 200},
        version=version,
    )


@dataclass
class Platform:
    """The probe stack deployed in an emulator of its own."""

    state_dir: Path
    folder: Path
    cluster: str
    database: str
    mysql: MySQL

    def up(self, desired: int = 4, version: str = "1") -> subprocess.CompletedProcess[str]:
        assembly = write_probe_assembly(
            self.folder / "assembly",
            STACK,
            _template(self.cluster, self.database, self.mysql, desired, version),
            ASSET_HASH,
        )
        command = [
            sys.executable,
            "-m",
            "emulator",
            "--state-dir",
            str(self.state_dir),
            "up",
            "--app",
            str(assembly),
        ]
        return subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "EMULATOR_TIME_SCALE": TIME_SCALE},
        )

    def client(self, name: str) -> Any:
        emulator = process.read_state(self.state_dir)
        assert emulator is not None
        return clients_for(emulator.endpoint)(name)

    def service(self) -> dict[str, Any]:
        (found,) = self.client("ecs").describe_services(
            cluster=self.cluster, services=["location"]
        )["services"]
        return dict(found)

    def tasks(self, status: str = "RUNNING") -> list[dict[str, Any]]:
        ecs = self.client("ecs")
        arns = ecs.list_tasks(cluster=self.cluster, desiredStatus=status)["taskArns"]
        return list(ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]) if arns else []

    def balancer(self) -> tuple[str, str]:
        """The load balancer's name and local URL."""
        emulator = process.read_state(self.state_dir)
        assert emulator is not None
        described = httpx.get(f"{emulator.endpoint}/_emulator/load-balancers", timeout=5).json()
        assert described["timeScale"] == float(TIME_SCALE)
        ((name, balancer),) = described["loadBalancers"].items()
        (listener,) = balancer["listeners"]
        return name, str(listener["url"])

    def health(self) -> dict[str, dict[str, str]]:
        """DescribeInstanceHealth, by instance ID."""
        name, _ = self.balancer()
        states = self.client("elb").describe_instance_health(LoadBalancerName=name)
        return {s["InstanceId"]: s for s in states["InstanceStates"]}

    def in_service(self) -> int:
        return sum(1 for s in self.health().values() if s["State"] == "InService")

    def steady(self, count: int) -> dict[str, Any] | None:
        service = self.service()
        primary = service["deployments"][0]
        done = (
            service["runningCount"] == count
            and primary["runningCount"] == count
            and primary["rolloutState"] == "COMPLETED"
            and len(service["deployments"]) == 1
        )
        return service if done else None


def address_of(task: dict[str, Any]) -> str:
    (binding,) = task["containers"][0]["networkBindings"]
    return f"http://{binding['bindIP']}:{binding['hostPort']}"


def task_pids(state_dir: Path) -> dict[str, int]:
    """Task ID -> pid, from the runtime's records."""
    return {r.label.split()[1]: r.pid for r in pids.records(state_dir)}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    mysql = MySQL()
    try:
        mysql.execute("SELECT 1")
    except Exception as error:
        pytest.skip(f"no MySQL server at {mysql.host}:{mysql.port}: {error}")
    folder = tmp_path_factory.mktemp("runtime")
    suffix = uuid.uuid4().hex[:8]
    found = Platform(folder / "state", folder, f"rt{suffix}", f"ecs_rt_{suffix}", mysql)
    result = found.up()
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        wait_for("4 tasks RUNNING and the deployment COMPLETED", lambda: found.steady(INSTANCES))
        yield found
    finally:
        process.stop(found.state_dir)
        pids.reap(found.state_dir)
        mysql.drop_database(found.database)


def test_tasks_run_from_the_image_source_one_per_instance_with_env_and_secrets(
    platform: Platform,
) -> None:
    running = platform.tasks()
    assert len(running) == INSTANCES
    instances = {t["containerInstanceArn"] for t in running}
    assert len(instances) == INSTANCES, "static host port: one task per instance"
    by_pid = task_pids(platform.state_dir)
    assert sorted(by_pid) == sorted(t["taskArn"].split("/")[-1] for t in running)
    for task in running:
        url = address_of(task)
        assert httpx.get(f"{url}/health", timeout=5).text == "PASS"
        created = httpx.post(
            f"{url}/api/cities",
            json={"name": "Probe", "country_code": "DEU", "district": "Berlin", "population": 1},
            timeout=5,
        )
        assert created.status_code == 201, created.text
        pid = by_pid[task["taskArn"].split("/")[-1]]
        environ = dict(
            item.split("=", 1)
            for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
            if "=" in item
        )
        assert environ["DB_USER"] == platform.mysql.user, "secret :username:: injected"
        assert environ["DB_PWD"] == platform.mysql.password, "secret :password:: injected"
        assert environ["DB_NAME"] == platform.database
        assert environ["SERVICE_DEFINITION"].endswith("/location/service.json")
    rows = platform.mysql.execute("SELECT COUNT(*) FROM City", database=platform.database)
    assert rows[0][0] == INSTANCES, "every task wrote to the task definition's schema"


def test_container_instances_show_the_capacity_model_and_the_tasks_resources(
    platform: Platform,
) -> None:
    ecs = platform.client("ecs")
    arns = ecs.list_container_instances(cluster=platform.cluster)["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster=platform.cluster, containerInstances=arns)
    assert len(described["containerInstances"]) == INSTANCES
    for instance in described["containerInstances"]:
        registered = {r["name"]: r for r in instance["registeredResources"]}
        remaining = {r["name"]: r for r in instance["remainingResources"]}
        assert registered["CPU"]["integerValue"] == 2048, "t3.medium: 2 vCPUs"
        assert remaining["CPU"]["integerValue"] == 2048 - 512
        assert remaining["MEMORY"]["integerValue"] == registered["MEMORY"]["integerValue"] - 512
        assert str(PORT) in remaining["PORTS"]["stringSetValue"]
        assert instance["runningTasksCount"] == 1


def test_a_fifth_task_on_four_instances_stays_pending_with_ecs_reason(platform: Platform) -> None:
    platform.client("ecs").update_service(
        cluster=platform.cluster, service="location", desiredCount=INSTANCES + 1
    )
    try:
        service = wait_for(
            "the fifth task counted pending",
            lambda: (s := platform.service())["pendingCount"] == 1 and s,
        )
        assert service["runningCount"] == INSTANCES
        messages = [e["message"] for e in service["events"]]
        assert any(
            "service location was unable to place a task because no container instance met all "
            "of its requirements"
            in m
            and "is already using a port required by your task" in m
            for m in messages
        ), messages[:5]
        assert len(platform.tasks()) == INSTANCES
    finally:
        platform.client("ecs").update_service(
            cluster=platform.cluster, service="location", desiredCount=INSTANCES
        )
    wait_for(
        "back to 4 tasks, none pending",
        lambda: (s := platform.service())["pendingCount"] == 0 and s,
    )


def test_a_killed_task_is_replaced(platform: Platform) -> None:
    before = {t["taskArn"] for t in platform.tasks()}
    victim = sorted(before)[0]
    os.kill(task_pids(platform.state_dir)[victim.split("/")[-1]], signal.SIGKILL)
    wait_for(
        "a replacement task RUNNING and listening",
        lambda: (
            {t["taskArn"] for t in platform.tasks()} != before
            and platform.service()["deployments"][0]["runningCount"] == INSTANCES
        ),
    )
    (stopped,) = [t for t in platform.tasks("STOPPED") if t["taskArn"] == victim]
    assert stopped["stoppedReason"] == "Essential container in task exited"
    for task in platform.tasks():
        assert httpx.get(f"{address_of(task)}/health", timeout=5).text == "PASS"


def _task_logs(platform: Platform) -> dict[str, str]:
    """Task ID -> its output so far."""
    logs = platform.state_dir / "tasks" / "logs"
    return {p.stem.split("-", 1)[1]: p.read_text(errors="replace") for p in logs.glob("*.log")}


def test_the_elb_routes_round_robin_to_every_in_service_task(platform: Platform) -> None:
    _, url = platform.balancer()
    assert platform.in_service() == INSTANCES
    health = platform.health()
    assert {s["ReasonCode"] for s in health.values()} == {"N/A"}
    probe = uuid.uuid4().hex
    answers = [
        httpx.get(f"{url}/api/cities", headers={"User-Agent": probe}, timeout=10)
        for _ in range(2 * INSTANCES)
    ]
    assert [a.status_code for a in answers] == [200] * (2 * INSTANCES)

    def served() -> dict[str, int]:
        return {task: log.count(probe) for task, log in _task_logs(platform).items()
                if probe in log}

    # a task writes its access log line after answering: wait until all of them are written
    wait_for("every request in a task's log",
             lambda: sum(served().values()) >= 2 * INSTANCES, timeout=10)
    running = {t["taskArn"].split("/")[-1] for t in platform.tasks()}
    assert served() == {task: 2 for task in running}, "round-robin over the 4 InService tasks"


@pytest.mark.long
def test_a_task_failing_its_health_check_goes_out_of_service_and_is_replaced(
    platform: Platform,
) -> None:
    _, url = platform.balancer()
    victim = sorted(platform.tasks(), key=lambda t: t["taskArn"])[0]
    victim_id = victim["taskArn"].split("/")[-1]
    ecs = platform.client("ecs")
    (instance,) = ecs.describe_container_instances(
        cluster=platform.cluster, containerInstances=[victim["containerInstanceArn"]]
    )["containerInstances"]
    os.kill(task_pids(platform.state_dir)[victim_id], signal.SIGSTOP)  # it stops answering
    (stopped,) = wait_for(
        "the unhealthy task stopped by ECS",
        lambda: [t for t in platform.tasks("STOPPED") if t["taskArn"] == victim["taskArn"]],
    )
    assert stopped["stoppedReason"].startswith("Task failed ELB health checks in (elb ")
    state = wait_for(
        "the replacement registered, OutOfService until it passes HealthyThreshold checks",
        lambda: (
            (h := platform.health().get(instance["ec2InstanceId"])) is not None
            and h["State"] == "OutOfService"
            and h
        ),
    )
    assert state["ReasonCode"] == "ELB"
    assert state["Description"] == "Instance registration is still in progress."
    wait_for("4 tasks InService again", lambda: platform.in_service() == INSTANCES)
    assert httpx.get(f"{url}/health", timeout=10).text == "PASS"


def test_a_task_stopped_behind_the_elb_finishes_its_requests_first(platform: Platform) -> None:
    """Connection draining: the deregistered instance gets no new request, and its task is not
    signalled until its requests in flight are answered."""
    _, url = platform.balancer()
    lock = platform.mysql.connect(platform.database)
    results: list[int] = []
    try:
        with lock.cursor() as cursor:
            cursor.execute("LOCK TABLES City WRITE")  # every read now waits
        callers = [
            threading.Thread(
                target=lambda: results.append(
                    httpx.get(f"{url}/api/cities", timeout=30).status_code
                )
            )
            for _ in range(INSTANCES)
        ]
        for caller in callers:
            caller.start()
        platform.mysql.wait_for_lock_waits(platform.database, INSTANCES, timeout=10)
        before = {t["taskArn"].split("/")[-1] for t in platform.tasks()}
        ecs = platform.client("ecs")
        ecs.update_service(cluster=platform.cluster, service="location", desiredCount=INSTANCES - 1)
        wait_for("one instance deregistered", lambda: len(platform.health()) == INSTANCES - 1)
        (draining,) = before - {t["taskArn"].split("/")[-1] for t in platform.tasks()}
        time.sleep(1.0)  # past the scaled stop timeout: a task signalled at once would have ended
        assert pids.alive(task_pids(platform.state_dir)[draining]), "stopped while draining"
        assert "Shutting down" not in _task_logs(platform)[draining]
    finally:
        with lock.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
        lock.close()
    for caller in callers:
        caller.join(timeout=30)
    assert results == [200] * INSTANCES, "no request in flight was dropped"
    wait_for(
        "the drained task's process ended", lambda: draining not in task_pids(platform.state_dir)
    )
    ecs.update_service(cluster=platform.cluster, service="location", desiredCount=INSTANCES)
    wait_for("4 tasks InService again", lambda: platform.in_service() == INSTANCES)


@pytest.mark.long  # `make test-long`: the full rollout of 4 tasks under continuous traffic
def test_a_rollout_under_traffic_keeps_the_minimum_healthy_and_drops_no_request(
    platform: Platform,
) -> None:
    name, url = platform.balancer()
    wait_for("4 tasks InService", lambda: platform.in_service() == INSTANCES)
    before = {t["taskArn"] for t in platform.tasks()}
    emulator = process.read_state(platform.state_dir)
    assert emulator is not None
    with Traffic(url, emulator.endpoint, name) as traffic:
        result = platform.up(version="2")
        assert result.returncode == 0, result.stdout + result.stderr
        service = wait_for("the rollout COMPLETED", lambda: platform.steady(INSTANCES), timeout=60)
        wait_for("4 tasks InService", lambda: platform.in_service() == INSTANCES)
    assert traffic.sent > 20
    assert traffic.errors == [], traffic.errors[:5]
    assert traffic.lowest is not None
    assert traffic.lowest >= 2, "minimumHealthyPercent 50 of 4: never fewer than 2 InService"
    assert service["taskDefinition"].endswith(":2")
    running = platform.tasks()
    assert not before & {t["taskArn"] for t in running}, "every task replaced"
    assert {t["taskDefinitionArn"] for t in running} == {service["taskDefinition"]}
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == "(service location) has reached a steady state."
    stops = [m for m in messages if "has stopped 1 running tasks" in m]
    assert len(stops) >= INSTANCES


def test_tasks_of_a_terminated_instance_are_stopped_and_their_replacement_waits_for_room(
    platform: Platform,
) -> None:
    victim = sorted(platform.tasks(), key=lambda t: t["taskArn"])[0]
    ecs = platform.client("ecs")
    (instance,) = ecs.describe_container_instances(
        cluster=platform.cluster, containerInstances=[victim["containerInstanceArn"]]
    )["containerInstances"]
    platform.client("ec2").terminate_instances(InstanceIds=[instance["ec2InstanceId"]])
    (stopped,) = wait_for(
        "the task of the terminated instance stopped",
        lambda: [t for t in platform.tasks("STOPPED") if t["taskArn"] == victim["taskArn"]],
    )
    assert (
        stopped["stoppedReason"] == f"Host EC2 (instance {instance['ec2InstanceId']}) terminated."
    )
    service = wait_for(
        "its replacement pending: 3 instances left, each with the port taken",
        lambda: (s := platform.service())["pendingCount"] == 1 and s["runningCount"] == 3 and s,
    )
    assert any(
        "is already using a port required by your task" in e["message"]
        for e in service["events"][:3]
    ), service["events"][:3]
    assert instance["ec2InstanceId"] not in platform.health()


def test_no_task_process_outlives_a_killed_emulator(platform: Platform) -> None:
    running = wait_for(
        "only the RUNNING tasks' processes left (stopped ones ended)",
        lambda: (
            (found := task_pids(platform.state_dir)).keys()
            == {t["taskArn"].split("/")[-1] for t in platform.tasks()}
            and found
        ),
    )
    emulator = process.read_state(platform.state_dir)
    assert emulator is not None
    os.kill(emulator.pid, signal.SIGKILL)
    wait_for("the emulator gone", lambda: not pids.alive(emulator.pid))
    assert all(pids.alive(pid) for pid in running.values()), "orphans expected after kill -9"
    down = subprocess.run(
        [sys.executable, "-m", "emulator", "--state-dir", str(platform.state_dir), "down"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    assert down.stdout.count("left by an emulator that was killed") == len(running), down.stdout
    assert not any(pids.alive(pid) for pid in running.values())
    assert pids.records(platform.state_dir) == []
