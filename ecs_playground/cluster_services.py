"""The services a cluster admits: their capacity demands (checked against the instances) and the
host ports their load balancers may reach. `ContainerCluster` is one; `IServiceCluster` says what a
service asks of any other."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from ._lazy import lazy_number
from .capacity import CapacityPlan, Headroom, InstanceResources, ServiceDemand


class ServiceRegistry:
    """The services side of a cluster construct: a mixin of `ContainerCluster`, whose
    `__init__` calls `_init_registry` before any service registers."""

    vpc: ec2.IVpc
    security_group: ec2.SecurityGroup
    instance_type: str
    instance_resources: InstanceResources
    min_capacity: int
    max_capacity: int
    reserved_memory_mib: int

    def _init_registry(self, label: str) -> None:
        self._label = label
        self._services: list[ServiceDemand] = []
        self._headroom: Headroom | None = None
        self._load_balancer_group: ec2.SecurityGroup | None = None
        self._load_balancer_ports: set[int] = set()

    def _construct(self) -> Construct:
        assert isinstance(self, Construct), "ServiceRegistry is a mixin of a construct"
        return self

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
                self._construct(), "LoadBalancerSecurityGroup", vpc=self.vpc,
                allow_all_outbound=False,
                description=f"Load balancers of the ECS services on cluster {self._label}; "
                "each sends to its own host port only (its own security group)",
            )
            ports = self._load_balancer_ports
            ec2.CfnSecurityGroupIngress(
                self._construct(), "HostPortsFromLoadBalancers",
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
