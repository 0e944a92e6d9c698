"""Building the tutorial's platform into a CDK app, as `app.py` and the tests do."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import aws_cdk as cdk
from constructs import Construct, RootConstruct

from ecs_playground.capacity import CapacityError
from ecs_playground.quotas import QuotaError, check, template_usages
from ecs_playground.validation import PropsValidationError

from . import config, environments
from .config import ConfigError, PlatformConfig
from .environments import named
from .images import ImageSourceError
from .keys import ENVIRONMENTS
from .stack import EcsPlaygroundStack, PlatformError

USER_ERRORS = (ConfigError, PlatformError, PropsValidationError, CapacityError, ImageSourceError,
               QuotaError)
"""What a user's mistake raises: print the message, no traceback."""

DESCRIPTION = "ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL"
VALIDATION_ONLY = {"aws:cdk:disable-asset-staging": True, "aws:cdk:bundling-stacks": []}
"""CDK's context for a stage that is built, never synthesized: no asset is copied or bundled."""

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
    """Read the app's context and add the platform's stacks; raise one of USER_ERRORS on bad
    input, listing every problem of every environment at once.

    No `environments` in the context: today's single environment-agnostic stack. Otherwise one
    CDK Stage per environment (its ID is the environment's name), or only the one `environment`
    names (ENV=); the others are still built, each into a Stage of its own that is never
    synthesized, so that every environment is validated by the same code in every run."""
    context = app.node.get_all_context()
    selection = environments.select(context)
    if ENVIRONMENTS not in context:
        if selection.problems:
            raise ConfigError(selection.problems)
        platform = config.load(context)
        EcsPlaygroundStack(app, platform.stack_name, config=platform, description=DESCRIPTION)
        return platform
    found: dict[str, tuple[environments.Environment, list[str]]] = {}
    built: list[PlatformConfig] = []
    for environment in selection.declared.values():
        problems: list[str] = []
        found[environment.name] = (environment, problems)
        try:
            with _scope(app, environment, selection) as (scope, env):
                platform = config.load(environment.context(context), environment_specific=True)
                EcsPlaygroundStack(scope, platform.stack_name, config=platform,
                                   description=DESCRIPTION, env=env)
                built.append(platform)
        except USER_ERRORS as error:
            problems += getattr(error, "problems", None) or [str(error)]
    problems = [*selection.problems, *_named_once(found.values())]
    if problems or not built:
        raise ConfigError(problems or [f"{ENVIRONMENTS}: no environment declared; declare one "
                                       "or remove the key (docs/environments.md)"])
    return built[0]


@contextlib.contextmanager
def _scope(
    app: cdk.App, environment: environments.Environment, selection: environments.Selection,
) -> Iterator[tuple[Construct, cdk.Environment | None]]:
    """Where an environment's stacks go: its Stage in the app; the app itself, as top-level
    stacks in the target's account and region (make local); or, when this run does not build it,
    a Stage of its own that only validates it (the app's context, nothing staged or bundled,
    never synthesized)."""
    where = cdk.Environment(account=environment.account, region=environment.region)
    if environment.name not in selection.chosen or None in (environment.account,
                                                            environment.region):
        root = RootConstruct()
        for key, value in {**app.node.get_all_context(), **VALIDATION_ONLY}.items():
            root.node.set_context(key, value)
        with tempfile.TemporaryDirectory(prefix="ecs-playground-validate-") as outdir:
            yield cdk.Stage(root, environment.name, env=where, outdir=outdir), None
    elif selection.target is not None:
        account, region = selection.target
        yield app, cdk.Environment(account=account, region=region)
    else:
        yield cdk.Stage(app, environment.name, env=where), None


def _named_once(
    found: Iterable[tuple[environments.Environment, Sequence[str]]],
) -> list[str]:
    """Every environment's problems named by environment and key; a problem that every
    environment has, from a key none of them overrides, once, as 'every environment: ...'."""
    found = list(found)
    shared = (set.intersection(*(set(problems) for _, problems in found)) if len(found) > 1
              else set())
    shared = {p for p in shared
              if all(named(env, [p])[0].startswith(f"{ENVIRONMENTS}.{env.name}: ")
                     for env, _ in found)}
    lines = [f"every environment: {p}" for p in dict.fromkeys(
        p for _, problems in found for p in problems if p in shared)]
    for env, problems in found:
        lines += named(env, [p for p in problems if p not in shared])
    return lines


def check_assembly(outdir: str | Path) -> None:
    """CloudFormation's per-stack quotas on the synthesized templates (resources, outputs,
    parameters, template size) of every stack, in every environment's nested assembly; raises
    QuotaError with the numbers. Reads the files only."""
    usages = []
    for name, file in _template_files(Path(outdir)):
        text = file.read_text()
        usages += template_usages(name, json.loads(text), len(text.encode()))
    check(usages)


def _template_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(stack name as `cdk ls` shows it, its template file) of an assembly and its stages."""
    manifest = json.loads((root / "manifest.json").read_text())
    for name, artifact in sorted(manifest.get("artifacts", {}).items()):
        if artifact.get("type") == "aws:cloudformation:stack":
            yield artifact.get("displayName", name), root / artifact["properties"]["templateFile"]
        elif artifact.get("type") == "cdk:cloud-assembly":
            yield from _template_files(root / artifact["properties"]["directoryName"])


def synthesize(app: cdk.App) -> cdk.cx_api.CloudAssembly:
    """`app.synth()`, then the template quota check (raises QuotaError)."""
    assembly = app.synth()
    check_assembly(assembly.directory)
    return assembly
