"""An ECS rolling deployment as a timeline, read from the AWS APIs alone.

:class:`Watcher` polls ECS ``DescribeServices`` (the service's events and deployments) and the
classic ELB's ``DescribeInstanceHealth`` of each watched service, and turns what changed into
:class:`Moment` s: a deployment started, a task started or stopped, an instance registered,
InService, OutOfService or deregistered, a deployment COMPLETED or FAILED (rolled back). It
keeps, per service, the lowest InService count it saw against the minimum the service's
``minimumHealthyPercent`` allows. It takes any boto3 ECS and ELB clients: pointed at the local
emulator (``make local-rollout``) or at an AWS account, the same logic watches the deployment.

What a poll cannot see: a dip in the InService count shorter than the poll interval (the
emulator's health checks run at least a second apart at its default time scale; the watcher
polls every 0.2 s), nor when exactly an instance's health changed: such a change is stamped with
the last read that did not show it yet, so the stop of the next old task that ECS makes after it
is printed after it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TASK_EVENT = re.compile(r"has (started|stopped) \d+ (?:running )?tasks?: (.*)$")
TASK_ID = re.compile(r"\(task ([^)]+)\)")
STEADY_EVENT = "has reached a steady state"
DESCRIBE_BATCH = 10
"""``DescribeServices`` takes at most 10 services per call."""


@dataclass(frozen=True)
class ServiceRef:
    """An ECS service to watch."""

    cluster: str
    """Its cluster's name or ARN."""
    name: str


@dataclass(frozen=True)
class Moment:
    """One line of the timeline."""

    seconds: float
    """Since the watcher's start."""
    service: str
    text: str

    def line(self) -> str:
        """The moment as the timeline prints it."""
        return f"  {self.seconds:+7.1f}s  {self.service:<12} {self.text}"


@dataclass
class ServiceWatch:
    """What the watcher knows of one service."""

    ref: ServiceRef
    desired: int = 0
    minimum_percent: int = 100
    balancers: tuple[str, ...] = ()
    baseline: frozenset[str] = frozenset()
    """The deployments that existed when the watch started."""
    states: dict[str, str] = field(default_factory=dict)
    """Deployment ID -> its rolloutState as last seen."""
    new_deployments: list[str] = field(default_factory=list)
    failed_deployments: list[str] = field(default_factory=list)
    """Why each new deployment that ended FAILED failed (rolloutStateReason)."""
    task_definitions: dict[str, str] = field(default_factory=dict)
    """Deployment ID -> its task definition."""
    seen_events: set[str] = field(default_factory=set)
    health: dict[tuple[str, str], str] = field(default_factory=dict)
    """(load balancer, instance) -> State as last seen."""
    lowest: int | None = None
    """The lowest InService count seen (over every ELB of the service, each counted alone)."""
    started: float | None = None
    """When the first new deployment was created (seconds since the watcher's start)."""
    finished: float | None = None
    """When the last new deployment ended (COMPLETED or FAILED)."""
    in_progress: bool = False
    deployments: int = 0
    in_service: int = 0

    @property
    def minimum(self) -> int:
        """The fewest healthy tasks ``minimumHealthyPercent`` allows (ECS rounds up)."""
        return math.ceil(self.desired * self.minimum_percent / 100)

    @property
    def rolled_out(self) -> bool:
        """A new deployment started while watched."""
        return bool(self.new_deployments)

    @property
    def duration(self) -> float | None:
        """From the first new deployment's creation to the end of the last one."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def settled(self) -> bool:
        """No deployment in progress, a single one left, every desired task InService."""
        return not self.in_progress and self.deployments == 1 and self.in_service >= self.desired

    def problems(self) -> list[str]:
        """What went wrong for this service: the healthy count below the minimum, a deployment
        that failed."""
        found = []
        if self.lowest is not None and self.lowest < self.minimum:
            found.append(
                f"{self.ref.name}: {self.lowest} InService at the lowest, below the minimum of "
                f"{self.minimum} (minimumHealthyPercent {self.minimum_percent} of "
                f"{self.desired} tasks)"
            )
        found.extend(f"{self.ref.name}: deployment failed: {r}" for r in self.failed_deployments)
        return found


def short_name(task_definition: str) -> str:
    """``family:revision`` of a task definition ARN."""
    return task_definition.rsplit("/", 1)[-1]


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


class Watcher:
    """Polls the services' deployments, events and ELB instance health (:meth:`poll`)."""

    def __init__(
        self, ecs: Any, elb: Any, services: Sequence[ServiceRef], started: float | None = None
    ) -> None:
        self.ecs = ecs
        self.elb = elb
        self.t0 = time.time() if started is None else started
        """Wall-clock time of the start (the timeline's 0)."""
        self.watches = {(s.cluster, s.name): ServiceWatch(s) for s in services}
        self.last_read: dict[str, float] = {}
        """Load balancer -> when its health was last asked for (seconds since the start)."""

    def since(self, epoch: float | None = None) -> float:
        """Seconds since the start (of ``epoch``, default now)."""
        return (time.time() if epoch is None else epoch) - self.t0

    def start(self) -> None:
        """Take what is there now as the baseline: existing deployments and events are not
        moments; the InService counts start the lowest."""
        for watch, service in self._describe():
            watch.baseline = frozenset(d["id"] for d in service.get("deployments", []))
            watch.seen_events = {e["id"] for e in service.get("events", [])}
            self._update(watch, service, [])
            for name in watch.balancers:
                self.last_read[name] = self.since()
                for instance, state in self._health(name).items():
                    watch.health[(name, instance)] = state
            watch.lowest = self._in_service(watch)
            watch.in_service = watch.lowest

    def poll(self) -> list[Moment]:
        """What changed since the last poll, in time order."""
        moments: list[Moment] = []
        for watch, service in self._describe():
            self._update(watch, service, moments)
            self._events(watch, service, moments)
            self._balancers(watch, moments)
        return sorted(moments, key=lambda m: m.seconds)

    @property
    def settled(self) -> bool:
        """Every watched service is settled (:attr:`ServiceWatch.settled`)."""
        return all(w.settled for w in self.watches.values())

    def results(self) -> list[ServiceWatch]:
        """Every watched service, in the order given."""
        return list(self.watches.values())

    # ------------------------------------------------------------ reading the APIs

    def _describe(self) -> Iterable[tuple[ServiceWatch, dict[str, Any]]]:
        by_cluster: dict[str, list[str]] = {}
        for cluster, name in self.watches:
            by_cluster.setdefault(cluster, []).append(name)
        for cluster, names in by_cluster.items():
            for start in range(0, len(names), DESCRIBE_BATCH):
                answer = self.ecs.describe_services(
                    cluster=cluster, services=names[start : start + DESCRIBE_BATCH]
                )
                for service in answer["services"]:
                    watch = self.watches.get((cluster, service["serviceName"]))
                    if watch is not None:
                        yield watch, service

    def _health(self, name: str) -> dict[str, str]:
        answer = self.elb.describe_instance_health(LoadBalancerName=name)
        return {s["InstanceId"]: s["State"] for s in answer["InstanceStates"]}

    def _in_service(self, watch: ServiceWatch) -> int:
        counts = [
            sum(1 for (lb, _), state in watch.health.items() if lb == name and state == "InService")
            for name in watch.balancers
        ]
        return min(counts) if counts else 0

    # ------------------------------------------------------------ what changed

    def _update(self, watch: ServiceWatch, service: dict[str, Any], moments: list[Moment]) -> None:
        watch.desired = int(service.get("desiredCount", 0))
        config = service.get("deploymentConfiguration") or {}
        watch.minimum_percent = int(config.get("minimumHealthyPercent", 100))
        watch.balancers = tuple(
            b["loadBalancerName"]
            for b in service.get("loadBalancers", [])
            if "loadBalancerName" in b
        )
        deployments = service.get("deployments", [])
        watch.deployments = len(deployments)
        watch.in_progress = any(d.get("rolloutState") == "IN_PROGRESS" for d in deployments)
        name = watch.ref.name
        for deployment in reversed(deployments):  # oldest first
            ident, state = deployment["id"], deployment.get("rolloutState", "")
            previous = watch.states.get(ident)
            watch.states[ident] = state
            watch.task_definitions[ident] = deployment.get("taskDefinition", "")
            if ident in watch.baseline and previous is None:
                continue  # the start's baseline
            if previous is None:
                created = self.since(_epoch(deployment.get("createdAt")) or time.time())
                watch.new_deployments.append(ident)
                if watch.started is None:
                    watch.started = created
                moments.append(Moment(created, name, (
                    f"deployment {ident} started: task definition "
                    f"{short_name(deployment.get('taskDefinition', ''))}, {watch.desired} tasks, "
                    f"at least {watch.minimum} healthy (minimumHealthyPercent "
                    f"{watch.minimum_percent})"
                )))
            if state != previous and state in ("COMPLETED", "FAILED"):
                at = self.since()
                reason = deployment.get("rolloutStateReason", "")
                text = f"deployment {ident} {state}: {reason}".rstrip(": ")
                moments.append(Moment(at, name, text))
                if ident in watch.new_deployments:
                    watch.finished = at
                    if state == "FAILED":
                        watch.failed_deployments.append(reason or f"deployment {ident} FAILED")

    def _events(self, watch: ServiceWatch, service: dict[str, Any], moments: list[Moment]) -> None:
        for event in reversed(service.get("events", [])):  # oldest first
            if event["id"] in watch.seen_events:
                continue
            watch.seen_events.add(event["id"])
            at = self.since(_epoch(event.get("createdAt")) or time.time())
            message = str(event.get("message", ""))
            found = TASK_EVENT.search(message)
            if found:
                verb, tasks = found.groups()
                for task in TASK_ID.findall(tasks):
                    moments.append(Moment(at, watch.ref.name, f"task {task} {verb}"))
            elif STEADY_EVENT not in message:  # the deployment's COMPLETED says it
                moments.append(Moment(at, watch.ref.name, f"event: {message}"))

    def _balancers(self, watch: ServiceWatch, moments: list[Moment]) -> None:
        """Registrations and deregistrations are stamped when seen (they follow a task's start
        or stop); a change of health state with the previous read that did not show it yet (it
        happened after that read, and what ECS did about it, e.g. stopping the next old task,
        comes after it)."""
        changes: list[tuple[float, str]] = []
        for name in watch.balancers:
            asked = self.since()
            now = self._health(name)
            seen = self.since()
            previous = self.last_read.get(name, asked)
            self.last_read[name] = asked
            for instance, state in sorted(now.items()):
                before = watch.health.get((name, instance))
                watch.health[(name, instance)] = state
                if before is None:
                    changes.append((seen, f"{instance} registered with ELB {name}: {state}"))
                elif before != state:
                    changes.append((previous, f"{instance} {state} on ELB {name}"))
            for key in [k for k in watch.health if k[0] == name and k[1] not in now]:
                del watch.health[key]
                changes.append((seen, f"{key[1]} deregistered from ELB {name}"))
        watch.in_service = self._in_service(watch)
        if watch.balancers:
            watch.lowest = (
                watch.in_service if watch.lowest is None else min(watch.lowest, watch.in_service)
            )
        for at, change in changes:
            moments.append(
                Moment(at, watch.ref.name, f"{change} ({watch.in_service} of {watch.desired} "
                       "InService)")
            )
