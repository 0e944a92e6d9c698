"""The platform's plan: what the configuration decides, before anything is built.

`plan(config)` is pure: it reads the configuration (and each built service's `service.json`) and
returns a frozen `PlatformPlan` with the settings of every construct, the stack each service lives
in, the users each database users provisioner creates, and every problem the configuration alone
reveals. It creates no construct and no jsii object, so it is fast and tested without a CDK app
(tests/app/test_plan.py).

The stack (stack.py) builds from a plan. The constructs' props reference CDK objects (the VPC,
the key, the cluster, the database's endpoint and the services' secrets), so their checks run
there, once those exist: the VPC and the key first, then the cluster and the database when their
own props are valid (the services' props are checked against them; a stand-in replaces a cluster
whose props are not). Every problem, the plan's included, is raised in one `PlatformError` before
any service, service stack content or monitoring is created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecs_playground import quotas
from ecs_playground.classic_service_props import ClassicLoadBalancedServiceProps
from ecs_playground.validation import Problem

from . import layout
from .config import PlatformConfig
from .images import SERVICE_IMAGE_HEALTH_PATH, ImageSourceError, source_port

DEMAND_FIELDS = frozenset({
    "name", "container_port", "host_port", "cpu", "memory_limit_mib", "desired_count",
    "min_healthy_percent", "max_healthy_percent",
})
"""The props a service's capacity demand is made of (ClassicLoadBalancedServiceProps.demand())."""


@dataclass(frozen=True)
class VpcPlan:
    """The VPC: its network, AZs and NAT gateways (the subnet layout is fixed: a /24 public, a
    /22 private-with-egress and a /24 isolated subnet in each AZ)."""

    cidr: str
    max_azs: int
    nat_gateways: int


@dataclass(frozen=True)
class ServicePlan:
    """One service whose image source is known: the settings of its
    `ClassicLoadBalancedServiceProps` that come from the configuration."""

    name: str
    stack: str
    """`layout.PLATFORM` or the key of its service stack (e.g. 'Services07')."""
    settings: Mapping[str, Any]
    """Keyword arguments of ClassicLoadBalancedServiceProps, without name, cluster, image,
    environment, secrets and log_encryption_key; container_port always set."""
    environment: Mapping[str, str]
    """The configured environment (`<service>.environment`); the database's comes first."""
    image: str | None
    """Registry image, or None: built from the images directory (`built_port`)."""
    repository_credentials: str | None
    """Name or ARN of the secret with the registry's credentials (registry images only)."""

    @property
    def built(self) -> bool:
        """Whether the image is built from source (with the images' own health check)."""
        return self.image is None


@dataclass(frozen=True)
class PlatformPlan:
    """Everything the configuration decides about a platform, as plain values.

    `problems` lists every problem found without building anything, in the order the platform
    reports them: `config_problems` (the configuration's own and the AZs) come before the
    constructs' props problems, `image_problems` (image sources and ports) after them.
    """

    config: PlatformConfig
    layout: Mapping[str, str]
    """Service name -> `layout.PLATFORM` or its service stack's key."""
    service_stacks: tuple[str, ...]
    """The keys of the service stacks, in order (the platform stack excluded)."""
    vpc: VpcPlan
    cluster: Mapping[str, Any]
    """Keyword arguments of ContainerClusterProps (without vpc)."""
    database: Mapping[str, Any]
    """Keyword arguments of MySqlDatabaseProps (without vpc and encryption_key)."""
    monitoring: Mapping[str, Any]
    """Keyword arguments of MonitoringProps (without encryption_key)."""
    services: Mapping[str, ServicePlan]
    """The services whose image source is known, in deployment order."""
    users: Mapping[str, Mapping[str, str]]
    """Per stack key (`layout.PLATFORM` included when it has services), the database users its
    provisioner creates: service name -> schema. Services whose dbName did not parse are left
    out (the configuration reported them)."""
    config_problems: tuple[str, ...]
    image_problems: tuple[str, ...]
    images_directory: Path

    @property
    def problems(self) -> tuple[str, ...]:
        """Every problem found without building anything."""
        return self.config_problems + self.image_problems

    @property
    def complete(self) -> bool:
        """Whether every configured service is planned (none lacks its image or port)."""
        return len(self.services) == len(self.config.services)

    def in_config_terms(self, prefix: str, construct: str,
                        problems: Sequence[Problem]) -> list[str]:
        """Problems of one construct's props, named by the configuration keys that set them."""
        return in_config_terms(self.config, prefix, construct, problems)


def plan(config: PlatformConfig, *, availability_zones: Sequence[str] = (),
         region: str = "") -> PlatformPlan:
    """The plan of a platform from its configuration. `availability_zones`: the AZ names of an
    environment's region, when known (for an environment-agnostic stack, none)."""
    assignment = layout.assign(
        {name: service.stack for name, service in config.services.items()}, config.service_stacks
    )
    stacks = tuple(key for key in layout.by_stack(assignment) if key != layout.PLATFORM)
    images_directory = Path(config.images_directory)
    services: dict[str, ServicePlan] = {}
    image_problems: list[str] = []
    for name in config.services:
        service = _service_plan(config, name, assignment[name], images_directory, image_problems)
        if service is not None:
            services[name] = service
    users: dict[str, dict[str, str]] = {}
    for name, service_config in config.services.items():
        if f"{name}.dbName" not in config.unparsed:  # else reported already
            users.setdefault(assignment[name], {})[name] = service_config.db_name
    return PlatformPlan(
        config=config,
        layout=assignment,
        service_stacks=stacks,
        vpc=VpcPlan(cidr=config.vpc_cidr, max_azs=config.vpc_max_azs,
                    nat_gateways=config.vpc_nat_gateways),
        cluster=config.cluster,
        database=config.database,
        monitoring=config.monitoring,
        services=services,
        users=users,
        config_problems=(*config.problems,
                         *zone_problems(config, availability_zones, region)),
        image_problems=tuple(image_problems),
        images_directory=images_directory,
    )


def zone_problems(config: PlatformConfig, availability_zones: Sequence[str],
                  region: str) -> list[str]:
    """vpc.maxAzs beyond the AZs of an environment's region (the VPC would silently use fewer).
    Skipped while the region's AZs are not looked up yet (none, or CDK's dummy values)."""
    zones = list(availability_zones)
    if (not zones or zones[0].startswith("dummy") or "vpc.maxAzs" in config.unparsed
            or config.vpc_max_azs <= len(zones)):
        return []
    return [f"vpc.maxAzs = {config.vpc_max_azs}: the region {region} has {len(zones)} "
            f"AZs in cdk.context.json ({', '.join(zones)}); allowed 2-{len(zones)}"]


def _service_plan(config: PlatformConfig, name: str, stack: str, images_directory: Path,
                  problems: list[str]) -> ServicePlan | None:
    """The plan of one service (None, with a problem, when its image or port is wrong)."""
    service = config.services[name]
    if {f"{name}.containerPort", f"{name}.dbName", f"{name}.image"} & config.unparsed:
        return None  # reported by the configuration already
    settings = dict(service.props)
    environment = settings.pop("environment", {})
    if service.image:
        if "container_port" not in settings:
            problems.append(
                f"{name}.containerPort is missing: a registry image ({service.image}) needs "
                "the port its container listens on, e.g. -c "
                f"{name}.containerPort=8080"
            )
            return None
    else:
        try:
            port = source_port(images_directory, name)
        except ImageSourceError as err:
            problems.append(str(err))
            return None
        configured = settings.setdefault("container_port", port)
        if configured != port:
            problems.append(
                f"{name}.containerPort = {configured} but the image built from "
                f"{images_directory / name / 'service.json'} listens on {port}; make "
                "them equal (or leave containerPort unset: it is read from service.json)"
            )
            return None
        settings.setdefault("health_check_path", SERVICE_IMAGE_HEALTH_PATH)
    return ServicePlan(
        name=name, stack=stack, settings=settings, environment=environment,
        image=service.image or None, repository_credentials=service.repository_credentials,
    )


def quota_counts(plan: PlatformPlan,
                 props: Sequence[ClassicLoadBalancedServiceProps]) -> quotas.PlanCounts:
    """What the plan creates, for the quota check. The instance security group holds one
    inbound rule whatever the number of services (from the cluster's load balancer group,
    over the host-port range); the database's grows by one per database users provisioner
    (the platform stack's, if it has services, and one per service stack). A load
    balancer's own group has one inbound rule per allowed CIDR and listener."""
    provisioners = len(plan.service_stacks) + (layout.PLATFORM in plan.layout.values())
    return quotas.PlanCounts(
        cluster=str(plan.cluster.get("cluster_name") or "Cluster"),
        load_balancers=len(props),
        listeners_per_load_balancer=max((len(p.listeners) for p in props), default=0),
        services=len(props),
        most_tasks={p.name: p.max_task_count or p.desired_count for p in props},
        instance_sg_inbound_rules=1 if props else 0,
        instance_sg_outbound_rules=2 + len(plan.cluster.get("instance_egress", ())),
        database_sg_inbound_rules=1 + provisioners,
        load_balancer_sg_inbound_rules=max(
            (len(p.allowed_cidrs) * len(p.listeners) for p in props), default=0
        ),
    )


def in_config_terms(config: PlatformConfig, prefix: str, construct: str,
                    problems: Sequence[Problem]) -> list[str]:
    """Problems of one construct's props, named by the configuration keys that set them."""
    lines = []
    for problem in problems:
        match = re.match(r"\w+", problem.prop)
        field = match.group(0) if match else problem.prop
        key = config.key_of(prefix, field)
        if key is None:
            lines.append(f"{construct} '{prefix}': {problem.render()}")
            continue
        fix = problem.fix
        for word in set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\b", fix)):
            other = config.key_of(prefix, word)
            if other is not None:
                fix = re.sub(rf"\b{word}\b", other, fix)
        lines.append(
            f"{key}{problem.prop[len(field):]} = {problem.value!r}: allowed "
            f"{problem.allowed}; {fix}"
        )
    return lines
