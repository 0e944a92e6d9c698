"""Named environments as a fixed test scenario: the tutorial's context with `environments` and the
AZ lookups a committed cdk.context.json holds for them, never the user's cdk.json."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..tutorial import TUTORIAL_CONTEXT

DEV = {"account": "111111111111", "region": "us-east-1",
       "overrides": {"vpc.natGateways": 1}}
PROD = {"account": "333333333333", "region": "eu-central-1",
        "overrides": {"vpc.maxAzs": 3, "db.multiAz": True, "location.desiredCount": 6,
                      "cluster.minCapacity": 6, "cluster.maxCapacity": 6}}
QA = {"account": "111111111111", "region": "us-east-1",
      "overrides": {"db.backupRetentionDays": 14, "location.healthCheckPath": "/ready"}}
"""A third environment, in dev's account and region: it differs from dev by its overrides only."""
ZONES: dict[str, list[str]] = {
    "availability-zones:account=111111111111:region=us-east-1":
        [f"us-east-1{z}" for z in "abcdef"],
    "availability-zones:account=333333333333:region=eu-central-1":
        [f"eu-central-1{z}" for z in "abc"],
    "availability-zones:account=123456789012:region=us-east-1":
        [f"us-east-1{z}" for z in "abcdef"],
}
"""What cdk.context.json holds for these accounts and regions (CDK's AZ lookup)."""


def context(environments: Mapping[str, Any] | None = None, **keys: Any) -> dict[str, Any]:
    """The tutorial's context with `environments` (default: dev and prod) and the AZ lookups."""
    declared = {"dev": DEV, "prod": PROD} if environments is None else environments
    return {**TUTORIAL_CONTEXT, **ZONES, "environments": copy.deepcopy(dict(declared)), **keys}


def stacks(outdir: Path) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Every stack of an assembly and its stages: display name -> (environment, template)."""
    found: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, environment, file in _walk(outdir):
        found[name] = (environment, json.loads(file.read_text(encoding="utf-8")))
    assert found, f"no stack in {outdir}"
    return found


def _walk(root: Path) -> Iterator[tuple[str, str | None, Path]]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert not manifest.get("missing"), f"a lookup is missing (not offline): {manifest['missing']}"
    for name, artifact in manifest["artifacts"].items():
        if artifact["type"] == "aws:cloudformation:stack":
            yield (artifact.get("displayName", name), artifact.get("environment"),
                   root / artifact["properties"]["templateFile"])
        elif artifact["type"] == "cdk:cloud-assembly":
            yield from _walk(root / artifact["properties"]["directoryName"])


def resources_of(template: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """The properties of a template's resources of one type."""
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]
