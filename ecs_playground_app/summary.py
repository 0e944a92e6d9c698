"""Summarize a synthesized cloud assembly: `python -m ecs_playground.summary cdk.out`.

Per environment (when cdk.json declares any: its name and region), stacks with resource counts,
every ECS service with its ports, desired count and image, and the capacity headroom that the
cluster's capacity check recorded in the template.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assembly_review.cost import monthly_cost_lines
from assembly_review.template import DEFAULT_ENVIRONMENT, Stack, load_assembly
from ecs_playground.quotas import INCREASES_METADATA_KEY

HEADROOM_KEY = "EcsPlayground::CapacityHeadroom"
QUOTA_INCREASES_KEY = INCREASES_METADATA_KEY


def _image(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    if "container-assets" in text:
        return f"built from source (asset {text.rsplit(':', 1)[-1][:12]})"
    return "<token>"


def _services(resources: dict[str, Any]) -> list[str]:
    lines = []
    for service in (r for r in resources.values() if r["Type"] == "AWS::ECS::Service"):
        props = service["Properties"]
        task = resources[props["TaskDefinition"]["Ref"]]["Properties"]
        container = task["ContainerDefinitions"][0]
        ports = container.get("PortMappings", [{}])[0]
        lb_ref = props.get("LoadBalancers", [{}])[0].get("LoadBalancerName", {}).get("Ref")
        listener = resources[lb_ref]["Properties"]["Listeners"][0] if lb_ref else {}
        deploy = props.get("DeploymentConfiguration", {})
        lines.append(
            f"  service {props.get('ServiceName', '?'):<10}"
            f" listener :{listener.get('LoadBalancerPort', '-')}"
            f" -> host :{ports.get('HostPort', '-')}"
            f" -> container :{ports.get('ContainerPort', '-')}"
            f"  desired {props.get('DesiredCount')}  cpu {container.get('Cpu')}"
            f"  memory {container.get('Memory')} MiB"
            f"  rolling {deploy.get('MinimumHealthyPercent')}/{deploy.get('MaximumPercent')} %"
            f"  image {_image(container.get('Image'))}"
        )
    return lines


def _headroom(resources: dict[str, Any]) -> list[str]:
    lines = []
    for resource in resources.values():
        h = resource.get("Metadata", {}).get(HEADROOM_KEY)
        if not h:
            continue
        name = resource["Properties"].get("ClusterName", "?")
        lines.append(
            f"  capacity {name}: {h['instances']} instances x {h['cpuUnitsPerInstance']} CPU units"
            f" / {h['memoryMibPerInstance']} MiB for tasks; at the peak of a rolling deployment"
            f" {h['peakTasks']} tasks use {h['peakCpuUnits']} CPU units / {h['peakMemoryMib']} MiB;"
            f" headroom {h['freeCpuUnits']} CPU units / {h['freeMemoryMib']} MiB"
            f" (tightest instance: {h['minFreeCpuUnitsOnAnInstance']} CPU units /"
            f" {h['minFreeMemoryMibOnAnInstance']} MiB free)"
        )
    return lines


def summarize(outdir: Path) -> str:
    """The summary text for a cloud assembly directory: per environment (when the app declares
    any: its name and region first), each stack and its cost."""
    stacks = load_assembly(outdir)
    environments = sorted({stack.environment for stack in stacks.values()})
    lines = []
    for environment in environments:
        mine = {name: stack for name, stack in stacks.items() if stack.environment == environment}
        if environments != [DEFAULT_ENVIRONMENT]:
            regions = sorted({stack.region or "environment-agnostic" for stack in mine.values()})
            lines.append(f"environment {environment} ({', '.join(regions)}): "
                         f"{len(mine)} stack(s)")
        lines += _stacks(mine)
        lines += monthly_cost_lines(outdir, mine)  # the same estimate `make review` reports
    return "\n".join(lines)


def _stacks(stacks: Mapping[str, Stack]) -> list[str]:
    lines = []
    for name, stack in sorted(stacks.items()):
        template = stack.template
        resources = dict(template.get("Resources", {}))
        counts = Counter(r["Type"] for r in resources.values())
        top = ", ".join(f"{t.split('::', 1)[1]} {n}" for t, n in counts.most_common(6))
        lines.append(f"stack {name}: {len(resources)} resources ({top}, ...)")
        lines += _services(resources)
        lines += _headroom(resources)
        lines += [f"  needs a quota increase: {line}"
                  for line in template.get("Metadata", {}).get(QUOTA_INCREASES_KEY, [])]
    return lines


def main(argv: list[str]) -> int:
    """Entry point."""
    outdir = Path(argv[1] if len(argv) > 1 else "cdk.out")
    print(summarize(outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
