"""The props of `ContainerCluster` and their checks: what an ECS-on-EC2 cluster needs, validated
before anything is created; and the instances' extra outbound rules they describe."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import aws_ec2 as ec2

from .alarms import alarms_switch, threshold
from .capacity import INSTANCE_TYPES, InstanceResources
from .props import doc, documented, setting
from .validation import Checker, is_token, known, subnet_problems, validator

ECS_CONFIG_KEY_PATTERN = r"ECS_[A-Z0-9_]+"
# ecs.config values the ECS agent reads: numbers, booleans, durations, names, paths and JSON
# lists/maps (ECS_AVAILABLE_LOGGING_DRIVERS=["json-file","awslogs"]). No whitespace or control
# character (a newline would add another setting), no shell metacharacter; the line is also
# shell-quoted when it is written into the user data.
ECS_CONFIG_VALUE_PATTERN = r'[A-Za-z0-9_.,:/=@+%\-\[\]{}"]{0,1024}'
ROOT_DEVICE = "/dev/xvda"
# Containers in bridge mode sit one network hop behind the instance: a PUT response hop limit of 1
# keeps them from fetching an IMDSv2 token, so they cannot read the instance role's credentials.
IMDS_HOP_LIMIT = 1
NAMESPACE_PATTERN = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
AMI_ID_PATTERN = r"ami-([0-9a-f]{8}|[0-9a-f]{17})"
# A published ECS-optimized AL2023 x86_64 release by its "AMI name" (amazon-ecs-ami release), e.g.
# al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64, and its own SSM parameter: the same name in
# every region, and it never moves to another image, unlike .../recommended/image_id.
AMI_RELEASE_PATTERN = r"al2023-ami-ecs-hvm-2023\.0\.\d{8}-kernel-\d+\.\d+-x86_64"
AMI_RELEASE_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/{release}/image_id"
HTTPS_PORT = 443
# An extra outbound rule of the instances: 'tcp:8443:203.0.113.0/24', 'udp:123-124:10.0.0.0/8'.
EGRESS_RULE_PATTERN = r"(tcp|udp):(\d{1,5})(-(\d{1,5}))?:(\d{1,3}(\.\d{1,3}){3}/\d{1,2})"


@documented
@dataclass(frozen=True, kw_only=True)
class ContainerClusterProps:
    """What an ECS-on-EC2 cluster needs. Defaults are neutral (no fixed names; 2 x t3.medium):
    an app sets its own values, e.g. a cluster `app01` on 4 x t2.medium."""

    vpc: ec2.IVpc = field(metadata=doc(
        "VPC for the container instances. They run in its private subnets with egress (they "
        "pull images and reach the ECS API through NAT) unless `instance_subnets` says otherwise; "
        "an `ec2.Vpc(...)` with default settings has them."))
    cluster_name: str | None = field(default=None, metadata=setting(
        "Physical ECS cluster name (1-255 letters, digits, '-', '_'). Default: CloudFormation "
        "generates a unique one, so two clusters can live in one account and region. The name is "
        "written as ECS_CLUSTER into /etc/ecs/ecs.config either way."))
    instance_type: str = field(default="t3.medium", metadata=setting(
        "EC2 instance type of the container instances. Must be in the capacity table "
        "(`ecs_playground.capacity.INSTANCE_TYPES`) unless `instance_resources` is given."))
    instance_resources: InstanceResources | None = field(default=None, metadata=doc(
        "vCPUs and memory of `instance_type`, for types not in the capacity table. "
        "Default: looked up in the table."))
    min_capacity: int = field(default=2, metadata=setting(
        "Fewest instances (0-1000). The capacity check counts only these: they are always there. "
        "Default 2: one per AZ of a two-AZ VPC."))
    max_capacity: int = field(default=2, metadata=setting(
        "Most instances ECS managed scaling may launch (1-1000, >= min_capacity)."))
    desired_capacity: int | None = field(default=None, metadata=setting(
        "Instances at creation. Default: none set, so the group starts at `min_capacity` and ECS "
        "managed scaling owns the size afterwards (a fixed value would be reset on every deploy)."))
    reserved_memory_mib: int = field(default=256, metadata=setting(
        "ECS_RESERVED_MEMORY: memory kept from tasks for the OS, the ECS agent and Docker "
        "(0-16384 MiB)."))
    ecs_config: Mapping[str, str] = field(default_factory=dict, metadata=setting(
        "Extra /etc/ecs/ecs.config settings, e.g. {\"ECS_ENABLE_CONTAINER_METADATA\": \"true\"}. "
        "Keys are ECS_*; ECS_CLUSTER and ECS_RESERVED_MEMORY come from the props above."))
    root_volume_size_gib: int = field(default=30, metadata=setting(
        "Encrypted gp3 root volume size (30-16384 GiB); the ECS-optimized AL2023 AMI needs at "
        "least 30 GiB."))
    container_insights: bool = field(default=True, metadata=setting(
        "CloudWatch Container Insights for the cluster."))
    managed_termination_protection: bool = field(default=False, metadata=setting(
        "ECS managed termination protection. Default off: with it on, instances are protected "
        "from scale-in and `cdk destroy` hangs until someone removes the protection by hand "
        "(aws-cdk issue 18179). Turn it on for long-lived production clusters where scale-in "
        "must never kill tasks; managed draining (always on) already moves tasks off instances "
        "that are being terminated."))
    instance_subnets: ec2.SubnetSelection | None = field(default=None, metadata=doc(
        "Where the instances run. Default: the VPC's private subnets with egress (no public IPs)."))
    target_capacity_percent: int = field(default=100, metadata=setting(
        "ECS managed scaling's target for the cluster's capacity provider reservation (1-100 "
        "%). Default 100: instances are added only when tasks cannot be placed (with static "
        "host ports, a task that finds no free port makes the group grow, up to max_capacity); "
        "lower keeps spare instances ready."))
    machine_image_id: str | None = field(default=None, metadata=setting(
        "AMI ID of the container instances (an ECS-optimized AL2023 x86_64 image, "
        "'ami-0123456789abcdef0'). Pin it to make an AMI change one visible diff: changing it "
        "rolls the instances (see the rolling_update_* props). Default: none, the "
        "image comes from `machine_image_cached_in_context` or else AWS's recommended image."))
    machine_image_release: str | None = field(default=None, metadata=setting(
        "ECS-optimized AL2023 release the instances run, by its AMI name, e.g. "
        "'al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64' (see the amazon-ecs-ami "
        "releases). Read from that release's own SSM parameter, which exists in every region "
        "and never points to another image: a new AMI arrives only when you change this value "
        "(a visible diff that rolls the instances), never because AWS published one. Default: "
        "none (machine_image_id, the cached lookup, or else AWS's recommended image)."))
    machine_image_cached_in_context: bool = field(default=False, metadata=setting(
        "Resolve AWS's recommended ECS-optimized AL2023 image at synth and keep it in "
        "cdk.context.json (needs a stack with an explicit account and region); a new image "
        "arrives only when you run `cdk context --reset` for it and commit the change. Default "
        "False: CloudFormation resolves the recommended image's SSM parameter on every deploy, "
        "so any deploy after AWS publishes an image rolls the instances."))
    rolling_update_min_healthy_percent: int = field(default=75, metadata=setting(
        "How many instances stay in service while CloudFormation replaces them after a launch "
        "template change (a new AMI, instance type, user data), in % of min_capacity, rounded "
        "up and capped at max_capacity - 1 (CloudFormation requires it below the maximum). "
        "Instances are replaced one at a time, and managed draining moves each one's tasks "
        "first. Default 75."))
    rolling_update_pause_seconds: int = field(default=300, metadata=setting(
        "Seconds CloudFormation waits after replacing an instance before the next one (0-3600): "
        "time for the new instance to join the cluster and for ECS to place the drained "
        "tasks on it. Default 300."))
    discovery_namespace: str | None = field(default=None, metadata=setting(
        "Name of a Cloud Map private DNS namespace for the cluster, e.g. 'app01.internal' "
        "(a private Route 53 zone in the VPC). Services on the cluster register in it (SRV "
        "records with their host port), so they find each other without their load balancers. "
        "Default: none, no service discovery."))
    instance_egress: Sequence[str] = field(default=(), metadata=setting(
        "Extra outbound rules of the instances, each 'PROTOCOL:PORT[-PORT]:CIDR' (tcp or udp, "
        "an IPv4 network), e.g. 'tcp:8443:203.0.113.0/24'. The instances may otherwise send "
        "only HTTPS (443) anywhere (AWS APIs and image registries: security groups cannot "
        "name them by DNS) and MySQL to the database they are allowed into; bridge-mode tasks "
        "share the instances' security group, so a service that calls something else (an API "
        "on another port, a DNS server of your own) needs a rule here. Library users can also "
        "call `security_group.add_egress_rule(...)`. Default: none."))
    alarms: bool = alarms_switch(
        "cluster", "CPU and memory reservation high, instances in service below min_capacity "
        "(this enables the group's metrics collection)")
    alarm_reservation_percent: int = threshold(90, 100, (
        "CPU or memory reservation of the cluster (1-100 %) above which it alarms: tasks "
        "reserve nearly all capacity, and the next scale-out or deployment needs new "
        "instances. Default 90."))
    alarm_reservation_minutes: int = threshold(15, 1440, (
        "Minutes the reservation must stay above the threshold before it alarms (1-1440). "
        "Default 15: longer than a rolling deployment's peak."))
    alarm_in_service_minutes: int = threshold(10, 1440, (
        "Minutes the group's in-service instances must stay below min_capacity before it "
        "alarms (1-1440). Default 10: longer than replacing one instance."))

    @validator
    def validate(self, check: Checker) -> None:
        check.physical_name(
            "cluster_name", self.cluster_name,
            "rename the cluster, e.g. 'app01', or leave it unset for a generated name",
        )
        if self.instance_resources is None and self.instance_type not in INSTANCE_TYPES:
            check.add(
                "instance_type", self.instance_type,
                "an x86_64 type from the capacity table (e.g. t2.medium, t3.large, m6i.xlarge)",
                "choose a listed type, or give instance_resources=InstanceResources(vcpus, "
                "memory_mib) for it",
            )
        check.int_range("min_capacity", self.min_capacity, 0, 1000)
        check.int_range("max_capacity", self.max_capacity, 1, 1000)
        if known(self.min_capacity, self.max_capacity) and self.min_capacity > self.max_capacity:
            check.add(
                "min_capacity", self.min_capacity, f"<= max_capacity ({self.max_capacity})",
                "raise max_capacity or lower min_capacity",
            )
        desired = self.desired_capacity
        if (desired is not None and known(desired, self.min_capacity, self.max_capacity)
                and not self.min_capacity <= desired <= self.max_capacity):
            check.add(
                "desired_capacity", desired,
                f"between min_capacity ({self.min_capacity}) and max_capacity "
                f"({self.max_capacity})",
                "set desired_capacity inside that range, or leave it unset",
            )
        check.int_range("reserved_memory_mib", self.reserved_memory_mib, 0, 16384)
        check.int_range("root_volume_size_gib", self.root_volume_size_gib, 30, 16384)
        for key, value in self.ecs_config.items():
            check.pattern(
                f"ecs_config[{key!r}]", key, ECS_CONFIG_KEY_PATTERN, "ECS_ followed by A-Z, 0-9, _",
                "use an ECS agent variable name such as ECS_ENABLE_CONTAINER_METADATA",
            )
            if key in ("ECS_CLUSTER", "ECS_RESERVED_MEMORY"):
                check.add(
                    f"ecs_config[{key!r}]", value, "not set here",
                    "use cluster_name / reserved_memory_mib instead",
                )
            check.pattern(
                f"ecs_config[{key!r}]", value, ECS_CONFIG_VALUE_PATTERN,
                "up to 1024 of letters, digits and _ . , : / = @ + % - [ ] { } \" (what ECS "
                "agent settings use: numbers, durations, names, paths, JSON lists and maps)",
                "remove spaces, newlines, quotes other than \" and shell characters such as "
                "; | & $ ` < > ( ) (the value is written into the instances' user data)",
            )
        pins = [name for name, value in (
            ("machine_image_id", self.machine_image_id),
            ("machine_image_release", self.machine_image_release),
            ("machine_image_cached_in_context", self.machine_image_cached_in_context or None),
        ) if value is not None]
        if len(pins) > 1:
            check.add(
                pins[1], getattr(self, pins[1]), f"unset when {pins[0]} is given",
                "pin the AMI one way: machine_image_id, machine_image_release or the cached "
                "lookup",
            )
        check.optional_pattern(
            "machine_image_release", self.machine_image_release, AMI_RELEASE_PATTERN,
            "the AMI name of an ECS-optimized AL2023 x86_64 release, e.g. "
            "'al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64'",
            "copy the AMD64 'AMI name' of a release of aws/amazon-ecs-ami",
        )
        check.optional_pattern(
            "machine_image_id", self.machine_image_id, AMI_ID_PATTERN,
            "an AMI ID: 'ami-' and 8 or 17 hex digits",
            "copy the image ID of an ECS-optimized AL2023 AMI, or leave it unset",
        )
        check.optional_pattern(
            "discovery_namespace", self.discovery_namespace, NAMESPACE_PATTERN,
            "a DNS name of 2 or more labels (a-z, 0-9, '-'), e.g. 'app01.internal'",
            "choose a private domain name such as 'app01.internal'",
        )
        check.int_range("target_capacity_percent", self.target_capacity_percent, 1, 100)
        check.int_range(
            "rolling_update_min_healthy_percent", self.rolling_update_min_healthy_percent, 0, 100
        )
        check.int_range("rolling_update_pause_seconds", self.rolling_update_pause_seconds, 0, 3600)
        check.bounds(self)
        for rule in self.instance_egress:
            _check_egress_rule(check, rule)
        if self.instance_subnets is None:
            check.problems += subnet_problems(
                "vpc", self.vpc, [ec2.SubnetType.PRIVATE_WITH_EGRESS],
                "give instance_subnets, or a VPC with private subnets with egress (NAT)",
            )


def _check_egress_rule(check: Checker, rule: str) -> None:
    allowed = "'PROTOCOL:PORT[-PORT]:CIDR' with tcp or udp, ports 1-65535 (low to high) and an " \
        "IPv4 network, e.g. 'tcp:8443:203.0.113.0/24'"
    fix = "write each outbound rule as protocol:port:network, e.g. 'tcp:8443:203.0.113.0/24'"
    if is_token(rule):
        return
    match = re.fullmatch(EGRESS_RULE_PATTERN, rule) if isinstance(rule, str) else None
    if match is None:
        check.add("instance_egress", rule, allowed, fix)
        return
    low = int(match.group(2))
    high = int(match.group(4) or low)
    try:
        ipaddress.IPv4Network(match.group(5), strict=True)
        network_ok = True
    except ValueError:
        network_ok = False
    if not (1 <= low <= high <= 65535 and network_ok):
        check.add("instance_egress", rule, allowed, fix)


def egress_rule(rule: str) -> tuple[ec2.IPeer, ec2.Port]:
    """The peer and port range of a valid `instance_egress` entry."""
    match = re.fullmatch(EGRESS_RULE_PATTERN, rule)
    assert match is not None, "validate() accepts only valid rules"
    low = int(match.group(2))
    high = int(match.group(4) or low)
    port = (ec2.Port.tcp_range(low, high) if match.group(1) == "tcp"
            else ec2.Port.udp_range(low, high))
    return ec2.Peer.ipv4(match.group(5)), port


