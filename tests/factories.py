"""Valid props for each construct, so a test states only what it changes.

Each factory returns a fresh, valid object: tests never share a stack or props they mutate.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs

from ecs_playground import (
    ClassicLoadBalancedServiceProps,
    ContainerCluster,
    ContainerClusterProps,
    MySqlDatabaseProps,
)

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def new_stack(name: str = "Test") -> cdk.Stack:
    """A stack in an app of its own, with a fixed account and region."""
    return cdk.Stack(cdk.App(), name, env=ENV)


def existing_vpc(scope: cdk.Stack) -> ec2.IVpc:
    """A VPC that already exists, known by its IDs (no lookup, no resources created)."""
    return ec2.Vpc.from_vpc_attributes(
        scope, "ExistingVpc",
        vpc_id="vpc-0a1b2c3d4e5f60718",
        availability_zones=["eu-west-1a", "eu-west-1b"],
        public_subnet_ids=["subnet-0aaa00000000000a1", "subnet-0aaa00000000000a2"],
        private_subnet_ids=["subnet-0bbb00000000000b1", "subnet-0bbb00000000000b2"],
        isolated_subnet_ids=["subnet-0ccc00000000000c1", "subnet-0ccc00000000000c2"],
    )


def cluster_props(vpc: ec2.IVpc, **overrides: Any) -> ContainerClusterProps:
    """Valid cluster props (the library's defaults) with overrides."""
    return ContainerClusterProps(**{"vpc": vpc, **overrides})


def database_props(vpc: ec2.IVpc, **overrides: Any) -> MySqlDatabaseProps:
    """Valid database props (the library's defaults) with overrides."""
    return MySqlDatabaseProps(**{"vpc": vpc, **overrides})


def service_props(
    cluster: ecs.ICluster | ContainerCluster, **overrides: Any
) -> ClassicLoadBalancedServiceProps:
    """Valid props of a service 'svc' on port 8081 from a registry image, with overrides."""
    values: dict[str, Any] = {
        "name": "svc",
        "image": ecs.ContainerImage.from_registry("srirajan/location:10"),
        "container_port": 8081,
        **overrides,
    }
    return ClassicLoadBalancedServiceProps(cluster=cluster, **values)


def new_cluster(stack: cdk.Stack | None = None, **overrides: Any) -> ContainerCluster:
    """A ContainerCluster in an existing VPC of a new stack (or the given one)."""
    stack = stack or new_stack()
    return ContainerCluster(stack, "Cluster", cluster_props(existing_vpc(stack), **overrides))
