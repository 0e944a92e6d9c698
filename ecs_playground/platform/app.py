"""Building the tutorial's platform into a CDK app, as `app.py` and the tests do."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk

from ..capacity import CapacityError
from ..quotas import QuotaError, check, template_usages
from ..validation import PropsValidationError
from . import config
from .config import ConfigError, PlatformConfig
from .images import ImageSourceError
from .stack import EcsPlaygroundStack, PlatformError

USER_ERRORS = (ConfigError, PlatformError, PropsValidationError, CapacityError, ImageSourceError,
               QuotaError)
"""What a user's mistake raises: print the message, no traceback."""

DESCRIPTION = "ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL"

TRACE_SWITCHES: dict[str, bool] = {
    "aws:cdk:disable-creation-stack-traces": True,
    "aws:cdk:disable-stack-trace": True,
}
"""Context of the platform's `cdk.App`: no stack traces in the cloud assembly's metadata, neither
of each construct's creation nor of each annotation. Behind jsii they hold only the kernel's own
frames ('...jsii runtime, node internals...', no line of Python), and capturing them cost about
10 % and 5 % of the default app's synth CPU (bench/README.md). Templates are unchanged;
`cdk synth --debug` still records them. Here, not in cdk.json: the CLI warns about `aws:` keys
there."""


def build_platform(app: cdk.App) -> PlatformConfig:
    """Read the app's context and add the platform stack; raise one of USER_ERRORS on bad input."""
    platform = config.load(app.node.get_all_context())
    EcsPlaygroundStack(app, platform.stack_name, config=platform, description=DESCRIPTION)
    return platform


def check_assembly(outdir: str | Path) -> None:
    """CloudFormation's per-stack quotas on the synthesized templates (resources, outputs,
    parameters, template size); raises QuotaError with the numbers. Reads the files only."""
    root = Path(outdir)
    manifest = json.loads((root / "manifest.json").read_text())
    usages = []
    for name, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        file = root / artifact["properties"]["templateFile"]
        text = file.read_text()
        usages += template_usages(name, json.loads(text), len(text.encode()))
    check(usages)


def synthesize(app: cdk.App) -> cdk.cx_api.CloudAssembly:
    """`app.synth()`, then the template quota check (raises QuotaError)."""
    assembly = app.synth()
    check_assembly(assembly.directory)
    return assembly
