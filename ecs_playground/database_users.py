"""One MySQL user per service: its own generated secret, privileges on its own schema only.

A Lambda-backed custom resource (`database_users_handler/index.py`) runs in the VPC, reads the
master secret (nothing else can) and creates, per service, the schema and a user named after the
service, with the password from that service's own secret. Tasks then get `DB_USER`/`DB_PWD` from
their own secret (`container_secrets`), never the master's.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, overload

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    CustomResource,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
    Tokenization,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from . import acknowledge
from .database import PASSWORD_EXCLUDED_CHARACTERS, IMySqlDatabase
from .database_users_handler import index as handler
from .keywords import keywords_of, props_or_keywords
from .props import doc, documented, setting
from .validation import (
    TYPE_FIX,
    Checker,
    is_token,
    subnet_problems,
    validator,
)

HANDLER_DIR = Path(__file__).resolve().parent / "database_users_handler"
RESOURCE_TYPE = "Custom::DatabaseUsers"
ROTATION_MIN_HOURS = 4
ROTATION_MAX_DAYS = 1000
_BUNDLE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


@documented
@dataclass(frozen=True, kw_only=True)
class DatabaseUsersProps:
    """Where the database is, who may administer it, and which services get a user."""

    database: IMySqlDatabase = field(metadata={**doc(
        "The database, in one value: a `MySqlDatabase`, or `ExistingMySqlDatabase(vpc=..., "
        "hostname=..., secret=..., security_groups=[...])` for one this app did not create. "
        "The provisioner (and the rotation functions) run in its VPC; only the provisioner may "
        "read its admin secret; its port is opened on each of its security groups from the "
        "provisioner's security group only; the users are created once it is available."),
        TYPE_FIX: "pass the MySqlDatabase itself (not its instance), or "
                  "ExistingMySqlDatabase(...) for a database this app did not create"})
    services: Mapping[str, str] = field(metadata=doc(
        "Service name -> schema name, e.g. {'location': 'location'}. The service's MySQL user "
        "has the service's name; each service needs a schema of its own."))
    encryption_key: kms.IKey | None = field(default=None, metadata=doc(
        "Customer managed key for the service secrets and the provisioner's log groups; its "
        "policy must let CloudWatch Logs use it. Default: the "
        "AWS-managed keys (aws/secretsmanager; CloudWatch Logs' own encryption)."))
    drop_schemas_on_delete: bool = field(default=False, metadata=setting(
        "Deleting the custom resource (or the stack) drops the users; True also drops the "
        "schemas and all their data. Only what the provisioner created is dropped (see "
        "`drop_adopted_on_delete`). Default: schemas and data are kept."))
    adopt_existing_users: bool = field(default=False, metadata=setting(
        "An account named like a service that exists on the server but was not created by "
        "this provisioner (a DBA's account, one made by hand or by an older version) fails the "
        "deployment with an error naming it, and nothing is changed. True takes such accounts "
        "over: the password becomes the service secret's and the privileges exactly the "
        "service's (everything else revoked). Accounts of another stack's provisioner are "
        "never taken over. Default: refused."))
    adopt_existing_schemas: bool = field(default=False, metadata=setting(
        "A service's schema that exists but was not created by this provisioner (a database "
        "brought along, with its data) fails the deployment with an error naming it. True "
        "grants it, data included, to the service. Default: refused."))
    drop_adopted_on_delete: bool = field(default=False, metadata=setting(
        "Deleting the custom resource (or removing a service) leaves adopted accounts and "
        "schemas in place, with the password and grants the service had, and forgets them. "
        "True drops adopted accounts too, and adopted schemas when `drop_schemas_on_delete` is "
        "True as well. Default: adopted ones are kept."))
    rotation: Duration | None = field(default=None, metadata=doc(
        "Rotate each service secret on this schedule (Secrets Manager's hosted single-user "
        "MySQL rotation, in the VPC; 4 hours to 1000 days). Running tasks keep the password "
        "they started with, so pair it with replacing the tasks. Default: no rotation."))
    subnets: ec2.SubnetSelection | None = field(default=None, metadata=doc(
        "Where the provisioner and the rotation functions run; they need a route to the "
        "Secrets Manager API. Default: the VPC's private subnets with egress (through the NAT "
        "gateway)."))

    MOVED_FIELDS: ClassVar[Mapping[str, str]] = {
        old: f"{what} now comes from `database`: pass database=the MySqlDatabase, or "
        "database=ExistingMySqlDatabase(vpc=..., hostname=..., secret=..., security_groups=[...])"
        for old, what in (("vpc", "the VPC"), ("master_secret", "the admin secret"),
                          ("endpoint_address", "the address"), ("port", "the port"))
    }
    """Keywords of the former props (three loose values that had to describe one database)."""

    @validator
    def validate(self, check: Checker) -> None:
        known = [(name, schema) for name, schema in self.services.items()
                 if not is_token(name) and not is_token(schema)]
        if known or not self.services:  # all names being tokens leaves nothing to check
            for problem in handler.name_problems(known):
                check.add(f"services ({problem.field})", problem.value, problem.allowed,
                          problem.fix)
        ids: dict[str, str] = {}
        for name, _ in known:
            other = ids.setdefault(_construct_id(name), name)
            if other != name:
                check.add(
                    "services", name, f"names that differ in more than '-' (as {other!r} does)",
                    "rename one: both would get the construct ID " + repr(_construct_id(name)),
                )
        database = self.database
        check.port("database.port", database.port)
        if not is_token(database.hostname) and not database.hostname:
            check.add("database.hostname", database.hostname, "the database's address",
                      "give the existing database's endpoint address")
        if self.rotation is not None and not self.rotation.is_unresolved():
            hours = self.rotation.to_hours(integral=False)
            in_range = ROTATION_MIN_HOURS <= hours <= ROTATION_MAX_DAYS * 24
            if not (in_range and float(hours).is_integer()):
                check.add(
                    "rotation", self.rotation.to_human_string(),
                    f"whole hours from {ROTATION_MIN_HOURS} hours to {ROTATION_MAX_DAYS} days "
                    "(Secrets Manager's rotation limits)",
                    "e.g. Duration.days(30), or None for no rotation",
                )
        if self.subnets is None:
            check.problems += subnet_problems(
                "database.vpc", database.vpc, [ec2.SubnetType.PRIVATE_WITH_EGRESS],
                "give subnets=ec2.SubnetSelection(...) with a route to the Secrets Manager API "
                "(NAT gateway or VPC endpoint)",
            )

    def placement(self) -> ec2.SubnetSelection:
        """Where the provisioner and the rotation functions run."""
        return self.subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        )


def _flag(value: bool) -> str:
    """A boolean as the custom resource receives it (CloudFormation sends scalars as strings)."""
    return "true" if value else "false"


def _construct_id(name: str) -> str:
    """'location' -> 'Location', 'order-api' -> 'OrderApi'."""
    return "".join(part.title() for part in name.split("-"))


@jsii.implements(ILocalBundling)
class _HandlerBundle:
    """Bundles the handler without Docker: this folder plus the PyMySQL package (pure Python)
    installed in the environment that runs the synth, without bytecode caches, so the output,
    and with it the asset hash, depends only on the sources."""

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        # Found, not imported: importing PyMySQL (and the cryptography parts it loads) would
        # only cost the synth time; the files are what is bundled.
        spec = importlib.util.find_spec("pymysql")
        if spec is None or spec.origin is None:
            raise RuntimeError(
                "DatabaseUsers bundles PyMySQL from the environment that runs the synth, and "
                "it is not installed there: pip install PyMySQL"
            )
        out = Path(output_dir)
        shutil.copytree(HANDLER_DIR, out, dirs_exist_ok=True, ignore=_BUNDLE_IGNORE)
        shutil.copytree(Path(spec.origin).parent, out / "pymysql", ignore=_BUNDLE_IGNORE)
        distribution = importlib.metadata.distribution("PyMySQL")
        meta = out / f"pymysql-{distribution.version}.dist-info"
        meta.mkdir()
        for file in distribution.files or []:
            if file.name in ("METADATA", "LICENSE") and ".dist-info" in str(file):
                (meta / file.name).write_bytes(Path(str(file.locate())).read_bytes())
        return True


def handler_code() -> lambda_.Code:
    """The handler's code asset, bundled locally (see `_HandlerBundle`); hashed by its output,
    so a PyMySQL upgrade in the synth environment changes the asset too."""
    return lambda_.Code.from_asset(
        str(HANDLER_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Required by the API, never pulled: the local bundler always bundles (or fails).
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            local=_HandlerBundle(),  # type: ignore[arg-type]
        ),
    )


class DatabaseUsers(Construct):
    """One MySQL user per service, limited to its own schema, each with its own generated secret
    (encrypted, retained). A custom resource keeps the users, passwords and grants in step with
    the secrets on every deployment; see `database_users_handler/index.py` for the lifecycle.
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: DatabaseUsersProps) -> None: ...
    @overload
    @keywords_of(DatabaseUsersProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(DatabaseUsersProps)
    def __init__(self, scope: Construct, id: str, props: DatabaseUsersProps) -> None:
        super().__init__(scope, id)
        subnets = props.placement()
        database = props.database
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=database.vpc, allow_all_outbound=False,
            description="Database users provisioner: MySQL to the database, HTTPS to Secrets "
            "Manager",
        )
        """The provisioner's (and rotation functions') security group."""
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
            "Secrets Manager API (through the NAT gateway or a VPC endpoint)",
        )
        # Opened from the provisioner's side: when the database lives in another stack, both
        # rules are then created in this one (this stack depends on the database's, never the
        # reverse); in one stack the rules are the same as `database.allow_from(...)`'s.
        self.security_group.connections.allow_to(
            database.connections, ec2.Port.tcp(database.port),
            "MySQL from the database users provisioner",
        )
        self._secrets = self._service_secrets(props)
        self._secret_arns = {name: secret.secret_arn for name, secret in self._secrets.items()}
        self.function = lambda_.Function(
            self, "Function",
            description="Creates each service's MySQL user, limited to its own schema",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=handler_code(),
            timeout=Duration.minutes(2),
            memory_size=256,
            vpc=database.vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            log_group=self._log_group("FunctionLogs", props),
        )
        """The provisioner Lambda (in the VPC)."""
        database.secret.grant_read(self.function)
        for secret in self._secrets.values():
            secret.grant_read(self.function)
        self.provider = cr.Provider(
            self, "Provider", on_event_handler=self.function,
            log_group=self._log_group("ProviderLogs", props),
        )
        """aws-cdk-lib's custom resource framework in front of the function."""
        self.custom_resource = CustomResource(
            self, "Users",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                "Endpoint": database.hostname,
                "Port": Tokenization.stringify_number(database.port),
                "MasterSecretArn": database.secret.secret_arn,
                "Services": [
                    {"User": name, "Schema": schema, "SecretArn": self._secret_arns[name]}
                    for name, schema in props.services.items()
                ],
                "DropSchemas": _flag(props.drop_schemas_on_delete),
                "AdoptExistingUsers": _flag(props.adopt_existing_users),
                "AdoptExistingSchemas": _flag(props.adopt_existing_schemas),
                "DropAdopted": _flag(props.drop_adopted_on_delete),
            },
        )
        """The users themselves: services that connect with them should depend on it."""
        # Runs only once the database is available and admits the provisioner.
        self.custom_resource.node.add_dependency(database.available)
        for group in database.connections.security_groups:
            self.custom_resource.node.add_dependency(group)
        self.rotation_schedules: dict[str, secretsmanager.RotationSchedule] = {}
        """Per service, its secret's rotation schedule (empty without `rotation`)."""
        if props.rotation is not None:
            self._rotate(props, props.rotation, subnets)
        self._acknowledge(props)

    def _function_cfn(self) -> lambda_.CfnFunction:
        resource = self.function.node.default_child
        assert isinstance(resource, lambda_.CfnFunction)
        return resource

    # ---------------------------------------------------------------- public

    def secret_for(self, service: str) -> secretsmanager.ISecret:
        """The service's own secret (`username`, `password`, `host`, `port`, `dbname`)."""
        try:
            return self._secrets[service]
        except KeyError:
            raise KeyError(
                f"DatabaseUsers has no service {service!r}; known: {sorted(self._secrets)}"
            ) from None

    def container_secrets(self, service: str) -> dict[str, ecs.Secret]:
        """`DB_USER`/`DB_PWD` from the service's own secret, injected by ECS at task start (the
        task's execution role gets read access to this secret only)."""
        secret = self.secret_for(service)
        return {
            "DB_USER": ecs.Secret.from_secrets_manager(secret, "username"),
            "DB_PWD": ecs.Secret.from_secrets_manager(secret, "password"),
        }

    def container_environment(self, service: str) -> dict[str, str]:
        """`DB_SECRET_ARN`: the service's own secret, which a task re-reads when MySQL refuses the
        password ECS injected at start (after a rotation). An ARN, not a credential; the task role
        must be allowed to read it (`grant_rotation_pickup`)."""
        self.secret_for(service)  # a KeyError naming the known services
        return {"DB_SECRET_ARN": self._secret_arns[service]}

    def grant_rotation_pickup(self, service: str, task_role: iam.IGrantable) -> None:
        """Let a service's task role read its own secret (`GetSecretValue`, and `kms:Decrypt`
        through the secrets' key), so running tasks pick up a rotated password themselves."""
        self.secret_for(service).grant_read(task_role)

    # ---------------------------------------------------------------- parts

    def _service_secrets(self, props: DatabaseUsersProps) -> dict[str, secretsmanager.Secret]:
        scope = Construct(self, "Secrets")
        stack = Stack.of(self)
        secrets = {}
        for name, schema in props.services.items():
            secrets[name] = secretsmanager.Secret(
                scope, _construct_id(name),
                description=f"MySQL credentials of service {name} (its own user, schema "
                f"{schema} only)",
                encryption_key=props.encryption_key,
                removal_policy=RemovalPolicy.RETAIN,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    # The fields Secrets Manager's MySQL rotation needs, as on an RDS secret.
                    secret_string_template=stack.to_json_string({
                        "engine": "mysql", "host": props.database.hostname,
                        "port": props.database.port,
                        "username": name, "dbname": schema,
                    }),
                    generate_string_key="password",
                    exclude_characters=PASSWORD_EXCLUDED_CHARACTERS,
                    password_length=32,
                ),
            )
        return secrets

    def _log_group(self, id: str, props: DatabaseUsersProps) -> logs.LogGroup:
        return logs.LogGroup(
            self, id,
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=props.encryption_key,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _rotate(
        self, props: DatabaseUsersProps, every: Duration, subnets: ec2.SubnetSelection
    ) -> None:
        for name, secret in self._secrets.items():
            schedule = secret.add_rotation_schedule(
                "Rotation",
                automatically_after=every,
                hosted_rotation=secretsmanager.HostedRotation.mysql_single_user(
                    vpc=props.database.vpc, vpc_subnets=subnets,
                    security_groups=[self.security_group],
                    exclude_characters=PASSWORD_EXCLUDED_CHARACTERS,
                ),
                # The first rotation waits for the schedule: rotating at creation would change
                # the password under tasks that are starting with the generated one.
                rotate_immediately_on_update=False,
            )
            # The rotation logs in as the service's user: it must exist first.
            schedule.node.add_dependency(self.custom_resource)
            self.rotation_schedules[name] = schedule

    def _acknowledge(self, props: DatabaseUsersProps) -> None:
        if props.rotation is None:
            for secret in self._secrets.values():
                acknowledge.nag(
                    secret, "AwsSolutions-SMG4",
                    "rotation is opt-in (DatabaseUsersProps.rotation): services that read "
                    "DB_SECRET_ARN re-read a rotated password when MySQL refuses the old one, so "
                    "turning it on needs no redeploy; images that ignore DB_SECRET_ARN need "
                    "their tasks replaced after each rotation",
                )
        if props.encryption_key is None:
            for secret in self._secrets.values():
                acknowledge.checkov(
                    secret, "CKV_AWS_149",
                    "encrypted with the AWS-managed key aws/secretsmanager (no encryption_key "
                    "given); pass encryption_key for a customer managed key",
                )
            for log_group in (c for c in self.node.children if isinstance(c, logs.LogGroup)):
                acknowledge.checkov(
                    log_group, "CKV_AWS_158",
                    "encrypted by CloudWatch Logs with its own key (no encryption_key given); "
                    "pass encryption_key for a customer managed key",
                )
        role = self.function.role
        assert role is not None
        acknowledge.nags(role, {
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            f"{policy}]": f"the AWS-maintained policy a Lambda function needs to {why}"
            for policy, why in (
                ("AWSLambdaBasicExecutionRole", "write its own logs"),
                ("AWSLambdaVPCAccessExecutionRole", "create and remove its ENIs in the VPC"),
            )
        })
        acknowledge.nag(
            self.function, "AwsSolutions-L1",
            "Python 3.12 is pinned on purpose (in Lambda standard support): the handler and its "
            "bundled PyMySQL move to a newer runtime as a reviewed change, not as a side effect "
            "of a CDK upgrade",
        )
        acknowledge.checkovs(self.function, {
            "CKV_AWS_116":
            "invoked synchronously by the custom resource framework, which reports every failure "
            "to CloudFormation; a dead-letter queue only receives failed asynchronous events",
            "CKV_AWS_115":
            "runs once per deployment; reserving concurrency would take it from the account's "
            "unreserved pool, which small accounts cannot spare (the deployment would fail)",
        })
        acknowledge.cfn_lint(
            self.function, "W3005",
            "aws-cdk-lib writes both DependsOn and a GetAtt on a function's role; the duplicate "
            "is harmless",
        )
        acknowledge.cfn_lint(
            self.custom_resource, "W3005",
            "the explicit dependency on the database stays even where the endpoint's GetAtt "
            "implies it: with an existing database's endpoint as a plain string, it is the only "
            "thing that makes the users wait for the database",
        )
        framework = self.provider.node.find_child("framework-onEvent")
        framework_reason = (
            "aws-cdk-lib's custom resource framework function: it only relays CloudFormation's "
            "events to the provisioner (which runs in the VPC) and needs no network access to "
            "the database"
        )
        acknowledge.checkovs(framework, {
            check: framework_reason + detail for check, detail in (
                ("CKV_AWS_117", ""),
                ("CKV_AWS_116", "; CloudFormation itself records a failed event"),
                ("CKV_AWS_115", "; it runs once per deployment"),
                ("CKV_AWS_173", "; its only environment variable is the provisioner's function "
                                "ARN, not a secret"),
            )
        })
        acknowledge.cfn_lint(
            framework, "W3005",
            "aws-cdk-lib writes both DependsOn and a GetAtt on the framework function's role; "
            "the duplicate is harmless",
        )
        acknowledge.nags(framework, {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]":
            "aws-cdk-lib's custom resource framework function: the AWS-maintained policy it "
            "needs to write its own logs",
            f"AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(self._function_cfn())}"
            ".Arn>:*]":
            "aws-cdk-lib's custom resource framework may invoke any version of the provisioner "
            "function (ARN:*), and that one function only",
        })
