"""What ``make local`` prints about the services that run for real: per ECS service behind a
classic ELB, the ELB's local URL, how many of its instances are InService, and example requests;
and the bounded continuous traffic through those ELBs that ``make local-rollout`` and the
benchmark send (:class:`Traffic`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from emulator import assets, report
from emulator.runtime.image import ImageSource


def load_balancers(endpoint: str) -> dict[str, Any]:
    """``GET /_emulator/load-balancers``: each classic ELB's local listeners and health."""
    return dict(httpx.get(f"{endpoint}/_emulator/load-balancers", timeout=10).json())


def _services(endpoint: str) -> list[dict[str, Any]]:
    ecs = report.client(endpoint, "ecs")
    found = []
    for cluster in ecs.list_clusters()["clusterArns"]:
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        for start in range(0, len(arns), 10):
            found.extend(
                ecs.describe_services(cluster=cluster, services=arns[start : start + 10])[
                    "services"
                ]
            )
    return found


def _runs(endpoint: str, state_dir: Path, service: dict[str, Any]) -> bool:
    """True if the service's images have their source here (its tasks run as processes)."""
    ecs = report.client(endpoint, "ecs")
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    containers = definition["taskDefinition"]["containerDefinitions"]
    return all(assets.find(state_dir, c.get("image", "")) is not None for c in containers)


def _balanced(endpoint: str, state_dir: Path) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(service, load balancer name, its runtime description) of every service behind a classic
    ELB whose tasks run for real."""
    described = load_balancers(endpoint)["loadBalancers"]
    return [
        (service, name, described[name])
        for service in _services(endpoint)
        if _runs(endpoint, state_dir, service)
        for name in (b.get("loadBalancerName") for b in service.get("loadBalancers", []))
        if name in described
    ]


def wait_in_service(endpoint: str, state_dir: Path, timeout: float) -> bool:
    """Wait until every such service has its desired count InService (False on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(n >= desired for n, desired in in_service(endpoint, state_dir).values()):
            return True
        time.sleep(0.5)
    return False


def in_service(endpoint: str, state_dir: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(service name, ELB name) -> (instances InService on the ELB, the service's desired
    count), of every service behind a classic ELB whose tasks run for real."""
    return {
        (s["serviceName"], name): (len(lb["inService"]), int(s["desiredCount"]))
        for s, name, lb in _balanced(endpoint, state_dir)
    }


def _example_path(state_dir: Path, service: dict[str, Any], endpoint: str) -> str | None:
    """``/api/<resource>`` when the image's source declares a service definition (docker/)."""
    ecs = report.client(endpoint, "ecs")
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    for container in definition["taskDefinition"]["containerDefinitions"]:
        asset = assets.find(state_dir, container.get("image", ""))
        if asset is None:
            continue
        env = ImageSource(Path(asset.directory), asset.build_args, asset.dockerfile).environment()
        path = Path(env.get("SERVICE_DEFINITION", "/nonexistent"))
        if path.is_file():
            resource = json.loads(path.read_text(encoding="utf-8")).get("resource")
            return f"/api/{resource}" if resource else None
    return None


def print_urls(endpoint: str, state_dir: Path, out: Callable[[str], None], wait: float) -> None:
    """Per service behind a classic ELB: its URL, the healthy count, example requests."""
    healthy = wait_in_service(endpoint, state_dir, wait)
    described = load_balancers(endpoint)
    entries = _balanced(endpoint, state_dir)
    if not entries:
        return
    out(
        f"==> services: tasks run as processes; health checks, grace periods and draining run "
        f"at {described['timeScale']}x the template's times (EMULATOR_TIME_SCALE)"
        + ("" if healthy else f"; not every ELB was healthy within {wait:.0f}s")
    )
    for service, name, balancer in entries:
        for listener in balancer["listeners"]:
            out(
                f"    {service['serviceName']}: {listener['url']} (ELB {name}, listener port "
                f"{listener['loadBalancerPort']}): {len(balancer['inService'])} of "
                f"{service['desiredCount']} instances InService"
            )
            path = _example_path(state_dir, service, endpoint)
            if path and listener["protocol"] in ("HTTP", "HTTPS"):
                out(f"        curl {listener['url']}{path}")


@dataclass(frozen=True)
class Target:
    """Where the traffic of one ECS service goes: its ELB's local listener and a request path."""

    service: str
    """The ECS service's name."""
    cluster: str
    """Its cluster's ARN."""
    url: str
    """The ELB listener's local URL with the example path (``/api/<resource>`` when the image's
    source declares it: a request that reaches the database), else ``/``."""


def targets(endpoint: str, state_dir: Path) -> list[Target]:
    """One target per ECS service behind a classic ELB whose tasks run for real (its first HTTP
    listener)."""
    found = []
    for service, _, balancer in _balanced(endpoint, state_dir):
        listener = next(
            (item for item in balancer["listeners"] if item["protocol"] in ("HTTP", "HTTPS")), None
        )
        if listener is not None:
            path = _example_path(state_dir, service, endpoint) or "/"
            url = listener["url"] + path
            found.append(Target(service["serviceName"], service["clusterArn"], url))
    return found


FIRST_REASONS = 5
"""How many failures :class:`Counts` keeps the reason of (the first ones)."""


@dataclass
class Counts:
    """Requests sent to one target and those that failed (an error or a status other than 2xx)."""

    sent: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)
    """The first :data:`FIRST_REASONS` failures: seconds since the traffic started, and why."""


class Traffic:
    """Continuous GET requests to each target from ``workers`` threads per target, from
    ``__enter__`` until ``stop()`` (or ``__exit__``): bounded, it also stops on its own after
    ``max_seconds`` or once ``max_requests`` were sent to a target."""

    def __init__(
        self,
        targets: Sequence[Target],
        max_seconds: float,
        *,
        workers: int = 1,
        max_requests: int | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.targets = list(targets)
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.timeout_seconds = timeout_seconds
        self.counts = {t.service: Counts() for t in self.targets}
        self.started = 0.0
        self.ended: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, args=(t,), daemon=True, name=f"traffic-{t.service}")
            for t in self.targets
            for _ in range(workers)
        ]

    @property
    def seconds(self) -> float:
        """How long the traffic ran (so far)."""
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def _claim(self, counts: Counts) -> bool:
        """Count one more request, unless the traffic is stopped or bounded out."""
        with self._lock:
            if self._stop.is_set() or time.monotonic() - self.started >= self.max_seconds:
                return False
            if self.max_requests is not None and counts.sent >= self.max_requests:
                return False
            counts.sent += 1
            return True

    def _failed(self, counts: Counts, reason: str) -> None:
        with self._lock:
            counts.failed += 1
            if len(counts.reasons) < FIRST_REASONS:
                counts.reasons.append(f"+{time.monotonic() - self.started:.1f}s {reason}")

    def _send(self, target: Target) -> None:
        counts = self.counts[target.service]
        with httpx.Client(timeout=self.timeout_seconds) as client:
            while self._claim(counts):
                try:
                    answer = client.get(target.url)
                except httpx.HTTPError as error:
                    self._failed(counts, f"{type(error).__name__}: {error}"[:160])
                    continue
                if not 200 <= answer.status_code < 300:
                    body = " ".join(answer.text.split())[:100]
                    self._failed(counts, f"HTTP {answer.status_code} from {target.url}: {body}")

    def __enter__(self) -> Traffic:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_seconds + 5)
        if self.ended is None:
            self.ended = time.monotonic()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
