"""Review fixtures: every change of changes.py synthesized once per session (each distinct set of
`-c` overrides once) from the tutorial's fixed scenario (tests/tutorial_cdk.json, never the user's
cdk.json), and what the pinned CDK CLI's `cdk diff --template <BASE template>` says about them,
offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .changes import CHANGES, Change
from .synth_app import ROOT, synth_app

CDK = ROOT / "node_modules" / ".bin" / "cdk"
STACK = "EcsPlayground"
SINGLE_DIFFS = ("service_added",)
"""Changes also diffed on their own (security tables, and a check that batching changes nothing)."""


@dataclass(frozen=True)
class Case:
    """One change, synthesized: BASE's and head's assemblies."""

    name: str
    base: Path
    head: Path


def template(assembly: Path) -> dict[str, Any]:
    """The stack's template of an assembly."""
    loaded: dict[str, Any] = json.loads((assembly / f"{STACK}.template.json").read_text())
    return loaded


def cdk_diff(base_template: Path, head: Path) -> str:
    """The pinned CDK CLI's diff of head's assembly against a BASE template, offline."""
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(CDK), "--no-notices", "diff", "--app", str(head), "--template", str(base_template),
         STACK],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _edited(head: Path, change: Change, target: Path) -> Path:
    assert change.edit is not None
    shutil.copytree(head, target)
    (target / f"{STACK}.template.json").write_text(json.dumps(change.edit(template(head))))
    return target


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scratch folder of the review tests."""
    return tmp_path_factory.mktemp("review")


@pytest.fixture(scope="session")
def cases(session_dir: Path) -> dict[str, Case]:
    """Every change of CHANGES, by name; the single diffs start as soon as their case exists."""
    assert CDK.exists(), "run `make install`: the pinned CDK CLI is missing"
    # One snapshot of the image sources for every synth: asset hashes then differ only when a
    # change means them to, even while someone edits docker/.
    images = session_dir / "docker"
    shutil.copytree(ROOT / "docker", images, ignore=shutil.ignore_patterns("__pycache__"))
    synthesized: dict[frozenset[tuple[str, str]], Path] = {}

    def side(overrides: Mapping[str, str]) -> Path:
        overrides = {**overrides, "imagesDirectory": str(images)}
        key = frozenset(overrides.items())
        if key not in synthesized:
            synthesized[key] = synth_app(session_dir / f"synth{len(synthesized)}", overrides)
        return synthesized[key]

    out = {}
    for name, change in CHANGES.items():
        base, head = side(change.base), side(change.head)
        if change.edit:
            head = _edited(head, change, session_dir / f"{name}-head")
        out[name] = Case(name, base, head)
    return out


@pytest.fixture(scope="session")
def single_diffs(cli_runs: tuple[dict[str, str], dict[str, str]]) -> dict[str, str]:
    """`cdk diff` output of each SINGLE_DIFFS change on its own."""
    return cli_runs[1]


def prefixed(resources_of: dict[str, Any], ids: set[str], prefix: str) -> dict[str, Any]:
    """A template whose resource logical IDs (and every reference to them) carry a prefix."""
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(ids, key=len, reverse=True))
                         + r")(?![A-Za-z0-9])")
    renamed: dict[str, Any] = json.loads(pattern.sub(lambda m: prefix + m.group(1),
                                                     json.dumps(resources_of)))
    return renamed


@pytest.fixture(scope="session")
def batched_diff(cli_runs: tuple[dict[str, str], dict[str, str]]) -> dict[str, str]:
    """`cdk diff --template <BASE template>` for every change, by change name (see cli_runs)."""
    return cli_runs[0]


HEAVY = (("vpc_cidr",), ("cluster_name", "db_construct_renamed"))
"""Changes that replace many resources get calls of their own: the CLI follows replaced
references over the whole template once per replaced resource, so one template with every change
costs more than these calls side by side."""


def _batched_diff(cases: dict[str, Case], names: list[str], folder: Path) -> dict[str, str]:
    """One CLI call for several changes: each change's BASE and head resources side by side in one
    BASE and one head template, logical IDs (and every reference to them) prefixed with the
    change's number. Returns each change's part of the output, prefixes removed."""
    base_resources: dict[str, Any] = {}
    head_resources: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for index, name in enumerate(names):
        base, head = template(cases[name].base), template(cases[name].head)
        ids = set(base["Resources"]) | set(head["Resources"])
        base_resources.update(prefixed(base["Resources"], ids, f"R{index:02d}"))
        head_resources.update(prefixed(head["Resources"], ids, f"R{index:02d}"))
        parameters.update(base.get("Parameters", {}), **head.get("Parameters", {}))
    folder.mkdir()
    base_file = folder / "base.template.json"
    base_file.write_text(json.dumps({"Parameters": parameters, "Resources": base_resources}))
    head_dir = folder / "head"
    shutil.copytree(cases[names[0]].head, head_dir)
    (head_dir / f"{STACK}.template.json").write_text(
        json.dumps({"Parameters": parameters, "Resources": head_resources}))
    output = cdk_diff(base_file, head_dir)
    parts: dict[str, list[str]] = {name: [] for name in names}
    for line in output.splitlines():
        match = re.search(r" R(\d\d)([A-Za-z0-9]+)( |$)", line)
        if match and line.startswith("["):
            parts[names[int(match[1])]].append(line.replace(f" R{match[1]}", " ", 1))
    return {name: "\n".join(lines) for name, lines in parts.items()}


@pytest.fixture(scope="session")
def cli_runs(cases: dict[str, Case], session_dir: Path
             ) -> tuple[dict[str, str], dict[str, str]]:
    """The CLI's `cdk diff --template <BASE template>` of every change, and of SINGLE_DIFFS alone.

    At ~3 s of CPU per call, fourteen calls would eat the test budget: the changes go through a
    few batched calls (_batched_diff), two at a time. The CLI diffs resource by resource and
    follows references only within a change, so batched verdicts are those of separate calls;
    test_security checks that against a single call. Returns (each change's output; each
    SINGLE_DIFFS change's own output)."""
    heavy = {name for group in HEAVY for name in group}
    groups = [sorted(n for n in cases if n not in heavy), *map(list, HEAVY)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        batches = [pool.submit(_batched_diff, cases, names, session_dir / f"batch{index}")
                   for index, names in enumerate(groups)]
        singles: dict[str, Future[str]] = {
            name: pool.submit(cdk_diff, cases[name].base / f"{STACK}.template.json",
                              cases[name].head) for name in SINGLE_DIFFS}
        batched: dict[str, str] = {}
        for batch in batches:
            batched.update(batch.result(timeout=300))
        return batched, {name: future.result(timeout=300) for name, future in singles.items()}


TWENTY = ["location", "user"] + [f"svc{n:02d}" for n in range(1, 19)]


def twenty_services_context() -> dict[str, str]:
    """`-c` overrides for an app of 20 services: location, user, 18 small registry-image ones."""
    overrides = {"services": json.dumps(TWENTY), "location.desiredCount": "2",
                 "user.desiredCount": "2", "cluster.instanceType": "m5.xlarge"}
    for index, name in enumerate(TWENTY[2:]):
        overrides.update({f"{name}.containerPort": str(7001 + index),
                          f"{name}.image": f"example/{name}:1", f"{name}.desiredCount": "1",
                          f"{name}.cpu": "128", f"{name}.memoryLimitMib": "256",
                          # the review tool reads one stack (issue 13: others are split off);
                          # 3 alarms x 18 would only slow the synth, and without them 20
                          # services fit the 400-resource budget of a stack
                          f"{name}.stack": "platform", f"{name}.alarms": "false"})
    return overrides


@pytest.fixture(scope="session")
def twenty_services(session_dir: Path, cases: dict[str, Case]) -> tuple[Path, Path]:
    """BASE and head of a 20-service app where two services roll out a new image (head edits the
    images in BASE's template: the image is a configuration value)."""
    base = synth_app(session_dir / "twenty-base",
                     {**twenty_services_context(), "imagesDirectory": str(session_dir / "docker")})

    def new_images(template: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(template)
        for name in TWENTY[2:4]:
            text = text.replace(f'"example/{name}:1"', f'"example/{name}:2"')
        edited: dict[str, Any] = json.loads(text)
        return edited

    head = _edited(base, Change(edit=new_images), session_dir / "twenty-head")
    return base, head


@pytest.fixture(scope="session")
def default_assembly(cases: dict[str, Case]) -> Path:
    """The tutorial's platform with no override (tests/tutorial_cdk.json), as `cdk synth` writes
    it."""
    return cases["db_instance_class"].base


