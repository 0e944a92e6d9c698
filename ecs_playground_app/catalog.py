"""A generated catalog of many services, as cdk.json context: for the scale tests and
`make bench-scale`. A catalog is data only: the `services` list and `<service>.*` keys.

The default app's two services stay (pinned to the platform stack, as in cdk.json) with published
images; the others are `svc-001`, `svc-002`, ... with small tasks, so that the capacity check passes
on 4 x m5.4xlarge for up to a few hundred services.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIRST_PORT = 10000


def generated_names(count: int) -> list[str]:
    """'svc-001', 'svc-002', ...: `count` generated service names."""
    return [f"svc-{i:03d}" for i in range(1, count + 1)]


def catalog_context(base: Mapping[str, Any], services: int) -> dict[str, Any]:
    """`base` (cdk.json's context) with `services` services in all: location and user (with
    published images) plus services - 2 generated ones."""
    context = dict(base)
    context.update({
        "cluster.instanceType": "m5.4xlarge", "cluster.minCapacity": 4,
        "cluster.maxCapacity": 4,
        "location.image": "srirajan/location:10", "location.containerPort": 8081,
        "user.image": "srirajan/user:1", "user.containerPort": 9091,
    })
    names = generated_names(max(services - 2, 0))
    context["services"] = ["location", "user", *names]
    for i, name in enumerate(names):
        context.update(service_keys(name, FIRST_PORT + i))
    return context


def service_keys(name: str, port: int) -> dict[str, Any]:
    """The keys of one generated service."""
    return {
        f"{name}.image": f"registry.example.org/catalog/{name}:1.0.0",
        f"{name}.containerPort": port,
        f"{name}.cpu": 128,
        f"{name}.memoryLimitMib": 128,
        f"{name}.desiredCount": 2,
        f"{name}.minHealthyPercent": 50,
        f"{name}.maxHealthyPercent": 100,
    }
