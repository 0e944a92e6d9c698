"""An ECS cluster on EC2 container instances from an Auto Scaling group, safe by default.

The construct lives here; its props and their checks in `container_cluster_props`, the services
it admits in `cluster_services`, its metrics and alarms in `container_cluster_alarms`, the
instance role's scoping in `instance_role` (the props and `egress_rule` are re-exported here, so
`from ecs_playground.container_cluster import ContainerClusterProps` keeps working).
"""

from __future__ import annotations

import functools
import math
import shlex
from typing import overload

import jsii
from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicediscovery as servicediscovery
from aws_cdk import aws_sns as sns
from constructs import Construct

from . import acknowledge
from ._lazy import lazy_any
from .capacity import INSTANCE_TYPES
from .cluster_services import ServiceRegistry
from .container_cluster_alarms import ClusterMetrics, cluster_alarms
from .container_cluster_props import (
    AMI_RELEASE_PARAMETER,
    HTTPS_PORT,
    IMDS_HOP_LIMIT,
    ROOT_DEVICE,
    ContainerClusterProps,
    egress_rule,
)
from .instance_role import scope_agent_permissions
from .keywords import keywords_of, props_or_keywords

__all__ = ["ContainerCluster", "ContainerClusterProps", "egress_rule"]


@jsii.implements(ec2.IConnectable)
class ContainerCluster(ServiceRegistry, ClusterMetrics, Construct):
    """ECS cluster with EC2 capacity: launch template (ECS-optimized AL2023, IMDSv2 only, encrypted
    root volume, no SSH, Session Manager), Auto Scaling group, capacity provider with managed
    scaling and draining, Container Insights.

    It admits services (`IServiceCluster`): pass the ContainerCluster itself as a service's
    `cluster`: the service then registers its
    demand here, and the cluster checks at synth time that all services fit, including the extra
    tasks of a rolling deployment. Its load balancer joins the cluster's load balancer security
    group, from which the instances accept the services' host ports (`admit_load_balancer`).

    Outbound, the instances (and their bridge-mode tasks, which share the instances' security
    group) may send HTTPS (443) anywhere, to AWS APIs and image registries, plus what
    `instance_egress` and callers add (`database.connections.allow_default_port_from(cluster)`
    adds MySQL to the database).

    Attributes: `ecs_cluster` (the ECS cluster), `auto_scaling_group`, `launch_template`,
    `capacity_provider`, `security_group` (the instances'), `load_balancer_security_group`,
    `instance_role`, `scaling_topic`, `alarms` (by name, without actions), `namespace` (Cloud
    Map, or None), `connections` (the instances' security group); the `metric_*()` methods
    (`ClusterMetrics`) and the services side (`ServiceRegistry`).
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None: ...
    @overload
    @keywords_of(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None:
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
        self._init_registry(props.cluster_name or id)
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
        scope_agent_permissions(self.instance_role)
        if not props.container_insights:
            reason = "Container Insights switched off on purpose by the caller (container_insights)"
            acknowledge.nag(self.ecs_cluster, "AwsSolutions-ECS4", reason)
            acknowledge.checkov(self.ecs_cluster, "CKV_AWS_65", reason)
        self.container_insights = props.container_insights
        """Whether Container Insights is on (its metrics exist)."""
        self.alarms: dict[str, cw.Alarm] = cluster_alarms(
            Construct(self, "Alarms"), self, props, props.cluster_name or self.node.id
        ) if props.alarms else {}
        """The cluster's alarms by name (empty when `alarms` is off), without actions."""
        cfn_cluster = self.ecs_cluster.node.default_child
        assert isinstance(cfn_cluster, ecs.CfnCluster)
        cfn_cluster.add_metadata(
            "EcsPlayground::CapacityHeadroom",
            lazy_any(lambda: self.headroom.as_dict()),
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

    @functools.cached_property
    def capacity_provider_name(self) -> str:
        """Name of the cluster's capacity provider, for service capacity provider strategies.
        Read from CDK once: every `isinstance(..., IServiceCluster)` reads it (a protocol's
        properties are checked on the instance), several times per service."""
        return self.capacity_provider.capacity_provider_name

    @property
    def connections(self) -> ec2.Connections:
        """The instances' security group (and their bridge-mode tasks'), as `ec2.IConnectable`:
        `database.connections.allow_default_port_from(cluster)` lets every task of the cluster
        reach the database. No default port: the instances serve nothing directly."""
        return self.ecs_cluster.connections


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
