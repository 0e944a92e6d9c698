"""The configuration keys: what each means, how its value is parsed, the prop it sets.

Keys are the construct props that declare themselves configurable (`setting(...)` in their field
metadata), in camelCase under a prefix: `cluster.instanceType` is
`ContainerClusterProps.instance_type`, `location.desiredCount` is the `location` service's
`ClassicLoadBalancedServiceProps.desired_count`. The app's own keys (`stackName`, `vpc.*`, ...)
are `PLATFORM_KEYS` and `SERVICE_KEYS`; the keys of named environments (environments.py) are
read by the app, never as platform configuration.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecs_playground.classic_service import ClassicLoadBalancedServiceProps
from ecs_playground.container_cluster import ContainerClusterProps
from ecs_playground.database import MySqlDatabaseProps
from ecs_playground.monitoring import MonitoringProps
from ecs_playground.props import configurable_fields, field_doc

from .images import SERVICE_IMAGE_HEALTH_PATH
from .parsers import (
    PARSERS,
    Parser,
    optional,
    parse_bool,
    parse_int,
    parse_stack,
    parse_str,
    parse_str_list,
)

RESERVED_PREFIXES = ("cluster", "db", "vpc", "nag", "monitoring")
ENVIRONMENTS = "environments"
"""cdk.json's named environments (environments.py): read by the app, not a platform key."""
SELECTED = "environment"
"""The environment a verb works on (make's ENV=)."""
TARGET = "environmentTarget"
"""aws://ACCOUNT/REGION that the chosen environment is deployed to instead of its own (make
local: the emulator's)."""
ENVIRONMENT_KEYS = frozenset({ENVIRONMENTS, SELECTED, TARGET})
ENVIRONMENT_MEANINGS: dict[str, str] = {
    ENVIRONMENTS: "Named environments, each {account, region, overrides of any key here}: one "
                  "CDK Stage per environment (docs/environments.md). Unset: one "
                  "environment-agnostic stack.",
    SELECTED: "The environment a verb works on (make's ENV=): unset, every environment; a "
              "name, that one (every environment is still validated).",
    TARGET: "aws://ACCOUNT/REGION that the chosen environment (default dev) is deployed to "
            "instead of its own, as top-level stacks; make local sets the emulator's.",
}
"""The keys of named environments, for the configuration table."""


@dataclass(frozen=True)
class KeySpec:
    """One configuration key: how its value is parsed, what it means, the prop it sets."""

    key: str
    parse: Parser
    meaning: str
    field: str | None = None
    """The props field it sets; None for the app's own keys."""
    default: Any = None
    """What an unset key means (the prop's default)."""


PLATFORM_KEYS: dict[str, tuple[Parser, str]] = {
    "stackName": (parse_str, "Name of the CloudFormation stack."),
    "services": (parse_str_list, "Services to deploy (a,b or a JSON list); each reads its keys "
                 "under '<service>.'."),
    "vpc.maxAzs": (parse_int, "Availability zones of the VPC. Without environments the stack is "
                   "environment-agnostic and CloudFormation can name 2 (Fn::GetAZs): 2 only. In "
                   "a named environment (docs/environments.md): 2 up to the AZs its region has "
                   "in cdk.context.json."),
    "vpc.natGateways": (parse_int, "NAT gateways for the private subnets (1 to vpc.maxAzs; 1 per "
                        "AZ for HA). The instances need one to reach ECS and pull images."),
    "vpc.cidr": (parse_str, "IPv4 CIDR of the VPC (a network address, /16 to /20, that holds "
                 "the subnet layout: /24 public, /22 private, /24 isolated per AZ)."),
    "nag.compliancePacks": (parse_bool, "Also run cdk-nag's HIPAA Security and NIST 800-53 R5 "
                            "packs (an audit run: their findings fail the synth and fill "
                            "cdk.out/validation-report.json)."),
    "serviceStacks": (parse_int, "Service stacks (fixed buckets) that services without "
                      "<service>.stack are spread over by a stable hash of their name; changing "
                      "it moves services (their ELBs are replaced), adding a service never does. "
                      "Default: 24."),
    "imagesDirectory": (parse_str, "Docker build context of the service images (one "
                        "Dockerfile, one folder per service); relative to the app's directory."),
}
SERVICE_KEYS: dict[str, tuple[Parser, str]] = {
    "stack": (optional(parse_stack), "Stack of the service: 'platform' (the platform stack, as the "
              "default app's services) or a service stack number 1..serviceStacks. Default: "
              "a stable hash of the service name picks the service stack, so adding or removing "
              "another service never moves this one."),
    "image": (optional(parse_str), "Registry image REPO:TAG (or REPO@sha256:...) to run instead "
              "of the image built from imagesDirectory/<service>; set it to roll out a published "
              "image."),
    "dbName": (optional(parse_str), "Database (schema) name the service uses, passed as "
               "DB_NAME. Default: the service name."),
    "repositoryCredentials": (optional(parse_str), "Name or ARN of a Secrets Manager secret "
                              "with the credentials of a private registry ({\"username\": ..., "
                              "\"password\": ...}) for `image`; the task pulls with it and its "
                              "execution role may read that secret only. Default: none (a "
                              "public image, or the asset built from imagesDirectory)."),
}
APP_DEFAULTS: dict[str, str] = {
    "health_check_path": f"In this app, a service whose image is built from "
                         f"imagesDirectory/<service> gets '{SERVICE_IMAGE_HEALTH_PATH}' when the "
                         "key is unset (the images serve it).",
}
"""What this app sets where the library's default would apply (by props field), appended to the
key's meaning."""
PROPS_BY_PREFIX: dict[str, type] = {
    "cluster": ContainerClusterProps, "db": MySqlDatabaseProps,
    "monitoring": MonitoringProps,
}
SERVICE_PROPS = ClassicLoadBalancedServiceProps


def camel(snake: str) -> str:
    """memory_limit_mib -> memoryLimitMib."""
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


@functools.cache
def props_keys(prefix: str, cls: type) -> tuple[KeySpec, ...]:
    """The keys of a props class's configurable fields, under a prefix."""
    hints = typing.get_type_hints(cls)
    return tuple(
        KeySpec(f"{prefix}.{camel(f.name)}", PARSERS[hints[f.name]], field_doc(f), f.name,
                _default(f))
        for f in configurable_fields(cls)
    )


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def key_specs(services: Sequence[str]) -> dict[str, KeySpec]:
    """Every key this configuration accepts, for the given service names."""
    specs = {k: KeySpec(k, parse, meaning) for k, (parse, meaning) in PLATFORM_KEYS.items()}
    for prefix, cls in PROPS_BY_PREFIX.items():
        specs.update((s.key, s) for s in props_keys(prefix, cls))
    for service in services:
        specs.update(service_key_specs(service))
    return specs


def service_key_specs(service: str) -> dict[str, KeySpec]:
    """The keys of one service (`<service>.<key>`): what reading a service needs, without
    rebuilding every platform key once per service (a catalog of 200 read them 200 times)."""
    specs = {f"{service}.{k}": KeySpec(f"{service}.{k}", parse, meaning)
             for k, (parse, meaning) in SERVICE_KEYS.items()}
    specs.update(
        (s.key, dataclasses.replace(s, meaning=f"{s.meaning} {APP_DEFAULTS[s.field]}")
         if s.field in APP_DEFAULTS else s)
        for s in props_keys(service, SERVICE_PROPS)
    )
    return specs


def is_ours(key: str) -> bool:
    """Keys of this app: everything but CDK's own (feature flags `@aws-cdk/...`, `aws:cdk:*`,
    lookups `vpc-provider:...`): a key that merely looks like ours is still checked."""
    return not key.startswith("@") and ":" not in key


def normal(key: str) -> str:
    """A key without case, '_', '-' and spaces: what a near miss has in common."""
    return re.sub(r"[_\-\s]", "", key).lower()


def suggest(key: str, known: Sequence[str]) -> str:
    """'did you mean ...' for an unknown key, else where the keys are listed."""
    by_normal = {normal(k): k for k in known}
    if normal(key) in by_normal:
        return f"did you mean '{by_normal[normal(key)]}'? (keys are camelCase, case-sensitive)"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return f"did you mean '{close[0]}'?" if close else "see docs/configuration.md"
