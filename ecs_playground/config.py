"""Typed platform configuration from CDK context (cdk.json, overridable with `-c KEY=VALUE`).

Keys are the construct props themselves, in camelCase under a prefix: `cluster.instanceType` is
`ContainerClusterProps.instance_type`, `db.backupRetentionDays` is
`MySqlDatabaseProps.backup_retention_days`, `location.desiredCount` is the `location` service's
`ClassicLoadBalancedServiceProps.desired_count`. So every key has the type and the documentation of
its prop, and a new prop becomes configurable without a second list to keep in step.

Values given with `-c` arrive as strings; they are parsed to the prop's type (JSON for lists and
maps). Unknown keys in our namespaces are errors, with a suggestion: a typo must not be ignored.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import itertools
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any

from .classic_service import ClassicLoadBalancedServiceProps
from .container_cluster import ContainerClusterProps
from .database import MySqlDatabaseProps

# Props that are objects, not configuration values (or set by the stack itself).
_NOT_CONFIGURABLE = {"vpc", "cluster", "image", "secrets", "subnets", "instance_subnets",
                     "instance_resources", "name", "container_health_check", "encryption_key",
                     "log_encryption_key", "access_logs_bucket"}
# Keys of our own (not props fields), with their types and meanings.
_PLATFORM_KEYS: dict[str, tuple[Any, str]] = {
    "stackName": (str, "Name of the CloudFormation stack."),
    "services": (list[str], "Services to deploy; each reads its keys under '<service>.'."),
    "vpc.maxAzs": (int, "Availability zones of the VPC (2-6)."),
    "vpc.natGateways": (int, "NAT gateways for the private subnets (1 per AZ for HA)."),
    "vpc.cidr": (str, "IPv4 CIDR of the VPC."),
    "nag.compliancePacks": (bool, "Also run cdk-nag's HIPAA Security and NIST 800-53 R5 packs "
                            "(an audit run: their findings fail the synth and fill "
                            "cdk.out/validation-report.json)."),
    "imagesDirectory": (str, "Docker build context of the service images (one Dockerfile, "
                        "one folder per service); relative to the app's directory."),
}
_SERVICE_KEYS: dict[str, tuple[Any, str]] = {
    "image": (str, "Registry image REPO:TAG (or REPO@sha256:...) to run instead of the image "
              "built from imagesDirectory/<service>; set it to roll out a published image."),
    "dbName": (str, "Database (schema) name the service uses, passed as DB_NAME."),
}
_PROPS_BY_PREFIX = {"cluster": ContainerClusterProps, "db": MySqlDatabaseProps}
OUR_KEY_PATTERN = re.compile(r"[a-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*")
IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})")
SERVICE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


class ConfigError(ValueError):
    """Every problem with the context configuration, in one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid ecs-playground configuration (cdk.json context / -c KEY=VALUE):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class KeySpec:
    """One configuration key: its type, the prop it sets (if any) and its meaning."""

    key: str
    type: Any
    meaning: str
    field: str | None = None


def camel(snake: str) -> str:
    """memory_limit_mib -> memoryLimitMib."""
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


@functools.cache
def _field_docs(cls: type) -> dict[str, str]:
    """The docstrings under a dataclass's fields (attribute docstrings), whitespace folded."""
    body = ast.parse(inspect.getsource(cls)).body[0]
    assert isinstance(body, ast.ClassDef)
    docs = {}
    for node, nxt in itertools.pairwise(body.body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


@functools.cache
def _props_keys(prefix: str, cls: type) -> tuple[KeySpec, ...]:
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    return tuple(
        KeySpec(f"{prefix}.{camel(f.name)}", hints[f.name], docs.get(f.name, ""), f.name)
        for f in dataclasses.fields(cls)
        if f.name not in _NOT_CONFIGURABLE
    )


def key_specs(services: list[str]) -> dict[str, KeySpec]:
    """Every key this configuration accepts, for the given service names."""
    specs = {k: KeySpec(k, t, m) for k, (t, m) in _PLATFORM_KEYS.items()}
    for prefix, cls in _PROPS_BY_PREFIX.items():
        specs.update((s.key, s) for s in _props_keys(prefix, cls))
    for service in services:
        specs.update(
            (f"{service}.{k}", KeySpec(f"{service}.{k}", t, m))
            for k, (t, m) in _SERVICE_KEYS.items()
        )
        specs.update((s.key, s) for s in _props_keys(service, ClassicLoadBalancedServiceProps))
    return specs


def _parse(spec: KeySpec, raw: Any) -> Any:
    """Coerce a context value (typed from cdk.json, a string from -c) to the key's type."""
    kind = spec.type
    if isinstance(kind, UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not NoneType]
        if raw is None or raw == "null":
            return None
        kind = args[0]
    origin = typing.get_origin(kind) or kind
    if origin is bool:
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "false"):
            return str(raw).lower() == "true"
        raise ValueError("expected true or false")
    if origin is int:
        if isinstance(raw, bool):
            raise ValueError("expected an integer")
        return int(raw)
    if origin is str:
        if not isinstance(raw, str):
            raise ValueError("expected a string")
        return raw
    value = json.loads(raw) if isinstance(raw, str) else raw
    if origin in (list, tuple, typing.Sequence, Mapping) or str(origin).startswith(
        "<class 'collections.abc."
    ):
        return _check_collection(kind, value)
    raise ValueError(f"unsupported type {kind}")


def _check_collection(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is Mapping or origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError('expected a JSON object of strings, e.g. {"name": "value"}')
        return dict(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a JSON list of strings, e.g. ["a", "b"]')
    return tuple(value)


@dataclass(frozen=True)
class PlatformConfig:
    """The parsed configuration: plain values, grouped per construct."""

    stack_name: str
    images_directory: str
    compliance_packs: bool
    vpc_max_azs: int
    vpc_nat_gateways: int
    vpc_cidr: str
    cluster: Mapping[str, Any]
    """Keyword arguments for ContainerClusterProps (without vpc)."""
    database: Mapping[str, Any]
    """Keyword arguments for MySqlDatabaseProps (without vpc)."""
    services: Mapping[str, ServiceConfig]
    """Per service name, in deployment order."""


@dataclass(frozen=True)
class ServiceConfig:
    """One service's settings."""

    image: str | None
    """Registry image, or None to build the image from the images directory."""
    db_name: str
    props: Mapping[str, Any]
    """Keyword arguments for ClassicLoadBalancedServiceProps (without name, cluster, image)."""


def load(context: Mapping[str, Any]) -> PlatformConfig:
    """Parse and check the whole context; raise ConfigError listing every problem."""
    problems: list[str] = []
    services = _service_names(context, problems)
    specs = key_specs(services)
    values: dict[str, Any] = {}
    for key, raw in context.items():
        if not OUR_KEY_PATTERN.fullmatch(key):
            continue  # CDK's own keys: feature flags (@aws-cdk/...), aws:cdk:*, etc.
        spec = specs.get(key)
        if spec is None:
            hint = difflib.get_close_matches(key, list(specs), n=1)
            problems.append(
                f"unknown key '{key}'"
                + (f"; did you mean '{hint[0]}'?" if hint else "; see the README's table")
            )
            continue
        try:
            values[key] = _parse(spec, raw)
        except (ValueError, json.JSONDecodeError) as err:
            problems.append(f"'{key}' = {raw!r}: {err}")
    for key in ("stackName", "vpc.maxAzs", "vpc.natGateways", "vpc.cidr"):
        if key not in context:
            problems.append(f"'{key}' is missing; set it in cdk.json context")
    service_configs = {s: _service(s, values, problems) for s in services}
    if problems:
        raise ConfigError(problems)
    return PlatformConfig(
        stack_name=values["stackName"],
        images_directory=values.get("imagesDirectory", "docker"),
        compliance_packs=values.get("nag.compliancePacks", False),
        vpc_max_azs=values["vpc.maxAzs"],
        vpc_nat_gateways=values["vpc.natGateways"],
        vpc_cidr=values["vpc.cidr"],
        cluster=_props_values("cluster", values, specs),
        database=_props_values("db", values, specs),
        services=service_configs,
    )


def _service_names(context: Mapping[str, Any], problems: list[str]) -> list[str]:
    raw = context.get("services", ["location", "user"])
    try:
        names = list(_parse(KeySpec("services", list[str], ""), raw))
    except (ValueError, json.JSONDecodeError) as err:
        problems.append(f"'services' = {raw!r}: {err}")
        return []
    for name in names:
        if not SERVICE_NAME_PATTERN.fullmatch(name) or name in _PROPS_BY_PREFIX or name == "vpc":
            problems.append(
                f"'services' names {name!r}: allowed 1-32 of a-z, 0-9, '-', starting with a "
                "letter, and not 'cluster', 'db' or 'vpc'"
            )
    if len(set(names)) != len(names):
        problems.append(f"'services' = {names!r}: each service may appear once")
    return names


def _props_values(
    prefix: str, values: Mapping[str, Any], specs: Mapping[str, KeySpec]
) -> dict[str, Any]:
    return {
        spec.field: values[key]
        for key, spec in specs.items()
        if key.startswith(prefix + ".") and spec.field and key in values
    }


def _service(name: str, values: Mapping[str, Any], problems: list[str]) -> ServiceConfig:
    image = values.get(f"{name}.image")
    if image is not None and not IMAGE_PATTERN.fullmatch(image):
        problems.append(
            f"'{name}.image' = {image!r}: allowed REPO:TAG or REPO@sha256:<64 hex>, e.g. "
            f"srirajan/{name}:10; or leave it unset to build the image from source"
        )
    elif image is not None and image.endswith(":latest"):
        problems.append(
            f"'{name}.image' = {image!r}: a moving tag; pin a version tag or digest so a "
            "deploy is reproducible and a rollout is one visible change"
        )
    if f"{name}.containerPort" not in values:
        problems.append(f"'{name}.containerPort' is missing; set the port the container listens on")
    return ServiceConfig(
        image=image,
        db_name=values.get(f"{name}.dbName", name),
        props=_props_values(name, values, key_specs([name])),
    )


def _default(spec: KeySpec) -> Any:
    """The prop's own default (what an unset key means), or None when it has none."""
    if spec.field is None:
        return None
    prefix = spec.key.split(".", 1)[0]
    cls = _PROPS_BY_PREFIX.get(prefix, ClassicLoadBalancedServiceProps)
    f = next(f for f in dataclasses.fields(cls) if f.name == spec.field)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def markdown_table(context: Mapping[str, Any]) -> str:
    """The README's configuration table: every key, its value in `context`, its meaning."""

    def show(value: Any) -> str:
        if isinstance(value, tuple):
            value = list(value)
        return "—" if value is None else f"`{json.dumps(value)}`"

    services = list(context.get("services", []))
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, spec in key_specs(services[:1]).items():
        if services and key.startswith(services[0] + "."):
            suffix = key.split(".", 1)[1]
            values = [context.get(f"{s}.{suffix}") for s in services]
            shown = (", ".join(f"{s}: {show(v)}" for s, v in zip(services, values, strict=True))
                     if any(v is not None for v in values) else show(_default(spec)))
            key = f"<service>.{suffix}"
        else:
            shown = show(context.get(key, _default(spec)))
        rows.append(f"| `{key}` | {shown} | {spec.meaning.replace('|', '/')} |")
    return "\n".join(rows)

