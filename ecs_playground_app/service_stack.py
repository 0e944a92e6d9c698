"""A stack of services on the platform stack's cluster (`EcsPlaygroundStack.service_stacks`): the
services that do not live in the platform stack itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ecs_playground.classic_service import ClassicLoadBalancedService
from ecs_playground.database import ExistingMySqlDatabase, MySqlDatabase
from ecs_playground.database_users import DatabaseUsers, DatabaseUsersProps
from ecs_playground.monitoring import Monitoring, ServicesDashboard


class PlatformStack(Protocol):
    """What a service stack uses of the platform stack (`EcsPlaygroundStack`)."""

    @property
    def vpc(self) -> ec2.IVpc: ...
    @property
    def database(self) -> MySqlDatabase: ...
    @property
    def encryption_key(self) -> kms.IKey: ...


def construct_id(name: str) -> str:
    """'location' -> 'Location', 'order-api' -> 'OrderApi' (PascalCase construct IDs)."""
    return "".join(part.title() for part in name.split("-"))


class ServiceStack(Stack):
    """A stack of services on the platform stack's cluster: their ELBs, task definitions, ECS
    services, alarms, their database users (a provisioner of their own) and a dashboard.

    References go one way only: a service stack uses the platform's VPC, cluster, capacity
    provider, database, key, bucket and alarm topic; the platform stack never references a service
    stack (aws-cdk issue 35210 asks to keep the cluster and its ASG capacity provider together:
    both stay in the platform stack).
    """

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.services_scope = Construct(self, "Services")
        """Parent of the services (the same construct path as in the platform stack)."""
        self.services: dict[str, ClassicLoadBalancedService] = {}
        self.database_users: DatabaseUsers
        self.dashboard: ServicesDashboard | None = None

    @staticmethod
    def database_users_props(platform: PlatformStack, services: Mapping[str, str],
                             scope: Construct | None = None) -> DatabaseUsersProps:
        """A provisioner on the platform's database. With a `scope` (the service stack), the
        master secret and the key are imported there: granting on the platform's own objects
        would write this stack's roles into the platform's key policy (a cycle)."""
        secret: secretsmanager.ISecret = platform.database.secret
        key: kms.IKey = platform.encryption_key
        if scope is not None:
            key = kms.Key.from_key_arn(scope, "PlatformKey", platform.encryption_key.key_arn)
            secret = secretsmanager.Secret.from_secret_attributes(
                scope, "MasterSecret", secret_complete_arn=platform.database.secret.secret_arn,
                encryption_key=key,
            )
        return DatabaseUsersProps(
            database=ExistingMySqlDatabase(
                vpc=platform.vpc, hostname=platform.database.hostname, secret=secret,
                security_groups=[platform.database.security_group],
            ) if scope is not None else platform.database,
            services=services,
            encryption_key=key,
        )

    def add_database_users(self, platform: PlatformStack, services: Mapping[str, str]
                           ) -> None:
        """One MySQL user per service of this stack."""
        self.database_users = DatabaseUsers(
            self, "DatabaseUsers", self.database_users_props(platform, services, self)
        )

    def add_service(self, name: str, service: ClassicLoadBalancedService,
                    monitoring: Monitoring) -> None:
        """Alarms to the platform's topic, ELB lines on this stack's dashboard, an output."""
        self.services[name] = service
        monitoring.notify(service.alarms)
        if self.dashboard is None:
            self.dashboard = ServicesDashboard(self, "Monitoring", title=self.stack_name)
        self.dashboard.add_service(service)
        CfnOutput(
            self, f"{construct_id(name)}LoadBalancerDnsName",
            value=service.load_balancer.load_balancer_dns_name,
            description=f"DNS name of the {name} service's classic ELB (port "
            f"{service.listener_port})",
        )
