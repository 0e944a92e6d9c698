"""Every library default that matters for safety, named: what the props default to, and what the
template of an importer's app that sets nothing holds because of it. Changing one of these
defaults is a decision, and one of these tests says which."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from ecs_playground import (
    ClassicLoadBalancedServiceProps,
    ContainerClusterProps,
    DatabaseUsersProps,
    MySqlDatabaseProps,
)

from .importer import Shop, shop


@pytest.fixture(scope="module")
def built() -> Shop:
    """The importer's app with every default (built once for this module)."""
    return shop("Defaults")


@pytest.fixture(scope="module")
def template(built: Shop) -> Template:
    return built.template()


def _default(props_class: type, name: str) -> Any:
    f = {f.name: f for f in dataclasses.fields(props_class)}[name]
    return f.default


def _only(template: Template, kind: str) -> dict[str, Any]:
    found = template.find_resources(kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    resource: dict[str, Any] = next(iter(found.values()))
    return resource


# --- the database -------------------------------------------------------------------------------


def test_database_deletion_protection_is_on_by_default(template: Template) -> None:
    assert _default(MySqlDatabaseProps, "deletion_protection") is True
    assert _only(template, "AWS::RDS::DBInstance")["Properties"]["DeletionProtection"] is True


def test_database_is_snapshotted_and_its_secret_kept_on_delete(
        built: Shop, template: Template) -> None:
    instance = _only(template, "AWS::RDS::DBInstance")
    assert (instance["DeletionPolicy"], instance["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    secret = template.to_json()["Resources"][
        built.stack.get_logical_id(built.database.secret.node.default_child)]
    assert secret["DeletionPolicy"] == "Retain"


def test_database_backups_are_kept_by_default(template: Template) -> None:
    assert _default(MySqlDatabaseProps, "backup_retention_days") == 7
    assert _only(template, "AWS::RDS::DBInstance")["Properties"]["BackupRetentionPeriod"] == 7


def test_database_is_private_and_encrypted(template: Template) -> None:
    properties = _only(template, "AWS::RDS::DBInstance")["Properties"]
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert "MasterUserPassword" in properties  # a dynamic reference to the generated secret ...
    assert "resolve:secretsmanager" in str(properties["MasterUserPassword"])  # ... never a literal


def test_database_minor_versions_change_only_on_purpose(template: Template) -> None:
    assert _only(template, "AWS::RDS::DBInstance")["Properties"]["AutoMinorVersionUpgrade"] \
        is False


def test_database_admits_no_one_until_allowed(built: Shop) -> None:
    # a database alone: its security group has no inbound rule and no outbound one
    bare = shop("Bare")
    rules = bare.template().find_resources("AWS::EC2::SecurityGroupIngress", {"Properties": {
        "Description": Match.string_like_regexp("web service")}})
    assert len(rules) == 1  # only the one the importer asked for
    group = _only_group(bare, bare.database.security_group)
    assert group["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"


def _only_group(shop: Shop, group: Any) -> dict[str, Any]:
    resource: dict[str, Any] = shop.template().to_json()["Resources"][
        shop.stack.get_logical_id(group.node.default_child)]
    return resource


def test_iam_database_authentication_is_off_by_default(template: Template) -> None:
    assert _default(MySqlDatabaseProps, "iam_authentication") is False
    assert _only(template, "AWS::RDS::DBInstance")["Properties"].get(
        "EnableIAMDatabaseAuthentication") in (None, False)


# --- the database users -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["drop_schemas_on_delete", "adopt_existing_users",
                                  "adopt_existing_schemas", "drop_adopted_on_delete"])
def test_database_users_keep_data_and_take_nothing_over_by_default(
        name: str, template: Template) -> None:
    assert _default(DatabaseUsersProps, name) is False
    keys = {"drop_schemas_on_delete": "DropSchemas", "adopt_existing_users": "AdoptExistingUsers",
            "adopt_existing_schemas": "AdoptExistingSchemas",
            "drop_adopted_on_delete": "DropAdopted"}
    assert _only(template, "Custom::DatabaseUsers")["Properties"][keys[name]] == "false"


def test_service_secrets_are_kept_on_delete(built: Shop, template: Template) -> None:
    secret = built.users.secret_for("web")
    resource = template.to_json()["Resources"][
        built.stack.get_logical_id(secret.node.default_child)]
    assert resource["DeletionPolicy"] == "Retain"


# --- the cluster --------------------------------------------------------------------------------


def test_instances_require_imdsv2_and_keep_tasks_from_the_instance_role(template: Template) -> None:
    data = _only(template, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert "KeyName" not in data  # no SSH key: Session Manager instead


def test_instance_root_volumes_are_encrypted(template: Template) -> None:
    data = _only(template, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_instances_accept_nothing_but_their_load_balancers(
        built: Shop, template: Template) -> None:
    group = _only_group(built, built.cluster.security_group)
    assert "SecurityGroupIngress" not in group["Properties"]
    egress = group["Properties"]["SecurityGroupEgress"]
    assert [(e["CidrIp"], e["FromPort"]) for e in egress] == [("0.0.0.0/0", 443)]
    sources = [r["Properties"].get("SourceSecurityGroupId") for r in template.find_resources(
        "AWS::EC2::SecurityGroupIngress").values() if r["Properties"]["GroupId"] == {
        "Fn::GetAtt": [built.stack.get_logical_id(
            built.cluster.security_group.node.default_child), "GroupId"]}]
    assert sources and None not in sources  # only from security groups, never a CIDR


def test_cluster_can_be_destroyed_and_watched_by_default(template: Template) -> None:
    assert _default(ContainerClusterProps, "managed_termination_protection") is False
    assert _default(ContainerClusterProps, "container_insights") is True
    settings = _only(template, "AWS::ECS::Cluster")["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


# --- the service --------------------------------------------------------------------------------


def test_deployments_roll_back_by_default(template: Template) -> None:
    assert _default(ClassicLoadBalancedServiceProps, "circuit_breaker") is True
    assert _default(ClassicLoadBalancedServiceProps, "deployment_alarms") is True
    configuration = _only(template, "AWS::ECS::Service")["Properties"]["DeploymentConfiguration"]
    assert configuration["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert configuration["Alarms"]["Enable"] is True
    assert configuration["Alarms"]["Rollback"] is True


def test_alarms_are_on_by_default() -> None:
    for props_class in (ClassicLoadBalancedServiceProps, ContainerClusterProps,
                        MySqlDatabaseProps):
        assert _default(props_class, "alarms") is True, props_class.__name__


def test_https_negotiates_tls_1_2_only_by_default() -> None:
    assert _default(ClassicLoadBalancedServiceProps, "ssl_policy") == \
        "ELBSecurityPolicy-TLS-1-2-2017-01"


def test_service_logs_and_access_logs_are_kept(built: Shop, template: Template) -> None:
    log_group = template.to_json()["Resources"][
        built.stack.get_logical_id(built.service.log_group.node.default_child)]
    assert log_group["DeletionPolicy"] == "Retain"
    bucket = _only(template, "AWS::S3::Bucket")
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}


# --- the monitoring -----------------------------------------------------------------------------


def test_the_alarm_topic_is_encrypted_with_a_rotated_key(
        built: Shop, template: Template) -> None:
    resources = template.to_json()["Resources"]
    topic = resources[built.stack.get_logical_id(built.monitoring.topic.node.default_child)]
    key_id = built.stack.get_logical_id(built.monitoring.encryption_key.node.default_child)
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert resources[key_id]["Properties"]["EnableKeyRotation"] is True
    assert resources[key_id]["DeletionPolicy"] == "Retain"
