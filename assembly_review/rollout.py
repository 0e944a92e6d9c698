"""Rollout: which ECS services get a new task definition (image before -> after), and what
happens to the container instances when their launch template changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .diff import MISSING, leaf_changes, path_text
from .replacement import Impact, Verdict
from .template import Stack, properties, ref_target, render


def image_text(value: Any) -> str:
    """A container image as a reviewer reads it: the registry name, or the source-built asset."""
    if value is None or value is MISSING:
        return "-"
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    if "container-assets" in text:
        digest = text.rsplit(":", 1)[-1].strip('"}')[:12]
        return f"built from source (asset {digest})"
    return render(value)


@dataclass(frozen=True)
class ServiceRollout:
    """One service whose tasks are replaced by a deployment."""

    service: str
    task_definition: str
    images: tuple[tuple[str, str, str], ...]
    """(container, image before, image after); before is '-' for a new service."""
    other_changes: tuple[str, ...]
    """Other task-definition paths that changed (environment, cpu, ports, ...)."""
    status: str
    """'new revision', 'new service' or 'removed'."""


@dataclass(frozen=True)
class FleetChange:
    """A launch template change: what the container instances get, and when."""

    launch_template: str
    changes: tuple[str, ...]
    when: str


def service_name(logical_id: str, resource: Mapping[str, Any] | None,
                 resources: Mapping[str, Any] | None = None) -> str:
    """An ECS service's name: ServiceName when set, else its task definition's first container
    (CloudFormation generates the service name), else its logical ID."""
    name = properties(resource).get("ServiceName")
    if isinstance(name, str):
        return name
    task = (resources or {}).get(ref_target(properties(resource).get("TaskDefinition")) or "")
    containers = properties(task).get("ContainerDefinitions", [])
    if containers and isinstance(containers[0], dict) and isinstance(containers[0].get("Name"),
                                                                     str):
        container: str = containers[0]["Name"]
        return container
    return logical_id


def _services_by_task(stack: Stack | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for logical_id, resource in (stack.resources if stack else {}).items():
        if resource.get("Type") == "AWS::ECS::Service":
            task = ref_target(properties(resource).get("TaskDefinition"))
            if task:
                out.setdefault(task, []).append(service_name(logical_id, resource,
                                                             stack.resources if stack else None))
    return out


def _containers(resource: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    containers = properties(resource).get("ContainerDefinitions", [])
    return {str(c.get("Name", i)): c for i, c in enumerate(containers) if isinstance(c, dict)}


def services(verdicts: list[Verdict], base: Stack | None,
             head: Stack | None) -> list[ServiceRollout]:
    """Services whose task definition is added, replaced or removed, in service-name order."""
    by_task_head, by_task_base = _services_by_task(head), _services_by_task(base)
    rollouts = []
    for verdict in verdicts:
        if verdict.type != "AWS::ECS::TaskDefinition" or verdict.impact is Impact.IN_PLACE:
            continue
        before, after = _containers(verdict.before), _containers(verdict.after)
        images = tuple(
            (name, image_text(before.get(name, {}).get("Image")),
             image_text(after.get(name, {}).get("Image")))
            for name in sorted(set(before) | set(after))
        )
        others = sorted({
            path_text(change.path) for name in sorted(set(before) & set(after))
            for change in leaf_changes(before[name], after[name], (name,))
            if change.path[1:2] != ("Image",)
        })
        status = {Impact.ADD: "new service", Impact.REMOVE: "removed"}.get(
            verdict.impact, "new revision")
        names = (by_task_base if verdict.impact is Impact.REMOVE else by_task_head).get(
            verdict.logical_id, [verdict.logical_id])
        for name in names:
            rollouts.append(ServiceRollout(name, verdict.logical_id, images, tuple(others),
                                           status))
    return sorted(rollouts, key=lambda r: r.service)


def fleet(verdicts: list[Verdict], head: Stack | None) -> list[FleetChange]:
    """Launch templates that change, and whether running instances pick the change up."""
    groups = [r for r in (head.resources.values() if head else [])
              if r.get("Type") == "AWS::AutoScaling::AutoScalingGroup"]
    changes = []
    for verdict in verdicts:
        if verdict.type != "AWS::EC2::LaunchTemplate" or verdict.impact is not Impact.IN_PLACE:
            continue
        paths = tuple(c.path.removeprefix("LaunchTemplateData.") for c in verdict.causes)
        using = [g for g in groups
                 if ref_target(properties(g).get("LaunchTemplate", {}).get("LaunchTemplateId"))
                 == verdict.logical_id]
        rolling = any("AutoScalingRollingUpdate" in g.get("UpdatePolicy", {}) for g in using)
        when = ("the Auto Scaling group's rolling-update policy replaces the instances in batches"
                if rolling else
                "a new launch template version; the Auto Scaling group has no rolling-update "
                "policy, so running instances keep the old one until they are replaced "
                "(scale-in, instance refresh or failure)")
        changes.append(FleetChange(verdict.logical_id, paths, when))
    return changes
