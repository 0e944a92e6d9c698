"""What ``make local`` prints about the services that run for real: per ECS service behind a
classic ELB, the ELB's local URL, how many of its instances are InService, and example requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
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
        entries = _balanced(endpoint, state_dir)
        if all(len(lb["inService"]) >= s["desiredCount"] for s, _, lb in entries):
            return True
        time.sleep(0.5)
    return False


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
