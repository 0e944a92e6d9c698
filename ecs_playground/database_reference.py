"""A MySQL database as its administrator sees it, in one value (`IMySqlDatabase`), and
`ExistingMySqlDatabase` for one this app did not create. `MySqlDatabase` is the other kind."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import DependencyGroup, IDependable

MYSQL_PORT = 3306


@runtime_checkable
class IMySqlDatabase(Protocol):
    """A MySQL database as its administrator (e.g. `DatabaseUsers`) sees it, in one value: where
    it is, how to reach it, the admin credentials, and what to wait for before logging in.
    A `MySqlDatabase` is one; `ExistingMySqlDatabase` describes one this app did not create."""

    @property
    def vpc(self) -> ec2.IVpc:
        """The database's VPC."""
        ...

    @property
    def hostname(self) -> str:
        """The endpoint address."""
        ...

    @property
    def port(self) -> int:
        """The MySQL port."""
        ...

    @property
    def secret(self) -> secretsmanager.ISecret:
        """The admin (master) user's `username` and `password`."""
        ...

    @property
    def connections(self) -> ec2.Connections:
        """The database's security groups, with the MySQL port as default port."""
        ...

    @property
    def available(self) -> IDependable:
        """What must exist before a client can log in (the instance and its security groups)."""
        ...


@dataclass(frozen=True, kw_only=True)
class ExistingMySqlDatabase:
    """A MySQL database this app did not create (another stack's, or one made by hand), as an
    `IMySqlDatabase`: e.g. `DatabaseUsers(database=ExistingMySqlDatabase(...))`."""

    vpc: ec2.IVpc
    """The database's VPC."""
    hostname: str
    """The endpoint address."""
    secret: secretsmanager.ISecret
    """Secret with the admin user's `username` and `password`."""
    security_groups: Sequence[ec2.ISecurityGroup]
    """The database's security groups: a client allowed in gets the port opened on each."""
    port: int = MYSQL_PORT
    """The MySQL port."""

    @functools.cached_property
    def connections(self) -> ec2.Connections:
        """The security groups, with `port` as default port."""
        return ec2.Connections(security_groups=list(self.security_groups),
                               default_port=ec2.Port.tcp(self.port))

    @property
    def available(self) -> IDependable:
        """The security groups: a client waits for them (the instance is not this app's)."""
        return DependencyGroup(*self.security_groups)
