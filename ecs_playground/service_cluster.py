"""What a service needs from "a cluster that admits services", as a protocol.

`ClassicLoadBalancedService` asks for this, not for a `ContainerCluster`: any construct with these
members (a cluster of your own, a test double) gets the capacity check, the capacity provider and
the shared load balancer security group, exactly as a `ContainerCluster` does. Any other
`ecs.ICluster` with EC2 capacity works too, without them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery

from .capacity import ServiceDemand


@runtime_checkable
class IServiceCluster(Protocol):
    """A cluster that admits services: it checks that they fit, places them with its capacity
    provider and lets their load balancers reach its instances."""

    @property
    def ecs_cluster(self) -> ecs.ICluster:
        """The ECS cluster the services run on."""
        ...

    @property
    def vpc(self) -> ec2.IVpc:
        """The VPC of its instances."""
        ...

    @property
    def security_group(self) -> ec2.ISecurityGroup:
        """The security group of its instances (and of bridge-mode tasks)."""
        ...

    @property
    def capacity_provider_name(self) -> str:
        """The capacity provider services are placed with."""
        ...

    @property
    def namespace(self) -> servicediscovery.INamespace | None:
        """A Cloud Map namespace services register in, or None."""
        ...

    @property
    def container_insights(self) -> bool:
        """Whether Container Insights metrics exist (the running-tasks alarm reads them)."""
        ...

    def register_service(self, demand: ServiceDemand) -> None:
        """Count a service's demand; raise CapacityError if it does not fit."""
        ...

    def admit_load_balancer(self, host_port: int) -> ec2.ISecurityGroup:
        """Open `host_port` on the instances to the cluster's load balancers and return their
        security group, which the service's load balancer joins."""
        ...
