"""DatabaseUsers as CloudFormation: secrets, network, IAM, dependencies, validation and gates.

Two stacks of our own, each synthesized once with the gates registered: the platform's shape (a
VPC, a MySqlDatabase, a customer managed key) and an existing database brought into an existing
VPC, with rotation on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from ecs_playground.database import ExistingMySqlDatabase, MySqlDatabase, MySqlDatabaseProps
from ecs_playground.database_users import DatabaseUsers, DatabaseUsersProps
from ecs_playground.validation import PropsValidationError
from tests.conftest import Gated, synth_gated
from tests.factories import existing_vpc, new_stack
from tests.services.service_harness import MySQL

SERVICES = {"location": "location", "user": "user"}
EXISTING_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:111111111111:secret:existing-admin-AbCdEf"
)
EXISTING_SG = "sg-0123456789abcdef0"


@dataclass
class Built:
    """One stack with DatabaseUsers, synthesized once with the gates."""

    gated: Gated
    template: Template
    users: DatabaseUsers
    database: MySqlDatabase | None
    key: kms.Key

    @property
    def stack(self) -> cdk.Stack:
        return self.gated.stack

    def logical_id(self, construct: Any) -> str:
        if not isinstance(construct, cdk.CfnElement):
            construct = construct.node.default_child
        return self.stack.get_logical_id(construct)

    def resource(self, construct: Any) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return dict(resources[self.logical_id(construct)])


def _vpc(stack: cdk.Stack) -> ec2.Vpc:
    vpc = ec2.Vpc(
        stack, "Vpc", max_azs=2, nat_gateways=1,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC),
            ec2.SubnetConfiguration(name="Private",
                                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ],
    )
    vpc.add_flow_log("FlowLog")
    return vpc


def _key(stack: cdk.Stack) -> kms.Key:
    return kms.Key(stack, "Key", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.RETAIN)


def platform_stack() -> tuple[cdk.Stack, DatabaseUsers, MySqlDatabase, kms.Key]:
    """The platform's shape: a new VPC, a MySqlDatabase and a customer managed key."""
    stack = new_stack("Users")
    vpc, key = _vpc(stack), _key(stack)
    database = MySqlDatabase(stack, "Database", MySqlDatabaseProps(vpc=vpc, encryption_key=key))
    users = DatabaseUsers(stack, "DatabaseUsers", DatabaseUsersProps(
        database=database, services=SERVICES, encryption_key=key,
    ))
    return stack, users, database, key


def existing_database_stack() -> tuple[cdk.Stack, DatabaseUsers, kms.Key]:
    """An app that already has its database: endpoint, admin secret and security group by ID."""
    stack = new_stack("ExistingDatabase")
    key = _key(stack)
    users = DatabaseUsers(stack, "DatabaseUsers", DatabaseUsersProps(
        database=ExistingMySqlDatabase(
            vpc=existing_vpc(stack),
            secret=secretsmanager.Secret.from_secret_complete_arn(
                stack, "AdminSecret", EXISTING_SECRET_ARN),
            hostname="orders.cluster-abc.eu-west-1.rds.amazonaws.com",
            security_groups=[
                ec2.SecurityGroup.from_security_group_id(stack, "DatabaseSg", EXISTING_SG)],
            port=3307,
        ),
        services={"orders": "orders_db"}, encryption_key=key,
        rotation=cdk.Duration.days(30), drop_schemas_on_delete=True,
        adopt_existing_schemas=True,
    ))
    return stack, users, key


@pytest.fixture(scope="module")
def platform() -> Built:
    stack, users, database, key = platform_stack()
    gated = synth_gated("database_users", stack)
    return Built(gated, template_of(gated), users, database, key)


@pytest.fixture(scope="module")
def existing() -> Built:
    stack, users, key = existing_database_stack()
    gated = synth_gated("database_users_existing", stack)
    return Built(gated, template_of(gated), users, None, key)


def template_of(gated: Gated) -> Template:
    """The template the gated synth wrote: a finding fails the gate test only, not every test
    (Template.from_stack would synthesize again and fail on the same finding)."""
    (path,) = gated.templates
    return Template.from_json(json.loads(path.read_text()))


def policy_statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to a role."""
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- secrets


def test_one_retained_kms_encrypted_secret_per_service(platform: Built) -> None:
    for service in SERVICES:
        secret = platform.resource(platform.users.secret_for(service))

        assert secret["DeletionPolicy"] == "Retain"
        assert secret["UpdateReplacePolicy"] == "Retain"
        properties = secret["Properties"]
        assert properties["KmsKeyId"] == {"Fn::GetAtt": [platform.logical_id(platform.key), "Arn"]}
        generator = properties["GenerateSecretString"]
        assert generator["GenerateStringKey"] == "password"
        template = json.dumps(generator["SecretStringTemplate"])
        assert f'\\"username\\":\\"{service}\\"' in template
        assert f'\\"dbname\\":\\"{SERVICES[service]}\\"' in template
    assert len(platform.template.find_resources("AWS::SecretsManager::Secret")) == 1 + len(SERVICES)


def test_container_secrets_come_from_the_services_own_secret(platform: Built) -> None:
    own = platform.logical_id(platform.users.secret_for("location"))
    master = platform.logical_id(platform.database.secret) if platform.database else ""

    secrets = platform.users.container_secrets("location")

    assert set(secrets) == {"DB_USER", "DB_PWD"}
    for name, field in (("DB_USER", "username"), ("DB_PWD", "password")):
        arn = json.dumps(platform.stack.resolve(secrets[name].arn))
        assert own in arn and f":{field}::" in arn and master not in arn


def test_an_unknown_service_is_a_clear_error(platform: Built) -> None:
    with pytest.raises(KeyError, match="no service 'billing'; known: \\['location', 'user'\\]"):
        platform.users.secret_for("billing")


def test_the_logical_ids_of_the_stateful_parts_are_pinned(platform: Built) -> None:
    """Renaming these replaces them: new passwords, and a replaced custom resource whose Delete
    drops the users. Changing this test is a breaking change."""
    assert {
        platform.logical_id(platform.users.secret_for("location")),
        platform.logical_id(platform.users.secret_for("user")),
        platform.logical_id(platform.users.custom_resource),
    } == {
        "DatabaseUsersSecretsLocation428BEC75",
        "DatabaseUsersSecretsUserCAA60BEC",
        "DatabaseUsers547D14AA",
    }


# ---------------------------------------------------------------- network


def test_the_provisioner_runs_in_the_private_subnets_with_its_own_security_group(
    platform: Built,
) -> None:
    function = platform.resource(platform.users.function)["Properties"]
    assert function["Runtime"] == "python3.12" and function["Handler"] == "index.handler"
    vpc_config = function["VpcConfig"]
    assert vpc_config["SecurityGroupIds"] == [
        {"Fn::GetAtt": [platform.logical_id(platform.users.security_group), "GroupId"]}
    ]
    subnets = {ref["Ref"] for ref in vpc_config["SubnetIds"]}
    assert subnets and all("VpcPrivateSubnet" in s for s in subnets)


def test_the_database_admits_the_provisioner_on_its_port_only(platform: Built) -> None:
    assert platform.database is not None
    provisioner = platform.logical_id(platform.users.security_group)
    database = platform.logical_id(platform.database.security_group)

    rules = [
        r["Properties"] for r in platform.template.find_resources(
            "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [provisioner, "GroupId"]}
    ]

    assert len(rules) == 1
    assert rules[0]["GroupId"] == {"Fn::GetAtt": [database, "GroupId"]}
    assert (rules[0]["IpProtocol"], rules[0]["FromPort"], rules[0]["ToPort"]) == ("tcp", 3306, 3306)


def test_the_provisioner_may_only_reach_the_database_and_https(platform: Built) -> None:
    assert platform.database is not None
    group = platform.resource(platform.users.security_group)["Properties"]
    egress = [
        (r["Properties"]["DestinationSecurityGroupId"], r["Properties"]["FromPort"])
        for r in platform.template.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"]
        == {"Fn::GetAtt": [platform.logical_id(platform.users.security_group), "GroupId"]}
    ]

    assert [(e["CidrIp"], e["IpProtocol"], e["FromPort"], e["ToPort"])
            for e in group["SecurityGroupEgress"]] == [("0.0.0.0/0", "tcp", 443, 443)]
    assert egress == [
        ({"Fn::GetAtt": [platform.logical_id(platform.database.security_group), "GroupId"]}, 3306)
    ]


# ---------------------------------------------------------------- IAM


def secret_readers(built: Built, secret_logical_id: str) -> set[str]:
    """Roles whose inline policies name the secret."""
    readers = set()
    for policy in built.template.find_resources("AWS::IAM::Policy").values():
        if secret_logical_id in json.dumps(policy["Properties"]["PolicyDocument"]):
            readers |= {role["Ref"] for role in policy["Properties"]["Roles"]}
    return readers


def test_only_the_provisioner_can_read_the_master_secret(platform: Built) -> None:
    assert platform.database is not None
    role = platform.users.function.role
    assert role is not None

    assert secret_readers(platform, platform.logical_id(platform.database.secret)) == {
        platform.logical_id(role)
    }


def test_the_provisioner_reads_the_master_and_service_secrets_and_nothing_else(
    platform: Built,
) -> None:
    assert platform.database is not None
    role = platform.users.function.role
    assert role is not None

    statements = policy_statements(platform.template, platform.logical_id(role))

    readable = {s["Resource"]["Ref"] for s in statements
                if "secretsmanager:GetSecretValue" in as_list(s["Action"])}
    assert readable == {
        platform.logical_id(platform.database.secret),
        *(platform.logical_id(platform.users.secret_for(s)) for s in SERVICES),
    }
    assert all(s["Resource"] != "*" for s in statements)
    assert {a for s in statements for a in as_list(s["Action"])} == {
        "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
    }


def test_the_provisioner_may_decrypt_the_service_secrets_through_secrets_manager_only(
    platform: Built,
) -> None:
    role = platform.users.function.role
    assert role is not None
    key = platform.resource(platform.key)["Properties"]["KeyPolicy"]["Statement"]

    grants = [s for s in key if s.get("Principal", {}).get("AWS") == {
        "Fn::GetAtt": [platform.logical_id(role), "Arn"]}]

    assert grants and all("kms:Decrypt" in as_list(s["Action"]) for s in grants)
    assert all("kms:ViaService" in json.dumps(s.get("Condition", {})) for s in grants)


# ---------------------------------------------------------------- the custom resource


def test_the_custom_resource_waits_for_the_database_and_its_ingress_rule(platform: Built) -> None:
    assert platform.database is not None
    resource = platform.resource(platform.users.custom_resource)
    provisioner = {"Fn::GetAtt": [platform.logical_id(platform.users.security_group), "GroupId"]}
    (ingress,) = (
        logical_id for logical_id, rule
        in platform.template.find_resources("AWS::EC2::SecurityGroupIngress").items()
        if rule["Properties"].get("SourceSecurityGroupId") == provisioner
    )

    assert resource["Type"] == "Custom::DatabaseUsers"
    assert {platform.logical_id(platform.database.instance), ingress} <= set(resource["DependsOn"])


def test_the_custom_resource_is_given_names_and_arns_never_passwords(platform: Built) -> None:
    assert platform.database is not None
    properties = platform.resource(platform.users.custom_resource)["Properties"]

    assert properties["Endpoint"] == {
        "Fn::GetAtt": [platform.logical_id(platform.database.instance), "Endpoint.Address"]}
    assert properties["Port"] == "3306"
    assert properties["MasterSecretArn"] == {"Ref": platform.logical_id(platform.database.secret)}
    assert properties["Services"] == [
        {"User": name, "Schema": schema,
         "SecretArn": {"Ref": platform.logical_id(platform.users.secret_for(name))}}
        for name, schema in SERVICES.items()
    ]
    assert properties["DropSchemas"] == "false"
    assert "password" not in json.dumps(properties).lower()


def test_by_default_existing_accounts_and_schemas_are_refused_and_adopted_ones_kept(
    platform: Built,
) -> None:
    properties = platform.resource(platform.users.custom_resource)["Properties"]

    assert (properties["AdoptExistingUsers"], properties["AdoptExistingSchemas"],
            properties["DropAdopted"]) == ("false", "false", "false")


def test_the_handler_asset_bundles_pymysql_without_bytecode(platform: Built) -> None:
    key = platform.resource(platform.users.function)["Properties"]["Code"]["S3Key"]
    asset = Path(platform.gated.outdir) / f"asset.{key.removesuffix('.zip')}"

    files = {str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file()}

    assert {"index.py", "pymysql/__init__.py", "pymysql/connections.py"} <= files
    assert any(f.endswith(".dist-info/LICENSE") for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_the_bundled_handler_runs_on_its_own_against_mysql(
    platform: Built, mysql: MySQL
) -> None:
    """What Lambda runs: the asset alone (no site-packages, no ecs_playground) imports and
    connects with its bundled PyMySQL."""
    key = platform.resource(platform.users.function)["Properties"]["Code"]["S3Key"]
    asset = Path(platform.gated.outdir) / f"asset.{key.removesuffix('.zip')}"
    script = (
        "import sys, index, pymysql\n"
        "assert pymysql.__file__.startswith(sys.argv[1]), pymysql.__file__\n"
        "conn = index.connect_mysql(index.Endpoint(sys.argv[2], int(sys.argv[3])),\n"
        "                           index.Credentials(sys.argv[4], sys.argv[5]))\n"
        "print(index.Session(conn).run('SELECT 1 + 1')[0][0])\n"
    )

    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(asset), mysql.host, str(mysql.port),
         mysql.user, mysql.password],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(asset)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_the_handler_asset_hash_is_stable_across_synths(platform: Built) -> None:
    again = Template.from_stack(platform_stack()[0])
    code = platform.logical_id(platform.users.function)

    first = platform.template.to_json()["Resources"][code]["Properties"]["Code"]["S3Key"]
    assert again.to_json()["Resources"][code]["Properties"]["Code"]["S3Key"] == first


# ---------------------------------------------------------------- an existing database, rotation


def test_an_existing_database_gets_the_same_provisioner(existing: Built) -> None:
    properties = existing.resource(existing.users.custom_resource)["Properties"]

    assert properties["Endpoint"] == "orders.cluster-abc.eu-west-1.rds.amazonaws.com"
    assert properties["MasterSecretArn"] == EXISTING_SECRET_ARN
    assert properties["DropSchemas"] == "true"
    assert (properties["AdoptExistingSchemas"], properties["AdoptExistingUsers"],
            properties["DropAdopted"]) == ("true", "false", "false")
    assert properties["Port"] == "3307"
    existing.template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "GroupId": EXISTING_SG, "FromPort": 3307, "ToPort": 3307,
        "SourceSecurityGroupId": {
            "Fn::GetAtt": [existing.logical_id(existing.users.security_group), "GroupId"]},
    })


def test_rotation_is_hosted_single_user_in_the_vpc_after_the_users_exist(existing: Built) -> None:
    schedule = existing.resource(existing.users.rotation_schedules["orders"])
    hosted = schedule["Properties"]["HostedRotationLambda"]

    assert hosted["RotationType"] == "MySQLSingleUser"
    assert hosted["VpcSecurityGroupIds"] == {
        "Fn::GetAtt": [existing.logical_id(existing.users.security_group), "GroupId"]}
    assert hosted["KmsKeyArn"] == {"Fn::GetAtt": [existing.logical_id(existing.key), "Arn"]}
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is False
    assert schedule["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    assert existing.logical_id(existing.users.custom_resource) in schedule["DependsOn"]


def test_without_rotation_there_is_no_schedule(platform: Built) -> None:
    platform.template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)
    assert platform.users.rotation_schedules == {}


# ---------------------------------------------------------------- gates


@pytest.fixture(params=["platform", "existing"])
def any_built(request: pytest.FixtureRequest) -> Iterator[Built]:
    yield request.getfixturevalue(request.param)


def test_cdk_nag_and_our_rules_have_no_unacknowledged_finding(any_built: Built) -> None:
    assert any_built.gated.error is None, any_built.gated.error
    assert any_built.gated.findings("AwsSolutions") == set()
    assert any_built.gated.findings("EcsPlayground") == set()


# ---------------------------------------------------------------- props validation


def _props(stack: cdk.Stack, *, vpc: ec2.IVpc | None = None, port: Any = 3306,
           hostname: str = "db.example.internal", **overrides: Any) -> DatabaseUsersProps:
    database = ExistingMySqlDatabase(
        vpc=vpc or existing_vpc(stack),
        secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Admin", EXISTING_SECRET_ARN),
        hostname=hostname,
        security_groups=[ec2.SecurityGroup.from_security_group_id(stack, "Sg", EXISTING_SG)],
        port=port,
    )
    values: dict[str, Any] = {"database": database, "services": SERVICES, **overrides}
    return DatabaseUsersProps(**values)


def test_every_invalid_prop_is_reported_at_once_before_any_child_is_created() -> None:
    stack = new_stack("Invalid")
    props = _props(
        stack,
        services={"Location": "location", "user": "mysql", "order-api": "orders",
                  "orders": "ORDERS", "a1": "a1", "a-1": "b1", "x" * 33: "x"},
        port=0, hostname="", rotation=cdk.Duration.hours(1),
    )

    with pytest.raises(PropsValidationError) as caught:
        DatabaseUsers(stack, "Users", props)

    problems = {(p.prop, str(p.value)) for p in caught.value.problems}
    assert problems == {
        ("services (service)", "Location"),
        ("services (schema of service 'user')", "mysql"),
        ("services (schema of service 'orders')", "ORDERS"),
        ("services (service)", "x" * 33),
        ("services", "a-1"),
        ("database.port", "0"),
        ("database.hostname", ""),
        ("rotation", "1 hour"),
    }
    assert "DatabaseUsers 'Users': 8 invalid prop(s)" in str(caught.value)
    assert stack.node.try_find_child("Users") is None


def test_no_services_is_invalid() -> None:
    stack = new_stack("Empty")

    with pytest.raises(PropsValidationError, match="at least one service"):
        DatabaseUsers(stack, "Users", _props(stack, services={}))


@pytest.mark.parametrize("service,schema", [
    ("ok", "a`b"), ("ok", "a%"), ("a'b", "ok"), ("root", "ok"), ("ok", "information_schema"),
])
def test_names_the_handler_would_reject_fail_the_synth(service: str, schema: str) -> None:
    stack = new_stack("Hostile")

    with pytest.raises(PropsValidationError):
        DatabaseUsers(stack, "Users", _props(stack, services={service: schema}))


def test_a_wrongly_typed_prop_is_named_before_anything_else() -> None:
    stack = new_stack("Typed")

    with pytest.raises(PropsValidationError) as caught:
        DatabaseUsers(stack, "Users", _props(stack, drop_schemas_on_delete="yes",
                                             adopt_existing_users="yes"))

    assert {p.prop for p in caught.value.problems} == {
        "drop_schemas_on_delete", "adopt_existing_users"}
    assert "write True or False, not a string" in str(caught.value)


def test_a_vpc_without_private_subnets_with_egress_is_refused_clearly() -> None:
    stack = new_stack("Isolated")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
    ])

    with pytest.raises(PropsValidationError, match="a VPC with private with egress subnets"):
        DatabaseUsers(stack, "Users", _props(stack, vpc=vpc))
