"""The props of `MySqlDatabase` and their checks: what a MySQL database needs, validated before
anything is created."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms

from .alarms import alarms_switch, threshold
from .database_reference import MYSQL_PORT
from .props import doc, documented, setting
from .validation import Checker, known, subnet_problems, validator

__all__ = ["MYSQL_PORT", "MySqlDatabaseProps"]

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
