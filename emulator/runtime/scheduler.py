"""The ECS service scheduler for services whose image runs from source: it keeps the desired
count of tasks running as processes on the cluster's container instances.

Every tick (``TICK_SECONDS``) and for each such service: a task whose process has exited is
STOPPED (and replaced, as ECS restarts a service's stopped task); missing tasks of the primary
deployment are placed (``placement``) within ``maximumPercent``; a task that fits nowhere leaves
ECS's reason as a service event and counts as pending; tasks of an older deployment are stopped
only while the healthy count stays at or above ``minimumHealthyPercent`` of the desired count. A
task is healthy once its host port accepts connections. The deployment is COMPLETED (event
"has reached a steady state") once all its tasks are healthy and no older task runs.

The deployment circuit breaker (``deploymentConfiguration.deploymentCircuitBreaker``) counts
the primary deployment's tasks that fail to start (the process cannot start or exits before it
is healthy) or fail the load balancer's health check after the grace period (``failedTasks``).
At ECS's threshold (:func:`failure_threshold`) the deployment is FAILED and launches no more
tasks; with ``rollback``, a new PRIMARY deployment of the last COMPLETED deployment's task
definition rolls out under the same minimum healthy / maximum percent, so the old tasks keep
serving while the failing ones are replaced.

Services whose images have no source here stay simulated by ``compat.ecs.steady_state``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import ACCOUNT_ID, REGION, assets
from emulator.runtime import clock, elb, pids, placement, tasks

LOG = logging.getLogger("emulator.runtime")
TICK_SECONDS = 0.25
STOP_TIMEOUT_SECONDS = 30.0
CIRCUIT_BREAKER_MINIMUM = 3
CIRCUIT_BREAKER_MAXIMUM = 200
FAILED_REASON = "ECS deployment circuit breaker: tasks failed to start."
LOCK = threading.RLock()
"""Held while the scheduler reads or changes moto's ECS models (the server is threaded)."""


@dataclass
class Task:
    """A task the scheduler started."""

    model: Any
    """moto's Task (what ``DescribeTasks`` shows)."""
    service: str
    task_definition: str
    instance: str
    ec2_instance: str
    address: str
    host_ports: frozenset[int]
    demand: placement.Demand
    process: tasks.TaskProcess
    started: float = field(default_factory=time.monotonic)
    healthy: bool = False
    stopping: bool = False


@dataclass
class Runtime:
    """What runs for one emulator (one state directory)."""

    state_dir: Path
    endpoint: str
    prefix: str
    """``127.A.B``: the container instances' addresses are ``127.A.B.N``."""
    addresses: dict[str, str] = field(default_factory=dict)
    """Container instance ID -> its loopback address."""
    tasks: dict[str, list[Task]] = field(default_factory=dict)
    """Service ARN -> its tasks."""
    ending: list[Task] = field(default_factory=list)
    """Stopped tasks whose process has not ended yet: their host ports and resources stay taken,
    as a container's until it exits."""
    last_event: dict[str, str] = field(default_factory=dict)
    completed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Service ARN -> its last COMPLETED deployment (what the circuit breaker rolls back to)."""
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Deployment ID -> why each of its failed tasks failed (for CloudFormation's message)."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


_RUNTIME: Runtime | None = None


def configure(state_dir: Path, endpoint: str) -> None:
    """End the orphans of an earlier emulator of ``state_dir``, then start the scheduler."""
    global _RUNTIME
    for orphan in pids.reap(state_dir):
        LOG.warning("ended orphan task process %s (%s)", orphan.pid, orphan.label)
    elb.apply()
    prefix = f"127.{random.randint(16, 250)}.{random.randint(1, 250)}"
    _RUNTIME = Runtime(state_dir.resolve(), endpoint, prefix)
    _RUNTIME.thread = threading.Thread(target=_loop, args=(_RUNTIME,), daemon=True, name="ecs")
    _RUNTIME.thread.start()


def shutdown() -> None:
    """Stop the scheduler and every task process (the emulator is stopping)."""
    runtime = _RUNTIME
    if runtime is None:
        return
    runtime.stop.set()
    if runtime.thread is not None:
        runtime.thread.join(timeout=5)
    with LOCK:
        every = [t for ts in runtime.tasks.values() for t in ts] + list(runtime.ending)
    stoppers = [threading.Thread(target=t.process.stop, args=(5.0,)) for t in every]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    elb.shutdown()
    pids.reap(runtime.state_dir)


# ---------------------------------------------------------------- what runs for real


def register_resources(container_instance: Any, instance_type: str, user_data: str) -> None:
    """What the ECS agent registers: the capacity model's CPU units and task memory of the
    instance type (less ``ECS_RESERVED_MEMORY`` from the user data); unknown types keep moto's."""
    import re

    from emulator import library

    resources = library.module("capacity").INSTANCE_TYPES.get(instance_type)
    if resources is None:
        return
    reserved = re.search(r"ECS_RESERVED_MEMORY=(\d+)", user_data)
    values = {
        "CPU": resources.cpu_units,
        "MEMORY": resources.task_memory_mib(int(reserved.group(1)) if reserved else 0),
    }
    for listing in (
        container_instance.registered_resources,
        container_instance.remaining_resources,
    ):
        for resource in listing:
            if resource["name"] in values:
                resource["integerValue"] = values[resource["name"]]


def _task_definition(service: Any) -> Any:
    return service._backend.describe_task_definition(service.task_definition)


def runnable(service: Any) -> bool:
    """True if every container of the service's task definition has its image's source here
    (the scheduler runs it); False: simulated."""
    runtime = _RUNTIME
    if runtime is None or service.launch_type == "FARGATE":
        return False
    definition = _task_definition(service)
    containers = definition.container_definitions
    return bool(containers) and all(
        assets.find(runtime.state_dir, str(c.get("image", ""))) is not None for c in containers
    )


def deployment_started(service: Any, reason: str = "") -> None:
    """A new deployment of a scheduled service (create, or an update): PRIMARY, IN_PROGRESS; the
    previous PRIMARY becomes ACTIVE until its tasks are gone."""
    from moto.core.utils import utcnow

    from emulator.compat.ecs_state import new_deployment

    with LOCK:
        now = utcnow()
        primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
        if (
            primary is not None
            and primary["taskDefinition"] == service.task_definition
            and primary.get("rolloutState") != "FAILED"
        ):
            primary["desiredCount"] = service.desired_count
            primary["updatedAt"] = now
            return
        for deployment in service.deployments:
            if deployment.get("status") == "PRIMARY":
                deployment["status"] = "ACTIVE"
        _take_over(service)
        service.deployments.insert(0, new_deployment(service, 0, completed=False))
        service.running_count = sum(1 for t in _tasks_of(service) if not t.stopping)


def service_deleted(service: Any) -> None:
    """Stop every task of a deleted service (or of one whose new image cannot run here: its
    tasks are simulated from now on)."""
    runtime = _RUNTIME
    if runtime is None:
        return
    with LOCK:
        for task in runtime.tasks.pop(service.arn, []):
            _stop(runtime, service, task, "Service deleted")


def _tasks_of(service: Any) -> list[Task]:
    runtime = _RUNTIME
    return [] if runtime is None else runtime.tasks.setdefault(service.arn, [])


# ---------------------------------------------------------------- the loop


def _loop(runtime: Runtime) -> None:
    while not runtime.stop.wait(TICK_SECONDS):
        try:
            with LOCK:
                _tick(runtime)
        except Exception:
            LOG.exception("scheduler tick failed")


def _tick(runtime: Runtime) -> None:
    from moto.ecs.models import ecs_backends

    from emulator.compat.ecs_state import deregister_gone

    ecs = ecs_backends[ACCOUNT_ID][REGION]
    deregister_gone(ACCOUNT_ID, REGION)  # an instance terminated meanwhile leaves its cluster
    elb.sync(lambda instance_id: _address_of(runtime, ecs, instance_id))
    for service in list(ecs.services.values()):
        if service.status == "ACTIVE" and service.arn in runtime.tasks:
            _reconcile(runtime, ecs, service)


def _address_of(runtime: Runtime, ecs: Any, ec2_instance_id: str) -> str | None:
    """The loopback address of the container instance an EC2 instance is (None: none)."""
    for instances in ecs.container_instances.values():
        for ci_id, ci in sorted(instances.items()):
            if ci.ec2_instance_id == ec2_instance_id:
                return _address(runtime, ci_id)
    return None


def _address(runtime: Runtime, container_instance_id: str) -> str:
    if container_instance_id not in runtime.addresses:
        runtime.addresses[container_instance_id] = f"{runtime.prefix}.{len(runtime.addresses) + 1}"
    return runtime.addresses[container_instance_id]


def _balancer_names(service: Any) -> list[str]:
    """The classic load balancers of a service (``loadBalancers[].loadBalancerName``)."""
    return [
        str(b["loadBalancerName"])
        for b in service.load_balancers or []
        if b.get("loadBalancerName")
    ]


def _health(runtime: Runtime, service: Any, task: Task) -> None:
    """Healthy once every load balancer of the service says InService (without one: once its
    host ports accept connections); after the grace period, a task the load balancer found
    unhealthy is stopped and counted as failed."""
    names = _balancer_names(service)
    if not names:
        task.healthy = task.healthy or all(
            tasks.listening(task.address, p) for p in task.host_ports
        )
        return
    states = [elb.instance_health(name, task.ec2_instance) for name in names]
    task.healthy = all(s is not None and s.state == elb.IN_SERVICE for s in states)
    grace = clock.seconds(float(getattr(service, "health_check_grace_period_seconds", 0) or 0))
    failed = [
        n
        for n, s in zip(names, states, strict=True)
        if s is not None and s.description == elb.FAILED
    ]
    if failed and time.monotonic() - task.started >= grace:
        reason = f"Task failed ELB health checks in (elb {failed[0]})"  # ECS's stoppedReason
        # what the service logged on the way (e.g. why its /health fails) is in its output
        _failed(service, task.task_definition, f"{reason}; its output: {task.process.log_path}")
        _stop(runtime, service, task, reason)


def failure_threshold(desired_count: int) -> int:
    """ECS's circuit-breaker threshold: half the desired count, rounded up, at least 3 and at
    most 200 failed tasks (ServiceDeploymentCircuitBreaker.threshold)."""
    return min(
        CIRCUIT_BREAKER_MAXIMUM, max(CIRCUIT_BREAKER_MINIMUM, math.ceil(0.5 * desired_count))
    )


def _breaker(service: Any) -> dict[str, Any]:
    config = service.deployment_configuration or {}
    return dict(config.get("deploymentCircuitBreaker") or {})


def _take_over(service: Any) -> None:
    """A new deployment of the service's task definition takes over the tasks of an older
    deployment of the same task definition (a rollback to it, or a stack rolled back to it):
    that one is gone, else it would keep counting them and the new one never completes."""
    service.deployments[:] = [
        d for d in service.deployments if d["taskDefinition"] != service.task_definition
    ]


def _failed(service: Any, task_definition: str, reason: str) -> None:
    """A task of ``task_definition`` failed to start or to become healthy (``reason``): counted
    on the primary deployment when it is that deployment's task."""
    primary = _primary(service)
    if primary.get("taskDefinition") == task_definition:
        primary["failedTasks"] = primary.get("failedTasks", 0) + 1
        if _RUNTIME is not None:
            _RUNTIME.failures.setdefault(str(primary["id"]), []).append(reason)


def failure_reasons(deployment_id: str) -> list[str]:
    """Why the tasks of a deployment failed, oldest first."""
    return list(_RUNTIME.failures.get(deployment_id, [])) if _RUNTIME is not None else []


def _trip_if_due(runtime: Runtime, service: Any) -> None:
    """Fail the primary deployment at the threshold; roll back to the last COMPLETED one."""
    from moto.core.utils import utcnow

    from emulator.compat.ecs_state import new_deployment

    primary = _primary(service)
    breaker = _breaker(service)
    if (
        not breaker.get("enable")
        or primary.get("rolloutState") != "IN_PROGRESS"
        or primary.get("failedTasks", 0) < failure_threshold(int(service.desired_count))
    ):
        return
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = FAILED_REASON
    primary["updatedAt"] = utcnow()
    _event(
        service,
        f"(service {service.name}) (deployment {primary['id']}) deployment failed: tasks failed "
        "to start.",
    )
    target = runtime.completed.get(service.arn)
    if not breaker.get("rollback") or target is None:
        return  # FAILED: no more tasks are launched; the old ones keep running
    primary["status"] = "ACTIVE"
    service.task_definition = target["taskDefinition"]
    _take_over(service)
    rollback = new_deployment(service, 0, completed=False)
    rollback["rolloutStateReason"] = (
        f"ECS deployment circuit breaker: rolling back to deploymentId {target['id']}."
    )
    service.deployments.insert(0, rollback)
    _event(service, f"(service {service.name}) rolling back to deployment {target['id']}.")


def adopt(service: Any) -> None:
    """Start scheduling a service (called when it is created or updated with a runnable image)."""
    _tasks_of(service)


def _instances(runtime: Runtime, ecs: Any, cluster: str) -> list[placement.Instance]:
    """The cluster's ACTIVE container instances with what their tasks use."""
    found = []
    for ci_id, ci in sorted(ecs.container_instances.get(cluster, {}).items()):
        if ci.status != "ACTIVE":
            continue
        _address(runtime, ci_id)
        resources = {r["name"]: r for r in ci.registered_resources}
        instance = placement.Instance(
            ci_id, resources["CPU"]["integerValue"], resources["MEMORY"]["integerValue"]
        )
        for task in [*(t for ts in runtime.tasks.values() for t in ts), *runtime.ending]:
            if task.instance == ci_id:
                placement.take(instance, task.demand)
        found.append(instance)
    return found


def _demand(service: Any, definition: Any) -> placement.Demand:
    containers = definition.container_definitions
    ports = frozenset(
        int(m.get("hostPort") or m.get("containerPort"))
        for c in containers
        for m in c.get("portMappings", [])
        if definition.network_mode in ("bridge", "host", None)
    )
    memory = sum(int(c.get("memoryReservation") or c.get("memory") or 0) for c in containers)
    return placement.Demand(
        service=service.name,
        cpu_units=sum(int(c.get("cpu") or 0) for c in containers),
        memory_mib=memory or int(definition.memory or 0),
        host_ports=ports,
        distinct_instance=any(
            p.get("type") == "distinctInstance"
            for p in (getattr(service, "placement_constraints", None) or [])
        ),
    )


def _reconcile(runtime: Runtime, ecs: Any, service: Any) -> None:
    service_tasks = runtime.tasks[service.arn]
    present = {
        ci_id
        for ci_id, ci in ecs.container_instances.get(service.cluster_name, {}).items()
        if ci.status == "ACTIVE"
    }
    for task in [t for t in service_tasks if t.instance not in present]:
        _stop(runtime, service, task, f"Host EC2 (instance {task.ec2_instance}) terminated.")
    _reap_exited(runtime, service, service_tasks)
    for task in list(service_tasks):
        if not task.stopping:
            _health(runtime, service, task)
    _trip_if_due(runtime, service)
    if _primary(service).get("rolloutState") == "FAILED":
        _count(runtime, ecs, service, 0)  # no rollback: ECS launches no more tasks
        return
    config = service.deployment_configuration or {}
    desired = int(service.desired_count)
    minimum = math.ceil(desired * int(config.get("minimumHealthyPercent", 100)) / 100)
    maximum = math.floor(desired * int(config.get("maximumPercent", 200)) / 100)
    live = [t for t in service_tasks if not t.stopping]
    new = [t for t in live if t.task_definition == service.task_definition]
    old = [t for t in live if t.task_definition != service.task_definition]
    pending_reason = ""
    while len(new) < desired and len(new) + len(old) < max(maximum, desired):
        started = _start(runtime, ecs, service)
        if isinstance(started, str):
            pending_reason = started
            break
        service_tasks.append(started)
        new.append(started)
    healthy = sum(1 for t in live if t.healthy)
    # Old tasks go while the healthy count stays at the minimum (unhealthy old ones first); then
    # surplus new tasks (desired count lowered).
    for task in sorted(old, key=lambda t: t.healthy):
        blocked = len(new) >= desired and all(t.healthy for t in new)
        if task.healthy and healthy - 1 < minimum and not blocked:
            break
        if not pending_reason and len(new) < desired and not blocked:
            break  # room enough: wait for the new tasks to start
        _stop(runtime, service, task, "Scaling activity initiated by (deployment)")
        healthy -= 1 if task.healthy else 0
    for task in new[desired:]:
        _stop(runtime, service, task, "Scaling activity initiated by (deployment)")
    if not pending_reason:
        runtime.last_event.pop(service.arn, None)  # the next shortage is reported again
    elif runtime.last_event.get(service.arn) != pending_reason:
        runtime.last_event[service.arn] = pending_reason
        _event(service, pending_reason)
    _count(runtime, ecs, service, desired - len(new) if pending_reason else 0)


def _start(runtime: Runtime, ecs: Any, service: Any) -> Task | str:
    """Place and start one task of the primary deployment; ECS's reason if none fits."""
    from moto.ecs.models import Task as TaskModel

    definition = _task_definition(service)
    demand = _demand(service, definition)
    chosen = placement.place(_instances(runtime, ecs, service.cluster_name), demand)
    if isinstance(chosen, str):
        return chosen
    cluster = ecs.clusters[service.cluster_name]
    ci = ecs.container_instances[service.cluster_name][chosen.instance_id]
    model = TaskModel(
        cluster,
        definition,
        ci.container_instance_arn,
        None,
        ecs,
        group=f"service:{service.name}",
        launch_type="EC2",
        started_by=_primary(service).get("id", ""),
    )
    model._transitions = []  # the scheduler sets every status itself
    address = runtime.addresses[chosen.instance_id]
    container = definition.container_definitions[0]
    asset = assets.find(runtime.state_dir, str(container.get("image", "")))
    assert asset is not None
    log = runtime.state_dir / "tasks" / "logs" / f"{service.name}-{model.id}.log"
    try:
        process = tasks.build(
            asset,
            container,
            address,
            runtime.endpoint,
            _databases(),
            log,
            runtime.state_dir,
            f"task {model.id} of service {service.name}",
        )
        process.start()
    except (tasks.TaskError, OSError, ValueError) as error:
        _failed(service, service.task_definition, f"task failed to start: {error}")
        return f"service {service.name} task failed to start: {error}"
    model.status = "RUNNING"
    for model_container in model.containers:
        model_container.last_status = "RUNNING"
        bindings = [
            {
                "bindIP": address,
                "containerPort": int(m["containerPort"]),
                "hostPort": int(m.get("hostPort") or m["containerPort"]),
                "protocol": "tcp",
            }
            for m in container.get("portMappings", [])
        ]
        setattr(model_container, "network_bindings", bindings)  # noqa: B010 - moto's model
    ecs.tasks.setdefault(service.cluster_name, {})[model.task_arn] = model
    _register(service, ci.ec2_instance_id)
    _event(service, f"(service {service.name}) has started 1 tasks: (task {model.id}).")
    return Task(
        model,
        service.name,
        service.task_definition,
        chosen.instance_id,
        ci.ec2_instance_id,
        address,
        demand.host_ports,
        demand,
        process,
    )


def _register(service: Any, ec2_instance_id: str) -> None:
    """ECS registers the task's container instance with the service's classic ELBs."""
    from moto.elb.models import elb_backends

    backend = elb_backends[ACCOUNT_ID][REGION]
    for name in _balancer_names(service):
        model = backend.load_balancers.get(name)
        if model is not None and ec2_instance_id not in model.instance_ids:
            backend.register_instances(name, [ec2_instance_id])


def _deregister_and_stop(runtime: Runtime, service_balancers: list[str], task: Task) -> None:
    """Deregister the instance, let its requests in flight finish (connection draining), then
    stop the process (SIGTERM, SIGKILL after the scaled stop timeout)."""
    for name in service_balancers:
        elb.drain(name, task.ec2_instance)
    task.process.stop(clock.seconds(STOP_TIMEOUT_SECONDS))
    with LOCK, contextlib.suppress(ValueError):
        runtime.ending.remove(task)


def _databases() -> list[tasks.Database]:
    from moto.rds.models import rds_backends

    from emulator.compat.local_mysql import Server

    server = Server.from_environment()
    found = []
    for instance in rds_backends[ACCOUNT_ID][REGION].databases.values():
        found.append(
            tasks.Database(instance.address, int(instance.port or 3306), server.host, server.port)
        )
    return found


def _reap_exited(runtime: Runtime, service: Any, service_tasks: list[Task]) -> None:
    for task in list(service_tasks):
        code = task.process.exit_code()
        if code is None or task.stopping:
            continue
        reason = "Essential container in task exited"
        with contextlib.suppress(AttributeError, IndexError):
            task.model.containers[0].exitCode = code
        if not task.healthy:
            _failed(
                service,
                task.task_definition,
                f"{reason} (exit code {code}) before it was healthy; its output: "
                f"{task.process.log_path}",
            )
        _stop(runtime, service, task, reason)


def _stop(runtime: Runtime, service: Any, task: Task, reason: str) -> None:
    """Stop a task: STOPPED in the API at once, its process ended in the background."""
    task.stopping = True
    task.model.desired_status = "STOPPED"
    task.model.status = "STOPPED"
    task.model.stopped_reason = reason
    for model_container in task.model.containers:
        model_container.last_status = "STOPPED"
    with contextlib.suppress(ValueError):
        runtime.tasks.get(service.arn, []).remove(task)
    _event(
        service, f"(service {service.name}) has stopped 1 running tasks: (task {task.model.id})."
    )
    from moto.elb.models import elb_backends

    names = _balancer_names(service)
    backend = elb_backends[ACCOUNT_ID][REGION]
    for name in names:
        if name in backend.load_balancers:
            backend.deregister_instances(name, [task.ec2_instance])
        elb.deregistered(name, task.ec2_instance)  # no new request reaches it from now on
    runtime.ending.append(task)
    threading.Thread(target=_deregister_and_stop, args=(runtime, names, task), daemon=True).start()


def _primary(service: Any) -> dict[str, Any]:
    for deployment in service.deployments:
        if deployment.get("status") == "PRIMARY":
            return dict(deployment) if not isinstance(deployment, dict) else deployment
    return {}


def _event(service: Any, message: str) -> None:
    from moto.core.utils import utcnow
    from moto.moto_api._internal import mock_random

    service.events.insert(
        0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(), "message": message}
    )


def _count(runtime: Runtime, ecs: Any, service: Any, unplaced: int) -> None:
    """Service, deployment, container instance and cluster counters from the tasks."""
    from moto.core.utils import utcnow

    from emulator.compat.ecs_state import recount

    live = runtime.tasks[service.arn]
    service.running_count = sum(1 for t in live if t.model.status == "RUNNING")
    service.pending_count = unplaced + sum(1 for t in live if not t.healthy)
    for deployment in service.deployments:
        mine = [t for t in live if t.task_definition == deployment["taskDefinition"]]
        deployment["runningCount"] = sum(1 for t in mine if t.healthy)
        deployment["pendingCount"] = len(mine) - deployment["runningCount"]
    service.deployments[:] = [
        d
        for d in service.deployments
        if d["status"] == "PRIMARY" or d["runningCount"] + d["pendingCount"]
    ]
    primary = _primary(service)
    done = (
        primary.get("rolloutState") == "IN_PROGRESS"
        and primary["runningCount"] == service.desired_count
        and len(service.deployments) == 1
        and not unplaced
    )
    if done:
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = utcnow()
        runtime.completed[service.arn] = primary
        _event(service, f"(service {service.name}) (deployment {primary['id']}) deployment "
               "completed.")
        _event(service, f"(service {service.name}) has reached a steady state.")
    for ci_id, ci in ecs.container_instances.get(service.cluster_name, {}).items():
        here = [t for ts in runtime.tasks.values() for t in ts if t.instance == ci_id]
        ci.running_tasks_count = len(here)
        for resource in ci.remaining_resources:
            registered = next(r for r in ci.registered_resources if r["name"] == resource["name"])
            if resource["name"] == "CPU":
                resource["integerValue"] = registered["integerValue"] - sum(
                    t.demand.cpu_units for t in here
                )
            elif resource["name"] == "MEMORY":
                resource["integerValue"] = registered["integerValue"] - sum(
                    t.demand.memory_mib for t in here
                )
            elif resource["name"] == "PORTS":
                resource["stringSetValue"] = sorted(
                    set(registered["stringSetValue"]) | {str(p) for t in here for p in t.host_ports}
                )
    recount(ecs, service.cluster_name)
