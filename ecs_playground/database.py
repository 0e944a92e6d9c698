"""RDS MySQL for the services: private, encrypted, backed up, credentials in Secrets Manager.

The construct lives here; its props and their checks in `database_props`, its metrics and alarms
in `database_alarms`, what an administrator needs to know of a database (`IMySqlDatabase`,
`ExistingMySqlDatabase`) in `database_reference`; all re-exported here, so `from
ecs_playground.database import MySqlDatabaseProps` keeps working.
"""

from __future__ import annotations

import functools
from typing import overload

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IDependable

from . import acknowledge
from .database_alarms import DatabaseMetrics, database_alarms
from .database_props import (
    DATABASE_SUBNET_TYPES,
    PASSWORD_EXCLUDED_CHARACTERS,
    MySqlDatabaseProps,
)
from .database_reference import MYSQL_PORT, ExistingMySqlDatabase, IMySqlDatabase
from .keywords import keywords_of, props_or_keywords
from .validation import Problem, PropsValidationError

__all__ = [
    "DATABASE_SUBNET_TYPES", "MYSQL_PORT", "PASSWORD_EXCLUDED_CHARACTERS",
    "ExistingMySqlDatabase", "IMySqlDatabase", "MySqlDatabase", "MySqlDatabaseProps",
]


@jsii.implements(ec2.IConnectable)
class MySqlDatabase(DatabaseMetrics, Construct):
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
        self.alarms: dict[str, cw.Alarm] = database_alarms(
            Construct(self, "Alarms"), self, props) if props.alarms else {}
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

    @functools.cached_property
    def hostname(self) -> str:
        """Endpoint address (a deploy-time token), read from CDK once: every service's
        environment and secret template carry it."""
        return self.instance.db_instance_endpoint_address

    def container_environment(self, database_name: str) -> dict[str, str]:
        """Plain settings for a container: where the database is, never credentials. A service
        gets a MySQL user of its own, limited to its schema, from `DatabaseUsers`
        (`container_secrets(service)`); the master credentials are never a service's."""
        return {"DB_HOST": self.hostname, "DB_PORT": str(MYSQL_PORT), "DB_NAME": database_name}
