"""RDS MySQL for the services: private, encrypted, backed up, credentials in Secrets Manager.

`IMySqlDatabase` is what an administrator of the database (`DatabaseUsers`) needs to know about it,
in one value: a `MySqlDatabase`, or an `ExistingMySqlDatabase` for one this app did not create.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload, runtime_checkable

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, DependencyGroup, IDependable

from . import acknowledge
from .alarms import ABOVE, BELOW, alarm, alarms_switch, metric, threshold
from .keywords import keywords_of, props_or_keywords
from .props import doc, documented, setting
from .validation import (
    Checker,
    Problem,
    PropsValidationError,
    known,
    raise_if_invalid,
    subnet_problems,
    validator,
)

MYSQL_PORT = 3306
DATABASE_SUBNET_TYPES = (ec2.SubnetType.PRIVATE_ISOLATED, ec2.SubnetType.PRIVATE_WITH_EGRESS)
ENGINE_VERSION_PATTERN = r"8\.(0|4)\.\d{1,2}"
INSTANCE_CLASS_PATTERN = r"db\.[a-z][a-z0-9]*\.[a-z0-9]+"
USERNAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,15}"
RESERVED_USERNAMES = frozenset({"root", "rdsadmin", "mysql", "user"})
# Characters that break DSNs, shell quoting or JSON in the services' configuration.
PASSWORD_EXCLUDED_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"


@documented
@dataclass(frozen=True, kw_only=True)
class MySqlDatabaseProps:
    """What a MySQL database needs. Every value has a safe default."""

    vpc: ec2.IVpc = field(metadata=doc(
        "VPC for the database. It goes into the VPC's isolated subnets when it has some (no "
        "route to or from the internet), else into its private subnets with egress; a VPC with "
        "public subnets only is refused. Needs subnets in at least two AZs (an RDS rule)."))
    engine_version: str = field(default="8.4.10", metadata=setting(
        "Full MySQL engine version (8.0.x or 8.4.x). Default 8.4.10: MySQL 8.4 is the LTS "
        "line; 8.0 left RDS standard support in July 2026. A full version is required: a "
        "major version alone lets RDS pick one, and minor upgrades then show up as template "
        "drift."))
    instance_class: str = field(default="db.t3.micro", metadata=setting(
        "RDS instance class, e.g. db.t3.micro, db.m6i.large."))
    allocated_storage_gib: int = field(default=20, metadata=setting(
        "Initial gp3 storage (20-65536 GiB)."))
    max_allocated_storage_gib: int = field(default=100, metadata=setting(
        "Upper bound for storage autoscaling; must be >= allocated_storage_gib."))
    master_username: str = field(default="admin", metadata=setting(
        "Master user; its generated password goes to Secrets Manager, never into the "
        "template."))
    backup_retention_days: int = field(default=7, metadata=setting(
        "Days of automated backups (1-35; 0 would disable them, which is not allowed here)."))
    deletion_protection: bool = field(default=True, metadata=setting(
        "RDS deletion protection. Set False for throwaway environments that `cdk destroy` "
        "must remove; the instance is still snapshotted on delete."))
    multi_az: bool = field(default=False, metadata=setting(
        "Standby in a second AZ (doubles cost). Default: a single instance."))
    iam_authentication: bool = field(default=False, metadata=setting(
        "IAM database authentication: MySQL users created for the AWSAuthenticationPlugin log "
        "in with a short-lived token that `rds-db:connect` permits, instead of a password. "
        "Default off: `DatabaseUsers` gives each service a password user (from Secrets "
        "Manager), and an authentication path nothing uses is one more to review. Turn it on "
        "when you create such a user, then `grant_connect` its client."))
    subnets: ec2.SubnetSelection | None = field(default=None, metadata=doc(
        "Where the instance runs. Default: the VPC's isolated subnets, or its private subnets "
        "with egress when it has no isolated ones (an `ec2.Vpc(...)` with default settings)."))
    encryption_key: kms.IKey | None = field(default=None, metadata=doc(
        "Customer managed KMS key for the storage and the secret. Default: the AWS-managed "
        "keys (aws/rds, aws/secretsmanager); both are encrypted either way."))

    alarms: bool = alarms_switch(
        "database", "CPU high, free storage low, freeable memory low, connections high")
    alarm_cpu_percent: int = threshold(80, 100,
        "CPU utilization (1-100 %) above which it alarms. Default 80.")
    alarm_free_storage_gib: int = threshold(2, 65536, (
        "Free storage (GiB, 1-65536) below which it alarms; storage autoscaling grows the "
        "volume only up to max_allocated_storage_gib. Default 2."))
    alarm_freeable_memory_mib: int = threshold(64, 1048576, (
        "Freeable memory (MiB, 1-1048576) below which it alarms. Default 64 (a db.t3.micro "
        "has 1 GiB)."))
    alarm_connections: int = threshold(50, 100000, (
        "Open connections (1-100000) above which it alarms. Default 50: MySQL's default "
        "max_connections on a db.t3.micro is about 60 (memory / 12 MiB); raise it with the "
        "instance class."))
    alarm_minutes: int = threshold(10, 1440, (
        "Minutes a database metric must breach its threshold before it alarms (1-1440). "
        "Default 10."))

    @validator
    def validate(self, check: Checker) -> None:
        check.pattern(
            "engine_version", self.engine_version, ENGINE_VERSION_PATTERN,
            "a full MySQL 8.0.x or 8.4.x version, e.g. 8.4.10",
            "give major, minor and patch (a major version alone is not accepted)",
        )
        check.pattern(
            "instance_class", self.instance_class, INSTANCE_CLASS_PATTERN,
            "db.<family>.<size>, e.g. db.t3.micro", "prefix the EC2 type with 'db.'",
        )
        check.int_range("allocated_storage_gib", self.allocated_storage_gib, 20, 65536)
        if (known(self.max_allocated_storage_gib, self.allocated_storage_gib)
                and self.max_allocated_storage_gib < self.allocated_storage_gib):
            check.add(
                "max_allocated_storage_gib", self.max_allocated_storage_gib,
                f">= allocated_storage_gib ({self.allocated_storage_gib})",
                "raise max_allocated_storage_gib",
            )
        check.int_range(
            "backup_retention_days", self.backup_retention_days, 1, 35,
            "keep automated backups: set 1-35 days",
        )
        ok = check.pattern(
            "master_username", self.master_username, USERNAME_PATTERN,
            "1-16 letters, digits or '_', starting with a letter",
            "choose a short name such as 'admin'",
        )
        if ok and self.master_username.lower() in RESERVED_USERNAMES:
            check.add(
                "master_username", self.master_username,
                f"not one of {sorted(RESERVED_USERNAMES)}", "choose another name, e.g. 'admin'",
            )
        check.bounds(self)
        if self.subnets is None:
            check.problems += subnet_problems(
                "vpc", self.vpc, DATABASE_SUBNET_TYPES,
                "give subnets=ec2.SubnetSelection(...), or a VPC with isolated or private subnets "
                "(a database is never placed in public subnets)",
            )

    def placement(self) -> ec2.SubnetSelection:
        """Where the instance goes: `subnets`, else the first private kind the VPC has."""
        if self.subnets is not None:
            return self.subnets
        for subnet_type in DATABASE_SUBNET_TYPES:
            if not subnet_problems("vpc", self.vpc, [subnet_type], ""):
                return ec2.SubnetSelection(subnet_type=subnet_type)
        raise AssertionError("validate() refuses a VPC without private subnets")


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


@jsii.implements(ec2.IConnectable)
class MySqlDatabase(Construct):
    """RDS MySQL in isolated subnets, not publicly accessible, storage encrypted, automated
    backups, snapshot on delete, generated master credentials in Secrets Manager (retained).
    Nothing can reach port 3306 until a client is allowed in:
    `database.connections.allow_default_port_from(cluster_or_service)`.

    Attributes: `instance`, `secret` (master), `attached_secret`, `security_group`,
    `connections`, `alarms` (by name, without actions), `vpc`, `port`, `hostname`; the
    `metric_*()` methods; `grant_connect` for IAM database authentication.
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: MySqlDatabaseProps) -> None: ...
    @overload
    @keywords_of(MySqlDatabaseProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(MySqlDatabaseProps)
    def __init__(self, scope: Construct, id: str, props: MySqlDatabaseProps) -> None:
        raise_if_invalid("MySqlDatabase", id, props.validate())
        super().__init__(scope, id)
        self.vpc = props.vpc
        """The database's VPC."""
        self.port = MYSQL_PORT
        """The MySQL port."""
        self.master_username = props.master_username
        """The admin user (never a service's: see `DatabaseUsers`)."""
        self.iam_authentication = props.iam_authentication
        """Whether IAM database authentication is on (`grant_connect` needs it)."""
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=props.vpc, allow_all_outbound=False,
            description="MySQL: inbound 3306 only from allowed clients, no outbound",
        )
        major = ".".join(props.engine_version.split(".")[:2])
        self.secret = rds.DatabaseSecret(
            self, "Secret",
            username=props.master_username,
            exclude_characters=PASSWORD_EXCLUDED_CHARACTERS,
            encryption_key=props.encryption_key,
        )
        # The password is needed to use a restored snapshot: keep it when the stack goes.
        self.secret.apply_removal_policy(RemovalPolicy.RETAIN)
        self.instance = rds.DatabaseInstance(
            self, "Instance",
            engine=rds.DatabaseInstanceEngine.mysql(
                version=rds.MysqlEngineVersion.of(props.engine_version, major)
            ),
            instance_type=ec2.InstanceType(props.instance_class.removeprefix("db.")),
            vpc=props.vpc,
            vpc_subnets=props.placement(),
            security_groups=[self.security_group],
            port=MYSQL_PORT,
            credentials=rds.Credentials.from_secret(self.secret, props.master_username),
            publicly_accessible=False,
            storage_encrypted=True,
            storage_encryption_key=props.encryption_key,
            iam_authentication=props.iam_authentication,
            monitoring_interval=Duration.seconds(60),
            storage_type=rds.StorageType.GP3,
            allocated_storage=props.allocated_storage_gib,
            max_allocated_storage=props.max_allocated_storage_gib,
            multi_az=props.multi_az,
            backup_retention=Duration.days(props.backup_retention_days),
            deletion_protection=props.deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=False,
            copy_tags_to_snapshot=True,
        )
        self._acknowledge(props)
        self.alarms: dict[str, cw.Alarm] = self._alarms(props) if props.alarms else {}
        """The database's alarms by name (empty when `alarms` is off), without actions."""
        assert self.instance.secret is not None
        self.attached_secret: secretsmanager.ISecret = self.instance.secret
        """The master secret as attached to the instance (host, port, engine added by RDS), for
        administrators; never a service's credentials (see `DatabaseUsers`)."""

    @property
    def connections(self) -> ec2.Connections:
        """The database's security group, with MySQL's port as default port: nothing is allowed
        in until a client is, e.g. `database.connections.allow_default_port_from(service)`."""
        return self.instance.connections

    @property
    def available(self) -> IDependable:
        """The instance: a client that logs in at deployment waits for it."""
        return self.instance

    def grant_connect(self, grantee: iam.IGrantable, db_user: str) -> iam.Grant:
        """Let `grantee` log in as the MySQL user `db_user` with IAM database authentication
        (`rds-db:connect` on that user's `dbuser` ARN only; the user must be created with
        the AWSAuthenticationPlugin).

        Needs `iam_authentication=True`: like aws-cdk-lib's `DatabaseInstance.grant_connect`
        when IAM authentication was explicitly disabled, it refuses rather than switching it
        on, since that is a reviewed choice of the props. `db_user` is required and never the
        master user: a client gets a user of its own."""
        problems = []
        if not self.iam_authentication:
            problems.append(Problem(
                "iam_authentication", False, "True, for grant_connect",
                "set iam_authentication=True in MySqlDatabaseProps, then create the user with "
                "the AWSAuthenticationPlugin",
            ))
        if not isinstance(db_user, str) or not db_user:
            problems.append(Problem("db_user", db_user, "a MySQL user name",
                                    "name the user the grantee logs in as"))
        elif db_user == self.master_username:
            problems.append(Problem(
                "db_user", db_user, "a user other than the master user",
                "give the client a user of its own (the master credentials stay with the "
                "administrator)",
            ))
        if problems:
            raise PropsValidationError("MySqlDatabase", self.node.id, problems)
        return self.instance.grant_connect(grantee, db_user)

    def _metric(self, name: str, statistic: str, period: Duration | None,
                label: str | None) -> cw.Metric:
        dims = {"DBInstanceIdentifier": self.instance.instance_identifier}
        return metric("AWS/RDS", name, dims, statistic, period=period, label=label)

    def metric_cpu_utilization(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """CPU utilization in % (CPUUtilization, 1-minute)."""
        return self._metric("CPUUtilization", statistic, period, label)

    def metric_free_storage_space(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Free storage in bytes (FreeStorageSpace, 1-minute)."""
        return self._metric("FreeStorageSpace", statistic, period, label)

    def metric_freeable_memory(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """Freeable memory in bytes (FreeableMemory, 1-minute)."""
        return self._metric("FreeableMemory", statistic, period, label)

    def metric_database_connections(self, *, statistic: str = "Average",
                                    period: Duration | None = None,
                                    label: str | None = None) -> cw.Metric:
        """Open connections (DatabaseConnections, 1-minute)."""
        return self._metric("DatabaseConnections", statistic, period, label)

    def _alarms(self, props: MySqlDatabaseProps) -> dict[str, cw.Alarm]:
        scope = Construct(self, "Alarms")
        minutes = props.alarm_minutes
        checks = (
            ("Cpu", self.metric_cpu_utilization(), props.alarm_cpu_percent, ABOVE,
             f"CPU above {props.alarm_cpu_percent} %"),
            ("FreeStorage", self.metric_free_storage_space(),
             props.alarm_free_storage_gib * 1024**3, BELOW,
             f"free storage below {props.alarm_free_storage_gib} GiB"),
            ("FreeableMemory", self.metric_freeable_memory(),
             props.alarm_freeable_memory_mib * 1024**2, BELOW,
             f"freeable memory below {props.alarm_freeable_memory_mib} MiB"),
            ("Connections", self.metric_database_connections(), props.alarm_connections, ABOVE,
             f"more than {props.alarm_connections} connections"),
        )
        return {
            key: alarm(
                scope, key, metric=found, threshold=threshold, comparison=comparison,
                minutes=minutes, description=f"MySQL database: {what} for {minutes} min",
            )
            for key, found, threshold, comparison, what in checks
        }

    def _acknowledge(self, props: MySqlDatabaseProps) -> None:
        acknowledge.nag(
            self.instance, "AwsSolutions-RDS11",
            "MySQL's standard port 3306 is what MySQL clients expect; nothing can reach it "
            "until a client is allowed in (`connections`)",
        )
        acknowledge.nag(
            self.secret, "AwsSolutions-SMG4",
            "the master credentials are read only by whoever administers the database (e.g. "
            "the DatabaseUsers provisioner, during deployments; no task gets them); rotating "
            "them is left to the operator",
        )
        monitoring_role = self.instance.node.find_child("MonitoringRole")
        acknowledge.nag(
            monitoring_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonRDSEnhancedMonitoringRole]",
            "the AWS-maintained policy RDS enhanced monitoring requires",
        )
        if not props.multi_az:
            reason = ("single instance by default (a standby doubles the cost); set multi_az "
                      "for production")
            acknowledge.nag(self.instance, "AwsSolutions-RDS3", reason)
            acknowledge.checkov(self.instance, "CKV_AWS_157", reason)
        if not props.iam_authentication:
            acknowledge.checkov(
                self.instance, "CKV_AWS_161",
                "IAM database authentication is off because nothing uses it: the database users "
                "log in with passwords kept in Secrets Manager; set iam_authentication to create "
                "users that log in with IAM (then grant_connect their clients)",
            )
        if not props.deletion_protection:
            acknowledge.nag(
                self.instance, "AwsSolutions-RDS10",
                "deletion protection switched off on purpose by the caller (deletion_protection); "
                "the instance is still snapshotted on delete",
            )
        if props.encryption_key is None:
            acknowledge.checkov(
                self.secret, "CKV_AWS_149",
                "encrypted with the AWS-managed key aws/secretsmanager; pass encryption_key for "
                "a customer managed key",
            )

    def allow_from(self, peer: ec2.IConnectable, description: str) -> None:
        """Let `peer` (e.g. the container cluster) reach MySQL on 3306, and nothing else."""
        self.instance.connections.allow_default_port_from(peer, description)

    @property
    def hostname(self) -> str:
        """Endpoint address (a deploy-time token)."""
        return self.instance.db_instance_endpoint_address

    def container_environment(self, database_name: str) -> dict[str, str]:
        """Plain settings for a container: where the database is, never credentials. A service
        gets a MySQL user of its own, limited to its schema, from `DatabaseUsers`
        (`container_secrets(service)`); the master credentials are never a service's."""
        return {"DB_HOST": self.hostname, "DB_PORT": str(MYSQL_PORT), "DB_NAME": database_name}
