"""An ECS cluster on EC2 container instances from an Auto Scaling group, safe by default."""

from __future__ import annotations

import ipaddress
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from . import acknowledge
from ._lazy import lazy_any, lazy_number
from .alarms import ABOVE, BELOW, alarm, metric
from .capacity import INSTANCE_TYPES, CapacityPlan, Headroom, InstanceResources, ServiceDemand
from .keywords import keywords_of, props_or_keywords
from .props import doc, documented, setting
from .validation import (
    Checker,
    Problem,
    is_token,
    known,
    raise_if_invalid,
    subnet_problems,
    type_problems,
)

CLUSTER_NAME_PATTERN = r"[A-Za-z0-9_-]{1,255}"
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
    an app sets its own values, e.g. the tutorial's `app01` on 4 x t2.medium in its cdk.json."""

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
    alarms: bool = field(default=True, metadata=setting(
        "Create the cluster's alarms: CPU and memory reservation high, instances in service "
        "below min_capacity (this enables the group's metrics collection). They have no "
        "action until one is added (`PlatformMonitoring.add_cluster`). False: none."))
    alarm_reservation_percent: int = field(default=90, metadata=setting(
        "CPU or memory reservation of the cluster (1-100 %) above which it alarms: tasks "
        "reserve nearly all capacity, and the next scale-out or deployment needs new "
        "instances. Default 90."))
    alarm_reservation_minutes: int = field(default=15, metadata=setting(
        "Minutes the reservation must stay above the threshold before it alarms (1-1440). "
        "Default 15: longer than a rolling deployment's peak."))
    alarm_in_service_minutes: int = field(default=10, metadata=setting(
        "Minutes the group's in-service instances must stay below min_capacity before it "
        "alarms (1-1440). Default 10: longer than replacing one instance."))

    def validate(self) -> list[Problem]:
        """Every invalid prop, without creating anything (an empty list when all are valid)."""
        wrong_types = type_problems(self)
        if wrong_types:
            return wrong_types
        check = Checker()
        if self.cluster_name is not None:
            check.pattern(
                "cluster_name", self.cluster_name, CLUSTER_NAME_PATTERN,
                "1-255 letters, digits, '-' or '_'",
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
        if self.machine_image_release is not None:
            check.pattern(
                "machine_image_release", self.machine_image_release, AMI_RELEASE_PATTERN,
                "the AMI name of an ECS-optimized AL2023 x86_64 release, e.g. "
                "'al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64'",
                "copy the AMD64 'AMI name' of a release of aws/amazon-ecs-ami",
            )
        if self.machine_image_id is not None:
            check.pattern(
                "machine_image_id", self.machine_image_id, AMI_ID_PATTERN,
                "an AMI ID: 'ami-' and 8 or 17 hex digits",
                "copy the image ID of an ECS-optimized AL2023 AMI, or leave it unset",
            )
        if self.discovery_namespace is not None:
            check.pattern(
                "discovery_namespace", self.discovery_namespace, NAMESPACE_PATTERN,
                "a DNS name of 2 or more labels (a-z, 0-9, '-'), e.g. 'app01.internal'",
                "choose a private domain name such as 'app01.internal'",
            )
        check.int_range("target_capacity_percent", self.target_capacity_percent, 1, 100)
        check.int_range(
            "rolling_update_min_healthy_percent", self.rolling_update_min_healthy_percent, 0, 100
        )
        check.int_range("rolling_update_pause_seconds", self.rolling_update_pause_seconds, 0, 3600)
        check.int_range("alarm_reservation_percent", self.alarm_reservation_percent, 1, 100)
        check.int_range("alarm_reservation_minutes", self.alarm_reservation_minutes, 1, 1440)
        check.int_range("alarm_in_service_minutes", self.alarm_in_service_minutes, 1, 1440)
        for rule in self.instance_egress:
            _check_egress_rule(check, rule)
        if self.instance_subnets is None:
            check.problems += subnet_problems(
                "vpc", self.vpc, [ec2.SubnetType.PRIVATE_WITH_EGRESS],
                "give instance_subnets, or a VPC with private subnets with egress (NAT)",
            )
        return check.problems


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


UNSCOPED_LOG_WRITES = ("logs:CreateLogStream", "logs:PutLogEvents")


def _drop_unscoped_log_writes(policy: IConstruct) -> None:
    """Remove the log writes on `*` that aws-cdk-lib gives every container instance role.

    Tasks with a task execution role (every task whose container logs with awslogs: aws-cdk-lib
    creates one) write their logs with it, scoped to their log group; the instances do not need
    to write into any log group of the account. Resolved lazily, so statements added to the role
    later are kept.
    """
    cfn = policy.node.default_child
    assert isinstance(cfn, iam.CfnPolicy)
    original = cfn.policy_document

    def produce() -> Any:
        document = Stack.of(policy).resolve(original)
        for statement in document.get("Statement", []):
            actions = statement.get("Action")
            if statement.get("Resource") == "*" and isinstance(actions, list):
                statement["Action"] = [a for a in actions if a not in UNSCOPED_LOG_WRITES]
        return document

    cfn.policy_document = lazy_any(produce)


class ContainerCluster(Construct):
    """ECS cluster with EC2 capacity: launch template (ECS-optimized AL2023, IMDSv2 only, encrypted
    root volume, no SSH, Session Manager), Auto Scaling group, capacity provider with managed
    scaling and draining, Container Insights.

    Pass the ContainerCluster itself as a service's `cluster`: the service then registers its
    demand here, and the cluster checks at synth time that all services fit, including the extra
    tasks of a rolling deployment. Its load balancer joins the cluster's load balancer security
    group, from which the instances accept the services' host ports (`admit_load_balancer`).

    Outbound, the instances (and their bridge-mode tasks, which share the instances' security
    group) may send HTTPS (443) anywhere, to AWS APIs and image registries, plus what
    `instance_egress` and callers add (`database.allow_from(cluster.security_group, ...)` adds
    MySQL to the database).

    Attributes: `ecs_cluster` (the ECS cluster), `auto_scaling_group`, `launch_template`,
    `capacity_provider`, `security_group` (the instances'), `load_balancer_security_group`,
    `instance_role`, `scaling_topic`, `alarms` (by name, without actions), `namespace` (Cloud
    Map, or None).
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None: ...
    @overload
    @keywords_of(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None:
        raise_if_invalid("ContainerCluster", id, props.validate())
        super().__init__(scope, id)
        self.vpc = props.vpc
        """The VPC of the instances."""
        self.instance_type = props.instance_type
        """EC2 instance type of the container instances."""
        self.instance_resources = props.instance_resources or INSTANCE_TYPES[props.instance_type]
        """vCPUs and memory of one instance, as the capacity check counts them."""
        self.min_capacity = props.min_capacity
        """Fewest instances: what the capacity check counts on."""
        self.max_capacity = props.max_capacity
        """Most instances."""
        self.reserved_memory_mib = props.reserved_memory_mib
        """ECS_RESERVED_MEMORY of every instance."""
        self._label = props.cluster_name or id
        self._services: list[ServiceDemand] = []
        self._headroom: Headroom | None = None
        self._load_balancer_group: ec2.SecurityGroup | None = None
        self._load_balancer_ports: set[int] = set()
        of_cluster = f" of cluster {props.cluster_name}" if props.cluster_name else ""

        self.security_group = ec2.SecurityGroup(
            self, "InstanceSecurityGroup", vpc=props.vpc, allow_all_outbound=False,
            description=f"ECS container instances{of_cluster}; "
            "no inbound except from load balancers",
        )
        # What the instances and their bridge-mode tasks send: HTTPS to the ECS, ECR, SSM,
        # CloudWatch Logs and Secrets Manager APIs and to image registries (Docker Hub, ECR
        # Public), whose addresses a security group cannot name (no DNS names in rules, no
        # prefix list covers them); MySQL to the database is added by `database.allow_from`.
        # Not needed, as security groups do not filter them: the VPC's DNS resolver, instance
        # metadata (IMDS), ECS task metadata and Amazon Time Sync (169.254.169.123).
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(HTTPS_PORT),
            "HTTPS to AWS APIs (ECS, ECR, SSM, CloudWatch Logs, Secrets Manager) and image "
            "registries",
        )
        for rule in props.instance_egress:
            peer, port = egress_rule(rule)
            self.security_group.add_egress_rule(peer, port, f"instance_egress {rule}")
        self.instance_role = iam.Role(
            self, "InstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="ECS container instance role (agent permissions are added by the cluster)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
        )
        self.scaling_topic = sns.Topic(
            self, "ScalingNotifications", enforce_ssl=True,
            display_name=f"Auto Scaling events of ECS cluster {props.cluster_name or id}",
        )
        unencrypted_topic = (
            "Auto Scaling cannot publish to a topic under the AWS-managed SNS key, and a "
            "customer key would need the Auto Scaling service-linked role in its key policy, "
            "which may not exist yet at deploy time; the notifications carry no data, only "
            "instance IDs and scaling causes"
        )
        acknowledge.nag(self.scaling_topic, "AwsSolutions-SNS2", unencrypted_topic)
        acknowledge.checkov(self.scaling_topic, "CKV_AWS_26", unencrypted_topic)
        self.launch_template = ec2.LaunchTemplate(
            self, "LaunchTemplate",
            machine_image=self._machine_image(props),
            instance_type=ec2.InstanceType(props.instance_type),
            role=self.instance_role,
            security_group=self.security_group,
            user_data=self._user_data(props),
            require_imdsv2=True,
            http_tokens=ec2.LaunchTemplateHttpTokens.REQUIRED,
            http_put_response_hop_limit=IMDS_HOP_LIMIT,
            block_devices=[
                ec2.BlockDevice(
                    device_name=ROOT_DEVICE,
                    volume=ec2.BlockDeviceVolume.ebs(
                        props.root_volume_size_gib, encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True,
                    ),
                )
            ],
        )
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self, "AutoScalingGroup",
            vpc=props.vpc,
            launch_template=self.launch_template,
            min_capacity=props.min_capacity,
            max_capacity=props.max_capacity,
            desired_capacity=props.desired_capacity,
            vpc_subnets=props.instance_subnets
            or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            new_instances_protected_from_scale_in=props.managed_termination_protection,
            notifications=[autoscaling.NotificationConfiguration(topic=self.scaling_topic)],
            group_metrics=[autoscaling.GroupMetrics(
                autoscaling.GroupMetric.IN_SERVICE_INSTANCES,
                autoscaling.GroupMetric.DESIRED_CAPACITY,
            )] if props.alarms else None,
            # A launch template change (new AMI) replaces the instances one at a time, keeping
            # rolling_update_min_instances_in_service in service; managed draining hands each
            # instance's tasks over before it terminates.
            update_policy=autoscaling.UpdatePolicy.rolling_update(
                max_batch_size=1,
                min_instances_in_service=self.rolling_update_min_instances_in_service(props),
                pause_time=Duration.seconds(props.rolling_update_pause_seconds),
            ),
        )
        self.ecs_cluster = ecs.Cluster(
            self, "Cluster",
            vpc=props.vpc,
            cluster_name=props.cluster_name,
            container_insights_v2=ecs.ContainerInsights.ENABLED
            if props.container_insights
            else ecs.ContainerInsights.DISABLED,
        )
        self.capacity_provider = ecs.AsgCapacityProvider(
            self, "CapacityProvider",
            auto_scaling_group=self.auto_scaling_group,
            enable_managed_scaling=True,
            enable_managed_termination_protection=props.managed_termination_protection,
            enable_managed_draining=True,
            target_capacity_percent=props.target_capacity_percent,
            machine_image_type=ecs.MachineImageType.AMAZON_LINUX_2,
        )
        self.ecs_cluster.add_asg_capacity_provider(self.capacity_provider)
        self.namespace: servicediscovery.INamespace | None = None
        """The Cloud Map private DNS namespace (None without `discovery_namespace`)."""
        if props.discovery_namespace is not None:
            self.namespace = self.ecs_cluster.add_default_cloud_map_namespace(
                name=props.discovery_namespace,
                type=servicediscovery.NamespaceType.DNS_PRIVATE,
                vpc=props.vpc,
            )
        # add_asg_capacity_provider does not do this (add_auto_scaling_group does): without it
        # `cluster.connections` is empty and rules opened through it silently go nowhere.
        self.ecs_cluster.connections.add_security_group(self.security_group)
        self._acknowledge_agent_permissions()
        if not props.container_insights:
            reason = "Container Insights switched off on purpose by the caller (container_insights)"
            acknowledge.nag(self.ecs_cluster, "AwsSolutions-ECS4", reason)
            acknowledge.checkov(self.ecs_cluster, "CKV_AWS_65", reason)
        self.container_insights = props.container_insights
        """Whether Container Insights is on (its metrics exist)."""
        self.alarms: dict[str, cw.Alarm] = self._alarms(props) if props.alarms else {}
        """The cluster's alarms by name (empty when `alarms` is off), without actions."""
        cfn_cluster = self.ecs_cluster.node.default_child
        assert isinstance(cfn_cluster, ecs.CfnCluster)
        cfn_cluster.add_metadata(
            "EcsPlayground::CapacityHeadroom",
            lazy_any(lambda: self.headroom.as_dict()),
        )

    def _acknowledge_agent_permissions(self) -> None:
        acknowledge.nag(
            self.instance_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "AmazonSSMManagedInstanceCore]",
            "Session Manager replaces SSH (no key pair, no port 22); AWS maintains this policy "
            "as the minimum for the SSM agent",
        )
        policy = self.instance_role.node.find_child("DefaultPolicy")
        _drop_unscoped_log_writes(policy)
        acknowledge.nag(
            policy, "AwsSolutions-IAM5[Action::ecs:Submit*]",
            "the ECS agent's own policy (aws-cdk-lib's cluster setup): Submit* reports task and "
            "container state and is limited to this cluster's ARN",
        )
        acknowledge.nag(
            policy, "AwsSolutions-IAM5[Resource::*]",
            "ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken have no resource-level "
            "permissions; ecs:Poll and ecs:StartTelemetrySession are conditioned on this "
            "cluster's ARN; the role has no logs permissions (tasks log with their execution "
            "role, scoped to their log group)",
        )
        acknowledge.checkov(
            policy, "CKV_AWS_111",
            "the ECS agent's write actions: Register/Deregister/Submit* are limited to this "
            "cluster's ARN, Poll and StartTelemetrySession conditioned on it; "
            "DiscoverPollEndpoint has no resource-level permissions",
        )

    @staticmethod
    def rolling_update_min_instances_in_service(props: ContainerClusterProps) -> int:
        """Instances CloudFormation keeps in service while it replaces the others."""
        share = math.ceil(props.min_capacity * props.rolling_update_min_healthy_percent / 100)
        return max(min(share, props.max_capacity - 1), 0)

    @staticmethod
    def _machine_image(props: ContainerClusterProps) -> ec2.IMachineImage:
        if props.machine_image_id is not None:
            return _PinnedImage(props.machine_image_id)
        if props.machine_image_release is not None:
            return ec2.MachineImage.from_ssm_parameter(
                AMI_RELEASE_PARAMETER.format(release=props.machine_image_release),
                os=ec2.OperatingSystemType.LINUX,
            )
        return ecs.EcsOptimizedImage.amazon_linux2023(
            cached_in_context=props.machine_image_cached_in_context or None
        )

    def _alarms(self, props: ContainerClusterProps) -> dict[str, cw.Alarm]:
        scope = Construct(self, "Alarms")
        cluster_name = self.ecs_cluster.cluster_name
        label = props.cluster_name or self.node.id
        found = {}
        for name, metric_name in (("CpuReservation", "CPUReservation"),
                                  ("MemoryReservation", "MemoryReservation")):
            found[name] = alarm(
                scope, name,
                metric=metric("AWS/ECS", metric_name, {"ClusterName": cluster_name}, "Maximum"),
                threshold=props.alarm_reservation_percent, comparison=ABOVE,
                minutes=props.alarm_reservation_minutes,
                description=f"ECS cluster {label}: {metric_name} above "
                f"{props.alarm_reservation_percent} % for {props.alarm_reservation_minutes} min; "
                "tasks reserve nearly all instances, the next scale-out or deployment waits for "
                "new instances (check max_capacity)",
            )
        found["InstancesInService"] = alarm(
            scope, "InstancesInService",
            metric=metric(
                "AWS/AutoScaling", "GroupInServiceInstances",
                {"AutoScalingGroupName": self.auto_scaling_group.auto_scaling_group_name},
                "Minimum",
            ),
            threshold=props.min_capacity, comparison=BELOW,
            minutes=props.alarm_in_service_minutes,
            description=f"ECS cluster {label}: fewer than {props.min_capacity} instances in "
            f"service for {props.alarm_in_service_minutes} min (launches failing? see the "
            "Auto Scaling activity history)",
        )
        return found

    @staticmethod
    def _user_data(props: ContainerClusterProps) -> ec2.UserData:
        """ecs.config settings; the cluster adds ECS_CLUSTER=<name> after these lines."""
        user_data = ec2.UserData.for_linux()
        settings = {"ECS_RESERVED_MEMORY": str(props.reserved_memory_mib), **props.ecs_config}
        user_data.add_commands(*(
            f"echo {shlex.quote(f'{key}={value}')} >> /etc/ecs/ecs.config"
            for key, value in settings.items()
        ))
        return user_data

    @property
    def capacity_provider_name(self) -> str:
        """Name of the cluster's capacity provider, for service capacity provider strategies."""
        return self.capacity_provider.capacity_provider_name

    def capacity_plan(self, *extra: ServiceDemand) -> CapacityPlan:
        """The plan for the registered services plus `extra` ones (not registered)."""
        services = tuple(self._services) + extra
        return CapacityPlan(
            cluster=self._label,
            instance_type=self.instance_type,
            resources=self.instance_resources,
            instances=self.min_capacity,
            reserved_memory_mib=self.reserved_memory_mib,
            services=services,
            max_instances=self.max_capacity,
        )

    def register_service(self, demand: ServiceDemand) -> None:
        """Add a service's demand; raises CapacityError (with the numbers) if it does not fit."""
        self._headroom = self.capacity_plan(demand).check()
        self._services.append(demand)

    @property
    def headroom(self) -> Headroom:
        """Free capacity at the peak of a rolling deployment of every registered service."""
        return self._headroom or self.capacity_plan().check()

    @property
    def services(self) -> tuple[ServiceDemand, ...]:
        """Demands of the services registered so far."""
        return tuple(self._services)

    @property
    def load_balancer_security_group(self) -> ec2.SecurityGroup | None:
        """The security group of the load balancers in front of this cluster's services (None
        until a service's load balancer is admitted: `admit_load_balancer`)."""
        return self._load_balancer_group

    @property
    def load_balancer_host_ports(self) -> tuple[int, ...]:
        """The host ports opened to the load balancers so far, sorted."""
        return tuple(sorted(self._load_balancer_ports))

    def admit_load_balancer(self, host_port: int) -> ec2.SecurityGroup:
        """Open `host_port` on the instances to the cluster's load balancers, and return their
        security group: the caller's load balancer joins it.

        One ingress rule on the instance security group covers every admitted host port: from
        this group, over the range from the lowest to the highest port, resolved at synth (so
        services in other stacks count, and this cluster's stack references none of them). The
        instance security group keeps that one rule however many services there are (EC2 allows
        60 inbound rules per security group by default). The range may span ports that no
        service uses: what keeps a load balancer to its own host port is the egress rule of its
        own security group, so give this group only to load balancers whose egress is one host
        port of this cluster (as ClassicLoadBalancedService does).
        """
        if self._load_balancer_group is None:
            self._load_balancer_group = ec2.SecurityGroup(
                self, "LoadBalancerSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
                description=f"Load balancers of the ECS services on cluster {self._label}; "
                "each sends to its own host port only (its own security group)",
            )
            ports = self._load_balancer_ports
            ec2.CfnSecurityGroupIngress(
                self, "HostPortsFromLoadBalancers",
                group_id=self.security_group.security_group_id,
                source_security_group_id=self._load_balancer_group.security_group_id,
                ip_protocol="tcp",
                from_port=lazy_number(lambda: min(ports)),
                to_port=lazy_number(lambda: max(ports)),
                description="Host ports of the services, from their load balancers (lowest to "
                "highest; each load balancer may send to its own port only)",
            )
        self._load_balancer_ports.add(host_port)
        return self._load_balancer_group



@jsii.implements(ec2.IMachineImage)
class _PinnedImage:
    """One AMI by ID, in any region the stack is deployed to (the caller picked it)."""

    def __init__(self, image_id: str) -> None:
        self.image_id = image_id

    def get_image(self, scope: Construct) -> ec2.MachineImageConfig:
        return ec2.MachineImageConfig(
            image_id=self.image_id, os_type=ec2.OperatingSystemType.LINUX,
            user_data=ec2.UserData.for_linux(),
        )
