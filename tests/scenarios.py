"""Stacks another CDK app would write with our constructs: shared by import tests and snapshots."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs

from ecs_playground import (
    ClassicLoadBalancedService,
    ClassicLoadBalancedServiceProps,
    ContainerCluster,
    ContainerClusterProps,
    DatabaseUsers,
    DatabaseUsersProps,
    InstanceResources,
    MySqlDatabase,
    MySqlDatabaseProps,
)

from .factories import ENV, existing_vpc


def minimal_stack() -> cdk.Stack:
    """Each construct with only its required props, in an existing VPC."""
    stack = cdk.Stack(cdk.App(), "Minimal", env=ENV)
    vpc = existing_vpc(stack)
    cluster = ContainerCluster(stack, "Cluster", ContainerClusterProps(vpc=vpc))
    database = MySqlDatabase(stack, "Database", MySqlDatabaseProps(vpc=vpc))
    database.allow_from(cluster.security_group, "MySQL from the ECS instances")
    ClassicLoadBalancedService(
        stack, "Web",
        ClassicLoadBalancedServiceProps(
            name="web", cluster=cluster,
            image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"),
            container_port=8080,
        ),
    )
    return stack


def all_props_stack() -> cdk.Stack:
    """Every prop of every construct set to a non-default value."""
    stack = cdk.Stack(cdk.App(), "AllProps", env=ENV)
    vpc = existing_vpc(stack)
    cluster = ContainerCluster(
        stack, "Cluster",
        ContainerClusterProps(
            vpc=vpc, cluster_name="apps-prod", instance_type="c6i.2xlarge",
            instance_resources=InstanceResources(vcpus=8, memory_mib=16384),
            min_capacity=3, max_capacity=6, desired_capacity=3, reserved_memory_mib=512,
            ecs_config={"ECS_ENABLE_CONTAINER_METADATA": "true", "ECS_LOGLEVEL": "warn"},
            root_volume_size_gib=50, container_insights=False,
            managed_termination_protection=True,
            instance_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            instance_egress=["tcp:8443:203.0.113.0/24", "udp:123:10.0.0.0/8"],
        ),
    )
    database = MySqlDatabase(
        stack, "Database",
        MySqlDatabaseProps(
            vpc=vpc, engine_version="8.0.43", instance_class="db.m6i.large",
            allocated_storage_gib=100, max_allocated_storage_gib=500, master_username="ops",
            backup_retention_days=14, deletion_protection=False, multi_az=True,
            iam_authentication=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ),
    )
    database.allow_from(cluster.security_group, "MySQL from the ECS instances")
    users = DatabaseUsers(stack, "DatabaseUsers", DatabaseUsersProps(
        database=database, services={"api": "api"},
    ))
    ClassicLoadBalancedService(
        stack, "Api",
        ClassicLoadBalancedServiceProps(
            name="api", cluster=cluster, service_name="api", family="api",
            image=ecs.ContainerImage.from_registry("example.org/team/api:2.3.1"),
            container_port=3000, host_port=8443, listener_port=80, cpu=1024,
            memory_limit_mib=2048,
            environment={"LOG_LEVEL": "info", **database.container_environment("api")},
            secrets=users.container_secrets("api"),  # its own user, never the master's
            extra_hosts={"metrics": "10.0.0.10"}, desired_count=2, min_healthy_percent=100,
            max_healthy_percent=150, circuit_breaker=False,
            health_check_grace_period_seconds=120, health_check_path="/ready",
            health_check_interval_seconds=10, health_check_timeout_seconds=4,
            healthy_threshold=3, unhealthy_threshold=4, connection_draining_seconds=120,
            log_retention_days=365, internet_facing=False,
            allowed_cidrs=["10.0.0.0/8", "192.168.0.0/16"],
            certificate_arn="arn:aws:acm:eu-west-1:111111111111:certificate/"
            "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            https_listener_port=8443, keep_http_listener=True,
            ssl_policy="ELBSecurityPolicy-TLS-1-1-2017-01",
        ),
    )
    return stack
