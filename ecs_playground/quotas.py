"""AWS quotas a platform plan can hit, checked at synth from numbers alone (no AWS calls).

Two kinds of limit:

* **hard**: cannot be raised (or is our own design budget below a hard CloudFormation limit);
  a plan over one fails the synth with the numbers and what to do;
* **adjustable**: a default that Service Quotas raises on request; a plan over one synthesizes,
  and `make synth` lists it as "needs a quota increase" with the quota name to request.

Every number below names the AWS page it comes from (AWS's own documentation, checked again
2026-11-29; the page and the table row are named next to each quota). Quotas are per account
and Region unless the name says otherwise; the checks count only what this app creates (other
stacks in the account use the same regional quotas).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

INCREASES_METADATA_KEY = "EcsPlayground::QuotaIncreases"
"""Template metadata key under which a platform stack records the adjustable quotas its plan
exceeds (rendered lines), for `make synth`'s summary and `make review`'s report."""

CFN_QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
ELB_QUOTAS = "https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-limits.html"
VPC_QUOTAS = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html"
ECS_QUOTAS = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html"


@dataclass(frozen=True)
class Quota:
    """One limit: what it counts, its default value, whether it can be raised, its source."""

    service: str
    """The AWS service whose quota it is (as Service Quotas lists it)."""
    name: str
    """The quota's name, as requested in Service Quotas (or as the documentation calls it)."""
    limit: int
    adjustable: bool
    source: str
    """Where the number comes from."""
    fix: str = ""
    """What to do about a hard limit (adjustable ones: request an increase)."""


# --- CloudFormation (cloudformation-limits.html, "CloudFormation quotas" table: Resources "500
# resources", Outputs "200 outputs", Parameters "200 parameters", Template body size in an Amazon
# S3 object "1 MB"; the page offers no increase for any of them, only for the number of stacks) --
STACK_RESOURCES = Quota(
    "CloudFormation", "resources per stack (design budget; CloudFormation allows 500)", 400,
    False, CFN_QUOTAS,
    "pin some services to another service stack with <service>.stack, or raise serviceStacks",
)
"""Our budget: 100 below CloudFormation's 500, so a stack never meets CDK's own hard error
(TooManyResourcesInStack) and a service added later still fits."""
STACK_TEMPLATE_BYTES = Quota(
    "CloudFormation", "template size (design budget; CloudFormation allows 1 MB from S3)",
    800 * 1024, False, CFN_QUOTAS,
    "pin some services to another service stack with <service>.stack, or raise serviceStacks",
)
STACK_OUTPUTS = Quota("CloudFormation", "outputs per stack", 200, False, CFN_QUOTAS,
                      "move services (their outputs and exports) to another stack")
STACK_PARAMETERS = Quota("CloudFormation", "parameters per stack", 200, False, CFN_QUOTAS,
                         "move services (their image asset parameters) to another stack")
# --- Elastic Load Balancing (elb-limits.html, "Quotas for your Classic Load Balancer": Classic
# Load Balancers per Region 20, Listeners per Classic Load Balancer 100, both adjustable) -------
CLASSIC_LBS_PER_REGION = Quota(
    "Elastic Load Balancing", "Classic Load Balancers per Region", 20, True, ELB_QUOTAS)
LISTENERS_PER_CLASSIC_LB = Quota(
    "Elastic Load Balancing", "Listeners per Classic Load Balancer", 100, True, ELB_QUOTAS)
# --- Amazon VPC (amazon-vpc-limits.html, "Security groups" table: "Inbound or outbound rules per
# security group" 60, adjustable, counted separately for IPv4 and IPv6 and for inbound and
# outbound; "Security groups per network interface" 5, adjustable up to 16; "This quota
# multiplied by the quota for rules per security group cannot exceed 1,000", so 1,000 is the
# hard end of the two quotas together) ----------------------------------------------------------
INBOUND_RULES_PER_SG = Quota(
    "Amazon Virtual Private Cloud (Amazon VPC)", "Inbound or outbound rules per security group",
    60, True, VPC_QUOTAS)
INBOUND_RULES_HARD = Quota(
    "Amazon Virtual Private Cloud (Amazon VPC)",
    "inbound rules per security group x security groups per network interface", 1000, False,
    VPC_QUOTAS,
    "use fewer rules per security group (e.g. fewer allowed CIDRs, or fewer service stacks "
    "with a database users provisioner each)",
)
SGS_PER_INTERFACE = Quota(
    "Amazon Virtual Private Cloud (Amazon VPC)", "Security groups per network interface", 5,
    True, VPC_QUOTAS)
# --- Amazon ECS (service-quotas.html, "Amazon ECS service quotas": Services per cluster 5,000,
# Tasks per service 5,000, both adjustable; a service with service discovery is held to 1,000 tasks
# by AWS Cloud Map's instances per service, which the props' 1,000-task bound already keeps) -----
SERVICES_PER_CLUSTER = Quota(
    "Amazon Elastic Container Service (Amazon ECS)", "Services per cluster", 5000, True,
    ECS_QUOTAS)
TASKS_PER_SERVICE = Quota(
    "Amazon Elastic Container Service (Amazon ECS)", "Tasks per service", 5000, True, ECS_QUOTAS)


@dataclass(frozen=True)
class Usage:
    """How much of a quota one thing (a stack, a security group, the Region) uses."""

    quota: Quota
    where: str
    value: int

    @property
    def over(self) -> bool:
        """Above the quota's default value."""
        return self.value > self.quota.limit

    def render(self) -> str:
        """One line: what, where, the numbers, what to do."""
        q = self.quota
        head = f"{q.service}: {q.name} ({self.where}): {self.value} > {q.limit}"
        if q.adjustable:
            return (f"{head}; needs a quota increase: request '{q.name}' >= {self.value} in "
                    f"Service Quotas ({q.source})")
        return f"{head}; a hard limit ({q.source}): {q.fix}"


class QuotaError(ValueError):
    """A plan over a hard limit; the message has the numbers and what to do."""

    def __init__(self, breaches: Iterable[Usage]) -> None:
        self.breaches = tuple(breaches)
        super().__init__(
            f"Quota check failed, {len(self.breaches)} hard limit(s) exceeded:\n"
            + "\n".join(f"  - {b.render()}" for b in self.breaches)
        )


def split(usages: Iterable[Usage]) -> tuple[list[Usage], list[Usage]]:
    """(hard breaches, adjustable quotas that need an increase)."""
    over = [u for u in usages if u.over]
    return [u for u in over if not u.quota.adjustable], [u for u in over if u.quota.adjustable]


def check(usages: Iterable[Usage]) -> list[Usage]:
    """Raise QuotaError on any hard breach; return the adjustable quotas that need an increase."""
    hard, increases = split(usages)
    if hard:
        raise QuotaError(hard)
    return increases


def template_usages(stack: str, template: Mapping[str, Any], size_bytes: int | None = None
                    ) -> list[Usage]:
    """CloudFormation's per-stack limits for one synthesized template."""
    size = size_bytes if size_bytes is not None else len(json.dumps(template, indent=1))
    where = f"stack {stack}"
    return [
        Usage(STACK_RESOURCES, where, len(template.get("Resources", {}))),
        Usage(STACK_OUTPUTS, where, len(template.get("Outputs", {}))),
        Usage(STACK_PARAMETERS, where, len(template.get("Parameters", {}))),
        Usage(STACK_TEMPLATE_BYTES, where, size),
    ]


@dataclass(frozen=True)
class PlanCounts:
    """What a platform plan creates, counted before any construct exists."""

    cluster: str
    load_balancers: int
    listeners_per_load_balancer: int
    services: int
    most_tasks: Mapping[str, int]
    """Per service, its task count at maximum scale."""
    instance_sg_inbound_rules: int
    """Inbound rules of the instance security group: one (from the cluster's load balancer
    group, over the services' host-port range) whatever the number of services."""
    instance_sg_outbound_rules: int = 0
    """Outbound rules of the instance security group: HTTPS, MySQL to the database and one per
    `instance_egress` entry."""
    sgs_per_instance_interface: int = 1
    database_sg_inbound_rules: int = 0
    """Inbound rules of the database's security group: the instances, and each database users
    provisioner (the platform stack's and one per service stack)."""
    load_balancer_sg_inbound_rules: int = 0
    """The most inbound rules of any load balancer's own security group (one per allowed
    CIDR and listener)."""
    sgs_per_load_balancer_interface: int = 2
    """A load balancer's own security group and the cluster's load balancer group."""


def plan_usages(plan: PlanCounts) -> list[Usage]:
    """The Region, cluster, security group and service quotas of one plan."""
    groups = {
        f"instance security group of cluster {plan.cluster}": plan.instance_sg_inbound_rules,
        "database security group": plan.database_sg_inbound_rules,
        "each load balancer's own security group": plan.load_balancer_sg_inbound_rules,
    }
    interfaces = max(plan.sgs_per_instance_interface, plan.sgs_per_load_balancer_interface)
    most_rules = max(groups.values())
    usages = [
        Usage(CLASSIC_LBS_PER_REGION, "this app", plan.load_balancers),
        Usage(LISTENERS_PER_CLASSIC_LB, "each load balancer", plan.listeners_per_load_balancer),
        Usage(SERVICES_PER_CLUSTER, f"cluster {plan.cluster}", plan.services),
        *(Usage(INBOUND_RULES_PER_SG, where, rules) for where, rules in groups.items()),
        Usage(INBOUND_RULES_PER_SG,
              f"instance security group of cluster {plan.cluster} (outbound)",
              plan.instance_sg_outbound_rules),
        # the two quotas must allow the fullest group and the most groups on one interface
        Usage(INBOUND_RULES_HARD, f"{most_rules} rules x {interfaces} security groups",
              most_rules * interfaces),
        Usage(SGS_PER_INTERFACE, "instances and load balancers", interfaces),
    ]
    usages += [Usage(TASKS_PER_SERVICE, f"service {name}", count)
               for name, count in plan.most_tasks.items()]
    return usages
