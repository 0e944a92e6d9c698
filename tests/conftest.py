"""Shared fixtures: the app is built from cdk.json's context, once per scenario per session."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# jsii starts `node` from PATH when aws_cdk is first imported: use the virtualenv's Node 24.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# CDK's built-in CloudFormation schema validation adds ~9 s to the first synth of a process; the
# CLI test keeps it on, in-process tests check templates with assertions instead.
os.environ.setdefault("CDK_VALIDATION", "false")

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from ecs_playground import EcsPlaygroundStack, config

ROOT = Path(__file__).resolve().parent.parent
CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def build_stack(**overrides: Any) -> EcsPlaygroundStack:
    """The platform stack as `app.py` builds it, with context overrides like `-c KEY=VALUE`."""
    # cdk.json's imagesDirectory is relative to the app's directory: make it independent of cwd
    context = {**CDK_CONTEXT, "imagesDirectory": str(ROOT / CDK_CONTEXT["imagesDirectory"])}
    app = cdk.App(context={**context, **overrides})
    platform = config.load(app.node.get_all_context())
    return EcsPlaygroundStack(app, platform.stack_name, config=platform)


def template_of(stack: cdk.Stack) -> Template:
    """Synthesize one stack into an assertions Template."""
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def default_stack() -> EcsPlaygroundStack:
    """The default app's stack (cdk.json context only)."""
    return build_stack()


@pytest.fixture(scope="session")
def default_template(default_stack: EcsPlaygroundStack) -> Template:
    """The default app's synthesized template."""
    return template_of(default_stack)


@pytest.fixture(scope="session")
def resources_of() -> Callable[[Template, str], dict[str, Any]]:
    """Resources of one type, by logical ID."""

    def find(template: Template, type_: str) -> dict[str, Any]:
        return dict(template.find_resources(type_))

    return find
