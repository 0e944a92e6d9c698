"""The review's machine-readable plan (``cdk.review/plan.json``): what was reviewed, so that a
deploy can enforce it (``ecs_playground_app/deliver.py``, ``make deploy PLAN=...``).

Per environment and stack, the plan records the sha256 of the BASE and head templates (of the
file as written, and of its JSON canonical form, which is what CloudFormation's GetTemplate can be
compared with), of every resource and template section (to name what differs), of the stack's
record in the assembly manifest and its asset manifest, and of every asset's source as the
assembly records it (a file or a directory); and per resource the action the review found
(add, in-place, replace, remove) with its reasons, then the verdict and exit status (status.py).

The schema is ``plan.schema.json`` beside this module (docs/delivering.md describes it). A change
that a reader of an older plan would misread bumps :data:`SCHEMA_VERSION`.

Assemblies are walked generically: the stacks of the top-level assembly form the environment
``default``; a nested stage assembly (a CDK Stage) is the environment named by the stage.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .replacement import Impact, Verdict
from .report import Review, StackReview
from .schemas import type_schema
from .status import ExitStatus

SCHEMA_ID = "ecs-playground/delivery-plan"
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("plan.schema.json")
DEFAULT_ENVIRONMENT = "default"
"""The environment of the stacks at the top of the assembly (an app without stages)."""
_CHUNK = 1 << 20


# -- hashing -------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: Path) -> str:
    """The sha256 of a file, or of a directory: every file's relative path and content, in
    sorted order, so that any added, removed, renamed or edited file changes it. Links are
    followed and modes and empty directories left out, as a workflow artifact keeps neither."""
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*"), key=lambda p: p.relative_to(path).as_posix()):
        if entry.is_file():
            digest.update(f"{entry.relative_to(path).as_posix()}\0{sha256_file(entry)}\0".encode())
    return digest.hexdigest()


def canonical_sha256(value: Any) -> str:
    """The sha256 of a JSON value in canonical form (sorted keys, no spaces, UTF-8): equal for
    two templates that differ only in formatting."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def template_digest(template: Mapping[str, Any]) -> dict[str, Any]:
    """A template's canonical hash, and one per resource and per other top-level section."""
    return {
        "canonicalSha256": canonical_sha256(template),
        "resources": {lid: canonical_sha256(res)
                      for lid, res in sorted(template.get("Resources", {}).items())},
        "sections": {key: canonical_sha256(value)
                     for key, value in sorted(template.items()) if key != "Resources"},
    }


def template_differences(expected: Mapping[str, Any], template: Mapping[str, Any]) -> list[str]:
    """What differs between a digest (template_digest) and a template, one line per resource or
    section: 'resource Queue4A7E3555 changed', 'section Outputs added'."""
    found = template_digest(template)
    lines = []
    for kind in ("resources", "sections"):
        noun = "resource" if kind == "resources" else "section"
        want, got = expected.get(kind, {}), found[kind]
        lines += [f"{noun} {name} is not in the plan (added)"
                  for name in sorted(set(got) - set(want))]
        lines += [f"{noun} {name} is missing (removed)"
                  for name in sorted(set(want) - set(got))]
        lines += [f"{noun} {name} differs" for name in sorted(set(want) & set(got))
                  if want[name] != got[name]]
    return lines


# -- the assembly, walked generically ---------------------------------------------------------


@dataclass(frozen=True)
class StackArtifact:
    """One stack of a cloud assembly, with where it is and what it deploys."""

    environment: str
    """'default' at the top of the assembly; the stage's name inside a nested stage assembly."""
    artifact_id: str
    record: Mapping[str, Any]
    """The artifact's entry in its manifest.json."""
    directory: Path
    """The (nested) assembly directory holding the template and the assets."""
    asset_manifest: Path | None

    @property
    def display_name(self) -> str:
        """What `cdk deploy` selects the stack by (its hierarchical ID, e.g. 'dev/Platform')."""
        return str(self.record.get("displayName") or self.artifact_id)

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack name."""
        return str(self.record.get("properties", {}).get("stackName") or self.artifact_id)

    @property
    def template_file(self) -> Path:
        """The template's file."""
        return self.directory / str(self.record["properties"]["templateFile"])

    @property
    def account_region(self) -> tuple[str | None, str | None]:
        """(account, region) from 'aws://ACCOUNT/REGION'; None for an unknown one."""
        environment = str(self.record.get("environment", ""))
        account, _, region = environment.removeprefix("aws://").partition("/")
        return (None if not account or account.startswith("unknown-") else account,
                None if not region or region.startswith("unknown-") else region)

    @property
    def dependencies(self) -> list[str]:
        """Artifact IDs this stack depends on (stacks and asset manifests alike)."""
        return [str(d) for d in self.record.get("dependencies", [])]


def stack_artifacts(assembly: Path, environment: str = DEFAULT_ENVIRONMENT
                    ) -> Iterator[StackArtifact]:
    """Every stack of an assembly and of its nested stage assemblies, in manifest order."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    artifacts: Mapping[str, Any] = manifest.get("artifacts", {})
    for artifact_id, record in artifacts.items():
        kind, props = record.get("type"), record.get("properties", {})
        if kind == "aws:cloudformation:stack":
            assets = [artifacts[d]["properties"]["file"] for d in record.get("dependencies", [])
                      if artifacts.get(d, {}).get("type") == "cdk:asset-manifest"]
            yield StackArtifact(environment, artifact_id, record, assembly,
                                assembly / assets[0] if assets else None)
        elif kind == "cdk:cloud-assembly":
            name = str(record.get("displayName") or artifact_id.removeprefix("assembly-"))
            nested = name if environment == DEFAULT_ENVIRONMENT else f"{environment}/{name}"
            yield from stack_artifacts(assembly / props["directoryName"], nested)


def head_hashes(stack: StackArtifact) -> dict[str, Any]:
    """What a deploy of this stack uses, hashed: the template, its manifest record, its asset
    manifest and every asset's source (the template's own file asset is the template)."""
    template = json.loads(stack.template_file.read_text())
    assets = []
    if stack.asset_manifest is not None:
        listed = json.loads(stack.asset_manifest.read_text())
        for kind, section in (("file", "files"), ("docker-image", "dockerImages")):
            for asset_id, entry in sorted(listed.get(section, {}).items()):
                source = entry.get("source", {})
                where = source.get("path") if kind == "file" else source.get("directory")
                if kind == "file" and where == stack.template_file.name:
                    continue
                target = stack.directory / where if where else None
                assets.append({
                    "id": asset_id, "kind": kind, "source": source,
                    "sha256": (sha256_tree(target) if target and target.exists() else None),
                })
    return {
        "templateFile": stack.template_file.name,
        "templateSha256": sha256_file(stack.template_file),
        **template_digest(template),
        "artifactSha256": canonical_sha256(stack.record),
        "assetManifest": stack.asset_manifest.name if stack.asset_manifest else None,
        "assetManifestSha256": (sha256_file(stack.asset_manifest) if stack.asset_manifest
                                else None),
        "assets": assets,
    }


def base_hashes(stack: StackArtifact) -> dict[str, Any]:
    """The BASE template, hashed as the deployed template is compared with."""
    template = json.loads(stack.template_file.read_text())
    return {"templateFile": stack.template_file.name,
            "templateSha256": sha256_file(stack.template_file), **template_digest(template)}


# -- resources: the review's verdicts as plan actions ------------------------------------------


ACTIONS = {Impact.ADD: "add", Impact.IN_PLACE: "in-place", Impact.MAY_REPLACE: "replace",
           Impact.REPLACE: "replace", Impact.REMOVE: "remove"}


def _conditional(verdict: Verdict, region: str | None) -> bool:
    """True when CloudFormation may answer 'Replacement: Conditional' for this change: the review
    said may-replace, or decided a conditionally create-only property from the template."""
    if verdict.impact is Impact.MAY_REPLACE:
        return True
    conditional = {"/".join(p) for p in type_schema(verdict.type, region).conditional}
    return any(cause.path.replace(".", "/") in conditional for cause in verdict.causes)


def changes(verdicts: Sequence[Verdict], region: str | None) -> list[dict[str, Any]]:
    """One entry per logical ID CloudFormation touches, as the review decided it (a renamed
    construct is two: the new logical ID added, the old one removed)."""
    out = []
    for verdict in verdicts:
        if verdict.impact is Impact.NONE:
            continue
        reasons = [f"{cause.path}: {cause.reason}" for cause in verdict.causes]
        entry = {"logicalId": verdict.logical_id, "type": verdict.type,
                 "action": ACTIONS[verdict.impact], "conditional": _conditional(verdict, region),
                 "stateful": verdict.stateful, "acknowledged": verdict.acknowledged,
                 "reasons": reasons}
        if verdict.renamed_from:
            out.append({**entry, "action": "add", "conditional": False,
                        "reasons": [f"replaces {verdict.renamed_from} (renamed)", *reasons]})
            out.append({**entry, "logicalId": verdict.renamed_from, "action": "remove",
                        "conditional": False,
                        "reasons": [f"replaced by {verdict.logical_id} (renamed)", *reasons]})
        else:
            out.append(entry)
    return sorted(out, key=lambda e: str(e["logicalId"]))


def relative(path: Path, start: Path) -> str:
    """`path` relative to `start` when it can be (the plan travels with its assemblies)."""
    try:
        return os.path.relpath(path.resolve(), start.resolve())
    except ValueError:
        return str(path.resolve())


# -- the plan ------------------------------------------------------------------------------------


def build(result: Review, base: Path, head: Path, plan_file: Path) -> dict[str, Any]:
    """The plan of a review of the assemblies `base` and `head` (the folders it compared), to be
    written to `plan_file` (assembly paths are stored relative to it)."""
    base_stacks = {s.artifact_id: s for s in stack_artifacts(base)}
    head_stacks = {s.artifact_id: s for s in stack_artifacts(head)}
    reviewed = {s.name: s for s in result.stacks}
    stacks: dict[str, dict[str, Any]] = {}
    reviews: dict[str, list[StackReview]] = {}
    for artifact_id in sorted(set(base_stacks) | set(head_stacks)):
        old, new = base_stacks.get(artifact_id), head_stacks.get(artifact_id)
        stack = new or old
        assert stack is not None
        account, region = stack.account_region
        review_of = reviewed.get(artifact_id)
        reviews.setdefault(stack.environment, []).extend([review_of] if review_of else [])
        stacks.setdefault(stack.environment, {})[stack.stack_name] = {
            "artifactId": artifact_id,
            "displayName": stack.display_name,
            "account": account,
            "region": region,
            "dependsOn": sorted(
                head_stacks[d].stack_name for d in (new.dependencies if new else [])
                if d in head_stacks),
            "base": base_hashes(old) if old else None,
            "head": head_hashes(new) if new else None,
            "changes": changes(review_of.verdicts if review_of else [], region),
        }
    environments = {}
    for name in sorted(stacks):
        status = Review(reviews[name], allowed=result.allowed).status
        environments[name] = {"verdict": VERDICTS[status], "exitStatus": int(status),
                              "stacks": stacks[name]}
    where = plan_file.parent
    return {
        "schema": SCHEMA_ID,
        "schemaVersion": SCHEMA_VERSION,
        "base": {"label": result.base_label, "assembly": relative(base, where)},
        "head": {"label": result.head_label, "assembly": relative(head, where)},
        "cdkArgs": list(result.cdk_args),
        "acknowledged": list(result.allowed),
        "verdict": VERDICTS[result.status],
        "exitStatus": int(result.status),
        "environments": environments,
    }


VERDICTS = {ExitStatus.SAFE: "safe", ExitStatus.ERROR: "error",
            ExitStatus.DATA_LOSS: "data-loss", ExitStatus.DEPLOY_FAILS: "deploy-fails"}
"""The verdict's name in the plan, by exit status (status.py)."""


def write(result: Review, base: Path, head: Path, plan_file: Path) -> dict[str, Any]:
    """Build the plan and write it to `plan_file`."""
    plan = build(result, base, head, plan_file)
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan, indent=2, sort_keys=False) + "\n")
    return plan
