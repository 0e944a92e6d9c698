"""An importer's app built from the library alone, with every default: one cluster, one database,
its users, one service and the monitoring, in an existing VPC. Each call builds a fresh stack."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from ecs_playground import (
    ClassicLoadBalancedService,
    ContainerCluster,
    DatabaseUsers,
    Monitoring,
    MySqlDatabase,
)

from ..factories import existing_vpc, new_stack


@dataclass
class Shop:
    """The importer's constructs and their stack."""

    stack: cdk.Stack
    cluster: ContainerCluster
    database: MySqlDatabase
    users: DatabaseUsers
    service: ClassicLoadBalancedService
    monitoring: Monitoring

    def template(self) -> Template:
        return Template.from_stack(self.stack)


def shop(name: str = "Shop", *, service_class: type[ClassicLoadBalancedService] = (
        ClassicLoadBalancedService), **database: object) -> Shop:
    """The importer's app, keyword style, defaults everywhere (`database` overrides the
    database's props)."""
    stack = new_stack(name)
    vpc = existing_vpc(stack)
    cluster = ContainerCluster(stack, "Cluster", vpc=vpc)
    db = MySqlDatabase(stack, "Database", vpc=vpc, **database)  # type: ignore[arg-type]
    users = DatabaseUsers(stack, "DatabaseUsers", database=db, services={"web": "web"})
    service = service_class(
        stack, "Web", name="web", cluster=cluster, container_port=8080,
        image=ecs.ContainerImage.from_registry("nginx:1.27"),
        environment=db.container_environment("web"), secrets=users.container_secrets("web"),
    )
    db.connections.allow_default_port_from(service, "MySQL from the web service")
    monitoring = Monitoring(stack, "Monitoring")
    monitoring.add_cluster(cluster)
    monitoring.add_database(db)
    monitoring.add_service(service)
    return Shop(stack, cluster, db, users, service, monitoring)
