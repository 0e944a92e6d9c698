"""Reading a cloud assembly and the CloudFormation intrinsics inside its templates.

A cloud assembly is the folder `cdk synth` writes (`manifest.json` plus one template per stack).
Everything else in this package works on the :class:`Stack` objects read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PATH_KEY = "aws:cdk:path"
TIMES = "\N{MULTIPLICATION SIGN}"
"""The multiplication sign of '4 x t2.medium' in labels and report cells."""
DEFAULT_ENVIRONMENT = "default"
"""The environment of a top-level stack: an app that declares no named environments."""
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Stack:
    """One CloudFormation stack of an assembly."""

    name: str
    """The stack's artifact ID in the assembly (e.g. ``EcsPlayground``, ``Stage/Stack``)."""
    template: Mapping[str, Any]
    region: str | None
    """The stack's region, or None when it is environment-agnostic (``unknown-region``)."""
    environment: str = DEFAULT_ENVIRONMENT
    """The named environment (the CDK Stage) it belongs to; ``default`` for a top-level stack."""

    @property
    def resources(self) -> Mapping[str, Any]:
        """The template's resources by logical ID."""
        resources: Mapping[str, Any] = self.template.get("Resources", {})
        return resources


class AssemblyError(ValueError):
    """The folder is not a cloud assembly that can be read."""


def load_assembly(outdir: Path, environment: str = DEFAULT_ENVIRONMENT) -> dict[str, Stack]:
    """The stacks of a cloud assembly folder (nested stage assemblies included), by name: a
    stage's stacks by their display name, ``prod/EcsPlayground``, and in its environment."""
    manifest_file = outdir / "manifest.json"
    if not manifest_file.is_file():
        raise AssemblyError(
            f"{outdir} is not a cloud assembly: {manifest_file.name} is missing; synthesize it "
            "first (make synth, or cdk synth -o DIR)"
        )
    manifest = json.loads(manifest_file.read_text())
    stacks: dict[str, Stack] = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        props = artifact.get("properties", {})
        if kind == "aws:cloudformation:stack":
            template = json.loads((outdir / props["templateFile"]).read_text())
            name = artifact.get("displayName", artifact_id)
            stacks[name] = Stack(name, template, _region(artifact.get("environment")), environment)
        elif kind == "cdk:cloud-assembly":
            stage = props.get("displayName") or artifact_id.removeprefix("assembly-")
            stacks.update(load_assembly(outdir / props["directoryName"], stage))
    return stacks


def _region(environment: str | None) -> str | None:
    """'aws://123456789012/eu-west-1' -> 'eu-west-1'; None for an environment-agnostic stack."""
    if not environment or not environment.startswith("aws://"):
        return None
    region = environment.removeprefix("aws://").split("/", 1)[-1]
    return None if region in ("", "unknown-region") else region


def construct_path(resource: Mapping[str, Any]) -> str | None:
    """The resource's construct path without the stack's own name (``Database/Instance``)."""
    path = resource.get("Metadata", {}).get(PATH_KEY)
    if not isinstance(path, str):
        return None
    parts = path.split("/")[1:]
    if parts and parts[-1] in ("Resource", "Default"):
        parts = parts[:-1]
    return "/".join(parts) or None


def iter_references(value: Any) -> Iterator[tuple[str, str | None]]:
    """(logical ID, attribute or None) for every reference in a template value, at any depth."""
    if isinstance(value, list):
        for item in value:
            yield from iter_references(item)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref" and isinstance(arg, str):
            if not arg.startswith("AWS::"):
                yield arg, None
            return
        if key == "Fn::GetAtt":
            target, attribute = _getatt(arg)
            if target:
                yield target, attribute
            return
        if key == "Fn::Sub":
            yield from _sub_references(arg)
            return
    for item in value.values():
        yield from iter_references(item)


def _getatt(arg: Any) -> tuple[str | None, str | None]:
    if isinstance(arg, list) and arg and isinstance(arg[0], str):
        attribute = arg[1] if len(arg) > 1 and isinstance(arg[1], str) else None
        return arg[0], attribute
    if isinstance(arg, str) and "." in arg:
        target, attribute = arg.split(".", 1)
        return target, attribute
    return None, None


def _sub_references(arg: Any) -> Iterator[tuple[str, str | None]]:
    text, variables = (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (arg, {})
    if not isinstance(text, str):
        return
    local = variables if isinstance(variables, dict) else {}
    for name in _SUB_VARIABLE.findall(text):
        if name in local or name.startswith("AWS::"):
            continue
        target, _, attribute = name.partition(".")
        yield target, attribute or None
    for item in local.values():
        yield from iter_references(item)


def render(value: Any) -> str:
    """A template value as a short readable string: ``${Database.Endpoint.Address}``,
    ``arn:${AWS::Partition}:s3:::${Bucket}/*``; plain values as themselves."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(render(v) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            target, attribute = _getatt(arg)
            return f"${{{target}.{attribute}}}"
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            separator, parts = arg
            if isinstance(parts, list):
                return str(separator).join(render(p) for p in parts)
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else render(arg[0])
        if key == "Fn::Base64":
            return f"base64({render(arg)})"
        if key == "Fn::Select" and isinstance(arg, list) and len(arg) == 2:
            return f"select({render(arg[0])}, {render(arg[1])})"
        if key == "Fn::GetAZs":
            return "${AZs}"
        if key == "Fn::ImportValue":
            return f"import({render(arg)})"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def ref_target(value: Any) -> str | None:
    """The logical ID of a bare ``Ref`` or ``Fn::GetAtt`` value, else None."""
    if isinstance(value, dict) and len(value) == 1:
        key, arg = next(iter(value.items()))
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            return _getatt(arg)[0]
    return None


def properties(resource: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A resource's Properties (empty when it has none)."""
    if not resource:
        return {}
    props: Mapping[str, Any] = resource.get("Properties", {})
    return props


def as_int(value: Any) -> int | None:
    """An integer property (CloudFormation often writes numbers as strings), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def short_type(resource_type: str) -> str:
    """'AWS::RDS::DBInstance' -> 'RDS::DBInstance'."""
    return resource_type.removeprefix("AWS::")
