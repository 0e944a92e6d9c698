"""Each verdict kind and replacement rule on small templates: given BASE and head resources, when
the review compares them, then each resource gets the verdict and the cause the rule says."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from assembly_review.diff import diff_stack
from assembly_review.replacement import Impact, Verdict, assess
from assembly_review.report import review
from assembly_review.template import Stack

Resources = dict[str, Any]


def stack(resources: Resources, region: str | None = None) -> Stack:
    return Stack("Test", {"Resources": resources}, region)


def verdicts(base: Resources, head: Resources) -> dict[str, Verdict]:
    found = assess(diff_stack("Test", stack(base), stack(head)))
    return {v.logical_id: v for v in found}


def res(type_: str, **props: Any) -> dict[str, Any]:
    return {"Type": type_, "Properties": props}


DB = res("AWS::RDS::DBInstance", Engine="mysql", DBInstanceClass="db.t3.micro", MultiAZ=False,
         BackupRetentionPeriod=7, StorageEncrypted=True,
         KmsKeyId={"Fn::GetAtt": ["Key", "Arn"]}, MasterUsername="admin")
ELB = res("AWS::ElasticLoadBalancing::LoadBalancer", Scheme="internet-facing",
          Listeners=[{"LoadBalancerPort": "80", "InstancePort": "8080", "Protocol": "HTTP"}],
          HealthCheck={"Target": "HTTP:8080/health", "Interval": "30"},
          Subnets=[{"Ref": "SubnetA"}, {"Ref": "SubnetB"}])


def changed(resource: dict[str, Any], **props: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    for key, value in props.items():
        if value is None:
            out["Properties"].pop(key, None)
        else:
            out["Properties"][key] = value
    return out


def test_added_and_removed_resources() -> None:
    found = verdicts({"Old": res("AWS::SNS::Topic")}, {"New": res("AWS::SQS::Queue")})
    assert found["New"].impact is Impact.ADD
    assert found["Old"].impact is Impact.REMOVE


def test_updatable_property_is_in_place_with_its_path_and_values() -> None:
    found = verdicts({"Db": DB}, {"Db": changed(DB, DBInstanceClass="db.t3.small")})
    assert found["Db"].impact is Impact.IN_PLACE
    [cause] = found["Db"].causes
    assert (cause.path, cause.before, cause.after) == ("DBInstanceClass", "db.t3.micro",
                                                       "db.t3.small")


def test_listener_change_warns_that_clients_cannot_connect_meanwhile() -> None:
    new = changed(ELB, Listeners=[{"LoadBalancerPort": "81", "InstancePort": "8080",
                                   "Protocol": "HTTP"}])
    found = verdicts({"Lb": ELB}, {"Lb": new})
    assert found["Lb"].impact is Impact.IN_PLACE
    assert "clients cannot connect to it during the update" in found["Lb"].causes[0].reason


def test_create_only_property_replaces_and_names_the_leaf() -> None:
    task = res("AWS::ECS::TaskDefinition", Family="web",
               ContainerDefinitions=[{"Name": "web", "Image": "repo/web:1"}])
    new = copy.deepcopy(task)
    new["Properties"]["ContainerDefinitions"][0]["Image"] = "repo/web:2"
    found = verdicts({"Task": task}, {"Task": new})
    assert found["Task"].impact is Impact.REPLACE
    assert [c.path for c in found["Task"].causes] == ["ContainerDefinitions[0].Image"]


def test_type_change_replaces() -> None:
    found = verdicts({"X": res("AWS::SNS::Topic")}, {"X": res("AWS::SQS::Queue")})
    assert found["X"].impact is Impact.REPLACE


@pytest.mark.parametrize(("props", "impact"), [
    ({"MultiAZ": True}, Impact.IN_PLACE),
    ({"BackupRetentionPeriod": 14}, Impact.IN_PLACE),
    ({"BackupRetentionPeriod": 0}, Impact.IN_PLACE),
    ({"Engine": "postgres"}, Impact.REPLACE),
    ({"AvailabilityZone": "us-east-1a"}, Impact.REPLACE),
    ({"DBSnapshotIdentifier": "snap-1"}, Impact.REPLACE),
    ({"KmsKeyId": None}, Impact.REPLACE),
    ({"StorageEncrypted": False}, Impact.REPLACE),
])
def test_rds_conditional_and_create_only_properties(props: dict[str, Any], impact: Impact) -> None:
    found = verdicts({"Db": DB}, {"Db": changed(DB, **props)})
    assert found["Db"].impact is impact, found["Db"].causes


def test_rds_backups_turned_off_say_there_is_an_outage() -> None:
    found = verdicts({"Db": DB}, {"Db": changed(DB, BackupRetentionPeriod=0)})
    assert "brief outage" in found["Db"].causes[0].reason


def test_aurora_engine_upgrade_path_is_in_place() -> None:
    aurora = changed(DB, Engine="aurora")
    found = verdicts({"Db": aurora}, {"Db": changed(aurora, Engine="aurora-mysql")})
    assert found["Db"].impact is Impact.IN_PLACE


@pytest.mark.parametrize(("props", "impact"), [
    ({"HealthCheck": {"Target": "HTTP:8080/ready", "Interval": "30"}}, Impact.IN_PLACE),
    ({"HealthCheck": None}, Impact.REPLACE),
    ({"Subnets": [{"Ref": "SubnetC"}, {"Ref": "SubnetD"}]}, Impact.IN_PLACE),
    ({"Scheme": "internal"}, Impact.REPLACE),
])
def test_classic_elb_conditional_properties(props: dict[str, Any], impact: Impact) -> None:
    found = verdicts({"Lb": ELB}, {"Lb": changed(ELB, **props)})
    assert found["Lb"].impact is impact


def test_condition_without_a_rule_stays_may_replace() -> None:
    service = res("AWS::ECS::Service", LaunchType="EC2", Cluster="c")
    found = verdicts({"S": service}, {"S": changed(service, LaunchType="FARGATE")})
    assert found["S"].impact is Impact.MAY_REPLACE
    assert "not visible in the template" in found["S"].causes[0].reason


@pytest.mark.parametrize(("policy", "impact"), [
    ({}, Impact.IN_PLACE),
    ({"AutoScalingRollingUpdate": {"MinInstancesInService": 1}}, Impact.IN_PLACE),
    ({"AutoScalingReplacingUpdate": {"WillReplace": True}}, Impact.REPLACE),
])
def test_auto_scaling_group_launch_template_change(policy: dict[str, Any], impact: Impact) -> None:
    group = res("AWS::AutoScaling::AutoScalingGroup", MinSize="1", MaxSize="2",
                LaunchTemplate={"LaunchTemplateId": "lt-1", "Version": "1"})
    group["UpdatePolicy"] = policy
    new = changed(group, LaunchTemplate={"LaunchTemplateId": "lt-1", "Version": "2"})
    assert verdicts({"G": group}, {"G": new})["G"].impact is impact


def test_replacement_propagates_through_sub_and_join_in_create_only_properties() -> None:
    # given a VPC whose CIDR changes, a subnet naming it through Fn::Sub and a security group
    # whose (create-only) description joins the subnet's ID
    vpc = res("AWS::EC2::VPC", CidrBlock="10.0.0.0/16")
    subnet = res("AWS::EC2::Subnet", CidrBlock="10.0.0.0/24", VpcId={"Fn::Sub": "${Vpc}"})
    group = res("AWS::EC2::SecurityGroup",
                GroupDescription={"Fn::Join": ["", ["for ", {"Ref": "Subnet"}]]}, VpcId="vpc-1")
    topic = res("AWS::SNS::Topic", DisplayName={"Fn::Join": ["", ["in ", {"Ref": "Subnet"}]]})
    base = {"Vpc": vpc, "Subnet": subnet, "Group": group, "Topic": topic}
    head = {**base, "Vpc": changed(vpc, CidrBlock="10.1.0.0/16")}
    found = verdicts(base, head)
    # then the replacement travels Vpc -> Subnet (Sub) -> Group (Join), and the topic, whose
    # reference is in an updatable property, is updated in place
    assert found["Vpc"].impact is Impact.REPLACE
    assert found["Subnet"].impact is Impact.REPLACE
    assert "references Vpc, which is replaced" in found["Subnet"].causes[0].reason
    assert found["Group"].impact is Impact.REPLACE
    assert "references Subnet" in found["Group"].causes[0].reason
    assert found["Topic"].impact is Impact.IN_PLACE


def test_renamed_logical_id_is_one_replacement_of_a_stateful_resource() -> None:
    base = {"DatabaseInstance1": DB}
    head = {"DbInstance2": copy.deepcopy(DB)}
    found = verdicts(base, head)
    assert set(found) == {"DbInstance2"}
    assert found["DbInstance2"].impact is Impact.REPLACE
    assert found["DbInstance2"].renamed_from == "DatabaseInstance1"
    assert found["DbInstance2"].destructive


def test_unlike_resources_of_one_type_are_not_a_rename() -> None:
    base = {"A": res("AWS::SNS::Topic", DisplayName="a", TopicName="alpha", FifoTopic=True)}
    head = {"B": res("AWS::SNS::Topic", DisplayName="b", KmsMasterKeyId="k")}
    found = verdicts(base, head)
    assert (found["A"].impact, found["B"].impact) == (Impact.REMOVE, Impact.ADD)


def test_removed_resource_with_retain_is_orphaned_and_flagged() -> None:
    group = res("AWS::Logs::LogGroup", RetentionInDays=30)
    group["DeletionPolicy"] = "Retain"
    found = verdicts({"Logs": group}, {})
    assert found["Logs"].impact is Impact.REMOVE
    assert found["Logs"].destructive
    assert "orphaned" in found["Logs"].causes[0].reason


def test_any_resource_with_a_snapshot_policy_is_stateful() -> None:
    volume = res("AWS::EC2::Instance", InstanceType="t3.micro")
    volume["UpdateReplacePolicy"] = "Snapshot"
    found = verdicts({"I": volume}, {"I": changed(volume, AvailabilityZone="us-east-1b")})
    assert found["I"].stateful == "EC2::Instance with a Snapshot policy"


def test_stateless_replacement_is_not_destructive() -> None:
    vpc = res("AWS::EC2::VPC", CidrBlock="10.0.0.0/16")
    found = verdicts({"Vpc": vpc}, {"Vpc": changed(vpc, CidrBlock="10.1.0.0/16")})
    assert found["Vpc"].impact is Impact.REPLACE and not found["Vpc"].destructive


def test_destructive_change_exits_2_until_acknowledged_per_resource() -> None:
    base = {"Db": DB, "Logs": {**res("AWS::Logs::LogGroup"), "DeletionPolicy": "Retain"}}
    head = {"Db": changed(DB, MasterUsername="root")}
    assert review({"S": stack(base)}, {"S": stack(head)}).exit_code == 2
    partly = review({"S": stack(base)}, {"S": stack(head)}, allowed=["Db"])
    assert partly.exit_code == 2 and [v.logical_id for _, v in partly.unacknowledged] == ["Logs"]
    both = review({"S": stack(base)}, {"S": stack(head)}, allowed=["Db", "Logs", "Typo"])
    assert both.exit_code == 0
    assert both.unused_acknowledgements == ["Typo"]


def test_replacing_a_custom_named_resource_is_flagged_as_a_failed_deploy() -> None:
    cluster = res("AWS::ECS::Cluster", ClusterName="app01")
    service = res("AWS::ECS::Service", ServiceName="web", Cluster={"Ref": "Cluster"})
    base = {"Cluster": cluster, "Service": service}
    found = verdicts(base, {**base, "Cluster": changed(cluster, ClusterName="app02")})
    assert found["Service"].impact is Impact.REPLACE
    assert "keeps its custom name ServiceName=web" in found["Service"].warnings[0]
    assert found["Cluster"].warnings == []  # its name changes with it: no conflict


def test_resource_type_without_a_schema_is_updated_in_place() -> None:
    custom = res("Custom::Thing", ServiceToken="arn", Value="1")
    found = verdicts({"C": custom}, {"C": changed(custom, Value="2")})
    assert found["C"].impact is Impact.IN_PLACE
    assert "no provider schema" in found["C"].causes[0].reason


def test_metadata_only_change_is_in_place_and_says_nothing_changes_in_aws() -> None:
    topic = res("AWS::SNS::Topic")
    new = {**topic, "Metadata": {"note": "x"}}
    found = verdicts({"T": topic}, {"T": new})
    assert found["T"].impact is Impact.IN_PLACE
    assert "resource itself is untouched" in found["T"].causes[0].reason


def test_no_change_gives_no_verdicts() -> None:
    assert verdicts({"Db": DB}, {"Db": copy.deepcopy(DB)}) == {}
