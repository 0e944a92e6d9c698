"""Typed platform configuration from CDK context (cdk.json, overridable with `-c KEY=VALUE`).

The keys (what each means and sets) are keys.py's; the generic value parsers, parsers.py's; this
module loads a context into a `PlatformConfig` and checks what spans keys.

Values given with `-c` arrive as strings. Each is converted by the parser that `PARSERS` names for
the prop's type: whole numbers, `true`/`false`, text, lists (`a,b` or a JSON list) and maps
(`k=v,k2=v2` or a JSON object). Every key under our prefixes, and every key that looks like one,
is either used or rejected with a suggestion: a typo must not be ignored.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecs_playground.validation import image_problems

from .keys import (
    ENVIRONMENT_KEYS,
    PROPS_BY_PREFIX,
    RESERVED_PREFIXES,
    SERVICE_PROPS,
    KeySpec,
    is_ours,
    key_specs,
    normal,
    props_keys,
    service_key_specs,
    suggest,
)
from .layout import DEFAULT_SERVICE_STACKS, PLATFORM
from .parsers import ParseError, parse_str_list

SERVICE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
STACK_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")
SECRET_REF_PATTERN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
    r"|[A-Za-z0-9/_+=.@-]{1,512}"
)
DB_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
RESERVED_DB_NAMES = frozenset(
    {"mysql", "sys", "information_schema", "performance_schema", "rdsadmin", "innodb", "tmp"}
)


class ConfigError(ValueError):
    """Every problem with the context configuration, in one message."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "Invalid ecs-playground configuration (cdk.json context / -c KEY=VALUE), "
            f"{len(self.problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in self.problems)
        )


# --- the parsed configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceConfig:
    """One service's settings."""

    image: str | None
    """Registry image, or None to build the image from the images directory."""
    db_name: str
    props: Mapping[str, Any]
    repository_credentials: str | None = None
    """Name or ARN of the secret with private registry credentials for `image`."""
    stack: str | None = None
    """`<service>.stack`: 'platform', a service stack number, or None (a stable hash decides)."""
    """Keyword arguments for ClassicLoadBalancedServiceProps (without cluster, image)."""


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
    monitoring: Mapping[str, Any]
    """Keyword arguments for MonitoringProps (without encryption_key)."""
    services: Mapping[str, ServiceConfig]
    """Per service name, in deployment order."""
    service_stacks: int = DEFAULT_SERVICE_STACKS
    """Fixed number of service stacks (hash buckets)."""
    problems: tuple[str, ...] = ()
    """Problems found in the configuration that still let the platform be checked further (its
    constructs' props and capacity): the stack reports them together with its own."""
    unparsed: frozenset[str] = frozenset()
    """Keys whose values did not parse or were refused (already in `problems`): checks that
    depend on them are skipped, so one mistake is one problem, not a cascade."""

    def key_of(self, prefix: str, field: str) -> str | None:
        """The context key that sets a props field (None when the field is not configurable)."""
        cls = PROPS_BY_PREFIX.get(prefix, SERVICE_PROPS)
        return next((s.key for s in props_keys(prefix, cls) if s.field == field), None)


@dataclass
class _Reader:
    context: Mapping[str, Any]
    problems: list[str] = dataclasses.field(default_factory=list)
    fatal: bool = False
    """A problem that stops the platform from being built at all (stack name, VPC)."""

    reported: set[str] = dataclasses.field(default_factory=set)

    def problem(self, key: str, raw: Any, what: str) -> None:
        shown = raw if isinstance(raw, str) else json.dumps(raw)
        self.problems.append(f"{key} = {shown!r}: {what}")
        self.reported.add(key)
        self.fatal = self.fatal or key in REQUIRED_KEYS


REQUIRED_KEYS = ("stackName", "vpc.maxAzs", "vpc.natGateways", "vpc.cidr")


def load(context: Mapping[str, Any], *, environment_specific: bool = False) -> PlatformConfig:
    """Parse and check the whole context (`environment_specific`: for a stack with an account
    and region, whose AZs are known; else environment-agnostic).

    Raises ConfigError (listing every problem) when the platform cannot be built at all; other
    problems are returned in `PlatformConfig.problems` for the stack to report with its own.
    """
    reader = _Reader(context)
    services = _service_names(reader)
    specs = key_specs(services)
    values: dict[str, Any] = {}
    unparsed: set[str] = set()
    for key, raw in context.items():
        if not is_ours(key) or key == "services" or key in ENVIRONMENT_KEYS:  # read elsewhere
            continue
        spec = specs.get(key)
        if spec is None:
            if services or not _is_service_key(key):  # unknown services: one problem already
                reader.problems.append(_unknown(key, services, specs))
            continue
        try:
            values[key] = spec.parse(raw)
        except ParseError as err:
            reader.problem(key, raw, str(err))
            unparsed.add(key)
    for key in REQUIRED_KEYS:
        if key not in context:
            reader.problems.append(f"{key} is missing; set it in cdk.json context")
            reader.fatal = True
    stack_name = values.get("stackName")
    if stack_name is not None and not STACK_NAME_PATTERN.fullmatch(stack_name):
        reader.problem(
            "stackName", stack_name,
            "allowed 1-128 letters, digits and '-', starting with a letter (a CloudFormation "
            "stack name); e.g. EcsPlayground",
        )
    _check_vpc(reader, values, environment_specific)
    buckets = values.get("serviceStacks", DEFAULT_SERVICE_STACKS)
    if not 1 <= buckets <= 200:
        reader.problem("serviceStacks", buckets, "allowed 1-200 (CloudFormation allows 2,000 "
                       "stacks per account); e.g. 24")
        buckets = DEFAULT_SERVICE_STACKS
    service_configs = {s: _service(reader, s, values, buckets) for s in services}
    if reader.fatal:
        raise ConfigError(reader.problems)
    return PlatformConfig(
        stack_name=values["stackName"],
        images_directory=values.get("imagesDirectory", "docker"),
        compliance_packs=values.get("nag.compliancePacks", False),
        vpc_max_azs=values["vpc.maxAzs"],
        vpc_nat_gateways=values["vpc.natGateways"],
        vpc_cidr=values["vpc.cidr"],
        cluster=_props_values("cluster", values, specs),
        database=_props_values("db", values, specs),
        monitoring=_props_values("monitoring", values, specs),
        services=service_configs,
        service_stacks=buckets,
        problems=tuple(reader.problems),
        unparsed=frozenset(unparsed | reader.reported),
    )


def _is_service_key(key: str) -> bool:
    return "." in key and key.split(".", 1)[0] not in RESERVED_PREFIXES


def _unknown(key: str, services: Sequence[str], specs: Mapping[str, KeySpec]) -> str:
    prefix = key.split(".", 1)[0]
    if "." in key and prefix not in RESERVED_PREFIXES and prefix not in services:
        in_list = [s for s in services if normal(s) == normal(prefix)]
        if not in_list:
            return (f"unknown key '{key}': '{prefix}' is not a service in 'services' "
                    f"({', '.join(services) or 'none'}); add it to services, or "
                    + suggest(key, list(specs)))
    return f"unknown key '{key}'; " + suggest(key, list(specs))


def _service_names(reader: _Reader) -> list[str]:
    raw = reader.context.get("services", ["location", "user"])
    try:
        names = list(parse_str_list(raw))
    except ParseError as err:
        reader.problem("services", raw, str(err))
        return []
    for name in names:
        if not SERVICE_NAME_PATTERN.fullmatch(name) or name in RESERVED_PREFIXES:
            reader.problem(
                "services", raw,
                f"names {name!r}; allowed 1-32 of a-z, 0-9, '-', starting with a letter, and not "
                f"{', '.join(repr(p) for p in RESERVED_PREFIXES)}; e.g. location,user",
            )
    if len(set(names)) != len(names):
        reader.problem("services", raw, "each service may appear once")
    if not names:
        reader.problem("services", raw, "at least one service; e.g. location,user")
    return [n for n in dict.fromkeys(names) if SERVICE_NAME_PATTERN.fullmatch(n)
            and n not in RESERVED_PREFIXES]


def _check_vpc(reader: _Reader, values: Mapping[str, Any], environment_specific: bool) -> None:
    import ipaddress

    cidr = values.get("vpc.cidr")
    if cidr is not None:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as err:
            reader.problem("vpc.cidr", cidr, f"not an IPv4 network ({err}); e.g. 10.0.0.0/16")
        else:
            if not 16 <= network.prefixlen <= 20:
                reader.problem(
                    "vpc.cidr", cidr,
                    "allowed a prefix of /16 to /20 (AWS allows /16-/28 for a VPC; this layout "
                    "needs at least a /20 for 2 AZs); e.g. 10.0.0.0/16",
                )
            elif not network.is_private:
                reader.problem(
                    "vpc.cidr", cidr,
                    "allowed a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); "
                    "e.g. 10.0.0.0/16",
                )
    azs = values.get("vpc.maxAzs")
    if azs is not None and environment_specific and azs < 2:
        reader.problem(
            "vpc.maxAzs", azs,
            "allowed 2 up to the AZs of the environment's region (the database's subnet group "
            "needs 2); e.g. 3",
        )
    elif azs is not None and not environment_specific and azs != 2:
        reader.problem(
            "vpc.maxAzs", azs,
            "allowed 2: the stack is environment-agnostic, so CloudFormation can name only 2 AZs "
            "(Fn::GetAZs); any other value would be silently ignored. For 3, declare named "
            "environments with an account and region (docs/environments.md)",
        )
    nat = values.get("vpc.natGateways")
    if nat is not None and not 1 <= nat <= (azs if isinstance(azs, int) and azs > 0 else 2):
        reader.problem(
            "vpc.natGateways", nat,
            f"allowed 1 to vpc.maxAzs ({azs}): the instances in the private subnets need a NAT "
            "gateway to reach ECS and the image registry",
        )


def _props_values(
    prefix: str, values: Mapping[str, Any], specs: Mapping[str, KeySpec]
) -> dict[str, Any]:
    return {
        spec.field: values[key]
        for key, spec in specs.items()
        if key.startswith(prefix + ".") and spec.field and key in values
    }


def _service(
    reader: _Reader, name: str, values: Mapping[str, Any], buckets: int
) -> ServiceConfig:
    image = values.get(f"{name}.image")
    for problem in image_problems(f"{name}.image", image) if image is not None else []:
        reader.problem(
            problem.prop, image, f"allowed {problem.allowed}; {problem.fix}; or leave it unset "
            "to build the image from source",
        )
    db_name = values.get(f"{name}.dbName") or name.replace("-", "_")
    if not DB_NAME_PATTERN.fullmatch(db_name) or db_name.lower() in RESERVED_DB_NAMES:
        reader.problem(
            f"{name}.dbName", db_name,
            "allowed 1-64 letters, digits and '_', not starting with a digit, and not a "
            f"system schema ({', '.join(sorted(RESERVED_DB_NAMES))}); "
            f"e.g. {name.replace('-', '_')}",
        )
    credentials = values.get(f"{name}.repositoryCredentials")
    if credentials is not None and image is None:
        reader.problem(
            f"{name}.repositoryCredentials", credentials,
            f"only with a registry image: set {name}.image to the private image, or remove "
            "repositoryCredentials (the image built from source needs none)",
        )
    elif credentials is not None and not SECRET_REF_PATTERN.fullmatch(credentials):
        reader.problem(
            f"{name}.repositoryCredentials", credentials,
            "allowed a Secrets Manager secret name (letters, digits, /_+=.@-) or ARN "
            "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef)",
        )
    stack = values.get(f"{name}.stack")
    if stack is not None and stack != PLATFORM and not (
        stack.isdigit() and 1 <= int(stack) <= buckets
    ):
        reader.problem(
            f"{name}.stack", stack,
            f"allowed '{PLATFORM}' or a service stack number 1-{buckets} (serviceStacks); or "
            "leave it unset: a stable hash of the name picks the service stack",
        )
        stack = None
    return ServiceConfig(
        stack=stack,
        image=image,
        db_name=db_name,
        repository_credentials=credentials,
        props=_props_values(name, values, service_key_specs(name)),
    )
