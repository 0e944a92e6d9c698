"""Unit tests of the compatibility layer, one or more per shim.

Pure helpers are tested in-process; behaviour inside moto is tested with small
CloudFormation templates against the session's emulator (a separate process),
so this pytest process's own moto is never patched.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator import summary
from emulator.compat import cfn_engine, custom_resources, ecs, notes, services
from emulator.compat.notes import Note
from emulator.compat.util import camel_keys
from tests.emulator.conftest import ECHO_TYPE, REPO, Session

# ---------------------------------------------------------------- pure helpers


def test_loopback_hosts_are_path_style() -> None:
    assert cfn_engine._is_loopback("127.0.0.1")
    assert cfn_engine._is_loopback("::1")
    assert cfn_engine._is_loopback("localhost")
    assert not cfn_engine._is_loopback("s3.us-east-1.amazonaws.com")


def test_a_json_template_reads_as_moto_reads_it_without_the_yaml_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.cloudformation import models

    from emulator.compat.cfn_engine import template_url

    body = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {
        "DisplayName": "2012-10-17", "Tags": [{"Key": "on", "Value": "yes"}]}}},
        "Outputs": {"N": {"Value": 1.5}}}, indent=1)
    yaml_form = "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties:\n      Name: !Ref X\n"
    expected = template_url._original_parse_template(body)
    expected_yaml = template_url._original_parse_template(yaml_form)
    cfn_engine.apply()
    # what moto's stacks and change sets read is the same mapping...
    assert models.Stack.parse_template(body) == expected
    change_set = models.ChangeSet.__new__(models.ChangeSet)
    change_set.template = body
    change_set._parse_template()
    assert change_set.template_dict == expected
    # ...without PyYAML for JSON, which YAML bodies still go through
    monkeypatch.setattr(models.yaml, "load", lambda *a, **k: pytest.fail("YAML parser used"))
    assert models.Stack.parse_template(body) == expected
    monkeypatch.undo()
    assert models.Stack.parse_template(yaml_form) == expected_yaml == {
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"Name": {"Ref": "X"}}}}}


def test_the_emulators_botocore_sessions_read_the_data_files_once() -> None:
    # in a process of its own, as the emulator's server applies it to itself
    probe = subprocess.run([sys.executable, "-c", (
        "import boto3\n"
        "from emulator.server import share_one_botocore_loader as share\n"
        "def loader():\n"
        "    return boto3.Session()._session.get_component('data_loader')\n"
        "assert loader() is not loader()\n"
        "share(); share()\n"
        "first, second = loader(), loader()\n"
        "assert first is second\n"
        "second.load_service_model('ec2', 'service-2')\n"
        "assert first.load_service_model('ec2', 'service-2') is "
        "second.load_service_model('ec2', 'service-2')\n"
        "print('shared')")], cwd=REPO, capture_output=True, text=True, check=False)
    assert probe.returncode == 0 and probe.stdout.strip() == "shared", probe.stderr[-2000:]


def test_references_cover_ref_getatt_and_sub() -> None:
    body = {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Y", "Arn"]},
        "C": {"Fn::Sub": "${Z.Arn}-${AWS::Region}-${!Lit}"},
    }
    assert cfn_engine.references(body) == {"X", "Y", "Z", "AWS::Region"}


def test_dependency_order_puts_needs_first() -> None:
    resources = {
        "Service": {"Properties": {"TaskDefinition": {"Ref": "Task"}}},
        "Task": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Role": {},
    }
    assert cfn_engine.dependency_order(resources) == ["Role", "Task", "Service"]


def test_resource_diff_ignores_absent_properties() -> None:
    old = {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}, "Gone": {"Type": "T"}}
    new = {"Topic": {"Type": "AWS::SNS::Topic"}, "New": {"Type": "T"}}
    assert cfn_engine.resource_diff(old, new) == {"Add": ["New"], "Modify": [], "Remove": ["Gone"]}


def test_conditional_policy_statements_are_not_enforced() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"},
        ]
    }
    kept = json.loads(services.unconditional_statements(json.dumps(policy)))
    assert [s["Effect"] for s in kept["Statement"]] == ["Allow"]


def test_elb_names_fit_32_characters() -> None:
    name = services.elb_name("EcsPlayground-ServicesuserLoadBalancer1234ABCD-ABCDEFGHIJKL")
    assert len(name) <= 32
    assert name.endswith("-ABCDEFGHIJKL")
    assert services.elb_name("short-name") == "short-name"


def test_container_definitions_are_camel_case_but_options_verbatim() -> None:
    converted = ecs.container_definitions(
        [
            {
                "Name": "a",
                "LogConfiguration": {"LogDriver": "awslogs", "Options": {"awslogs-group": "g"}},
                "DockerLabels": {"Team": "x"},
                "ExtraHosts": [{"Hostname": "db", "IpAddress": "10.0.0.1"}],
            }
        ]
    )
    assert converted == [
        {
            "name": "a",
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}},
            "dockerLabels": {"Team": "x"},
            "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.1"}],
        }
    ]
    assert camel_keys({"MaximumPercent": 200}) == {"maximumPercent": 200}


def test_cluster_from_user_data() -> None:
    script = "#!/bin/bash\necho ECS_CLUSTER=app01 >> /etc/ecs/ecs.config\n"
    assert ecs.cluster_from_user_data(base64.b64encode(script.encode()).decode()) == "app01"
    assert ecs.cluster_from_user_data(None) is None
    assert ecs.cluster_from_user_data(base64.b64encode(b"#!/bin/bash\n").decode()) is None


def test_every_known_cdk_provider_has_a_stand_in() -> None:
    for resource_type in (
        "Custom::VpcRestrictDefaultSG",
        "Custom::LogRetention",
        "Custom::S3AutoDeleteObjects",
    ):
        assert isinstance(custom_resources.PROVIDERS[resource_type], custom_resources.StandIn)


def test_an_unknown_custom_resource_type_has_no_provider() -> None:
    with pytest.raises(custom_resources.UnknownCustomResource) as error:
        custom_resources.provider_for("Custom::Nobody", "Thing")
    assert "Thing (Custom::Nobody): the emulator has no provider" in str(error.value)
    assert "--lambda-custom-resource Custom::Nobody" in str(error.value)


def test_db_modification_splits_what_modify_db_instance_applies() -> None:
    old = {"DeletionProtection": True, "BackupRetentionPeriod": "7", "DBName": "a", "Port": "3306"}
    new = {"DeletionProtection": "false", "BackupRetentionPeriod": 3, "DBName": "b", "Port": "3306"}
    changes, unsupported = services.db_modification(old, new)
    assert changes == {"deletion_protection": False, "backup_retention_period": 3}
    assert unsupported == ["DBName"]


def test_changed_properties_name_the_keys() -> None:
    old = {"Properties": {"A": 1, "B": {"x": 1}, "C": 3}}
    new = {"Properties": {"A": 1, "B": {"x": 2}, "D": 4}}
    assert cfn_engine.changed_properties(old, new) == ["B", "C", "D"]
    assert cfn_engine.changed_properties(new, new) == []


# ---------------------------------------------------------------- inside the emulator


def _deploy(session: Session, template: dict[str, Any], stack: str | None = None) -> str:
    """Create or update a stack through a change set, as the CDK CLI does; return its name."""
    cfn = session.clients("cloudformation")
    name = stack or f"compat-{uuid.uuid4().hex[:8]}"
    kind = "UPDATE" if stack else "CREATE"
    cfn.create_change_set(
        StackName=name, ChangeSetName="cs", ChangeSetType=kind, TemplateBody=json.dumps(template)
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="cs")
    status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    if status != f"{kind}_COMPLETE":
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [f"{e['LogicalResourceId']} {e['ResourceStatus']}: {e['ResourceStatusReason']}"
                   for e in events if e.get("ResourceStatusReason")]
        raise AssertionError(f"{name}: {status}; " + " | ".join(reasons))
    cfn.delete_change_set(StackName=name, ChangeSetName="cs")
    return name


def _physical(session: Session, stack: str) -> dict[str, str]:
    listed = session.clients("cloudformation").describe_stack_resources(StackName=stack)[
        "StackResources"
    ]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed}


def _vpc(cidr: str = "10.9.0.0/16") -> dict[str, Any]:
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": cidr}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": cidr.replace("0.0/16", "1.0/24"),
                "AvailabilityZone": "us-east-1a",
            },
        },
        "Subnet2": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": cidr.replace("0.0/16", "2.0/24"),
                "AvailabilityZone": "us-east-1b",
            },
        },
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "g", "VpcId": {"Ref": "Vpc"}},
        },
    }


def test_unknown_change_set_is_change_set_not_found(session: Session) -> None:
    with pytest.raises(ClientError) as error:
        session.clients("cloudformation").describe_change_set(
            ChangeSetName="nope", StackName="nope"
        )
    assert error.value.response["Error"]["Code"] == "ChangeSetNotFound"


def test_change_sets_of_the_same_name_stay_per_stack(session: Session) -> None:
    first = _deploy(session, {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    second = _deploy(session, {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    assert list(_physical(session, first)) == ["T"]
    assert list(_physical(session, second)) == ["Q"]


def test_a_stack_created_again_after_delete_runs_its_own_change_set(session: Session) -> None:
    cfn = session.clients("cloudformation")
    name = f"compat-{uuid.uuid4().hex[:8]}"
    for logical_id in ("First", "Second"):
        template = {"Resources": {logical_id: {"Type": "AWS::SNS::Topic"}}}
        cfn.create_change_set(
            StackName=name,
            ChangeSetName="cdk-deploy-change-set",
            ChangeSetType="CREATE",
            TemplateBody=json.dumps(template),
        )
        cfn.execute_change_set(StackName=name, ChangeSetName="cdk-deploy-change-set")
        assert list(_physical(session, name)) == [logical_id]
        cfn.delete_stack(StackName=name)


def test_exports_reach_the_next_stack(session: Session) -> None:
    export = f"topic-{uuid.uuid4().hex[:6]}"
    _deploy(
        session,
        {
            "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"O": {"Value": {"Ref": "T"}, "Export": {"Name": export}}},
        },
    )
    importer = _deploy(
        session,
        {
            "Resources": {
                "S": {
                    "Type": "AWS::SNS::Subscription",
                    "Properties": {
                        "TopicArn": {"Fn::ImportValue": export},
                        "Protocol": "sqs",
                        "Endpoint": "arn:aws:sqs:us-east-1:123456789012:q",
                    },
                }
            }
        },
    )
    subscription = _physical(session, importer)["S"]
    assert subscription in [
        s["SubscriptionArn"] for s in session.clients("sns").list_subscriptions()["Subscriptions"]
    ]


def test_get_stack_output_reads_the_other_stacks_output(session: Session) -> None:
    """CDK's weak cross-stack references (``defaultCrossStackReferences: weak``) are
    ``Fn::GetStackOutput``: no export needed, resolved at create/update time."""
    producer = _deploy(
        session,
        {
            "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"TopicArn": {"Value": {"Ref": "T"}}},
        },
    )

    def subscription(output: str) -> dict[str, Any]:
        reference = {
            "Fn::GetStackOutput": {
                "StackName": producer,
                "Region": {"Ref": "AWS::Region"},
                "OutputName": output,
            }
        }
        return {
            "S": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": reference,
                    "Protocol": "sqs",
                    "Endpoint": "arn:aws:sqs:us-east-1:123456789012:q",
                },
            }
        }

    consumer = _deploy(session, {"Resources": subscription("TopicArn")})
    topic = _physical(session, producer)["T"]
    (found,) = [
        s
        for s in session.clients("sns").list_subscriptions()["Subscriptions"]
        if s["SubscriptionArn"] == _physical(session, consumer)["S"]
    ]
    assert found["TopicArn"] == topic
    cfn = session.clients("cloudformation")
    name = f"compat-{uuid.uuid4().hex[:8]}"
    cfn.create_change_set(
        StackName=name,
        ChangeSetName="cs",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps({"Resources": subscription("Missing")}),
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="cs")
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_FAILED"
    assert f"stack {producer} has no output Missing" in stack["StackStatusReason"]


def test_ssm_parameter_keeps_its_name_for_use_previous_value(session: Session) -> None:
    cfn = session.clients("cloudformation")
    template = {
        "Parameters": {
            "Ami": {
                "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                "Default": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            }
        },
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}},
    }
    name = _deploy(session, template)
    template["Resources"]["Q"] = {"Type": "AWS::SQS::Queue"}
    cfn.create_change_set(
        StackName=name,
        ChangeSetName="cs",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Ami", "UsePreviousValue": True}],
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="cs")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_secret_generation_attachment_and_dynamic_reference(session: Session) -> None:
    resources = {
        **_vpc("10.21.0.0/16"),
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username":"app"}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 30,
                    "ExcludeCharacters": '/@" ',
                }
            },
        },
        **_subnet_group_and_mysql(
            VPCSecurityGroups=[{"Fn::GetAtt": ["Group", "GroupId"]}],
            MasterUsername="app",
            MasterUserPassword={
                "Fn::Join": [
                    "",
                    ["{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:password::}}"],
                ]
            },
        ),
        "Attach": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {
                "SecretId": {"Ref": "Secret"},
                "TargetId": {"Ref": "Db"},
                "TargetType": "AWS::RDS::DBInstance",
            },
        },
    }
    stack = _deploy(session, {"Resources": resources})
    ids = _physical(session, stack)
    value = json.loads(
        session.clients("secretsmanager").get_secret_value(SecretId=ids["Secret"])["SecretString"]
    )
    assert len(value["password"]) == 30
    assert (
        value["engine"] == "mysql"
        and value["port"] == 3306
        and value["host"].endswith(".rds.amazonaws.com")
    )
    db = session.clients("rds").describe_db_instances(DBInstanceIdentifier=ids["Db"])[
        "DBInstances"
    ][0]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == ids["Subnets"]
    assert db["VpcSecurityGroups"][0]["VpcSecurityGroupId"] == ids["Group"]
    session.clients("cloudformation").delete_stack(StackName=stack)
    snapshots = session.clients("rds").describe_db_snapshots(DBInstanceIdentifier=ids["Db"])[
        "DBSnapshots"
    ]
    assert snapshots, "DeletionPolicy Snapshot took no final snapshot"


def test_security_group_rules_egress_and_ingress(session: Session) -> None:
    resources = {
        **_vpc("10.22.0.0/16"),
        "Out": {
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["Group", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "CidrIp": "10.0.0.0/8",
            },
        },
        "In": {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["Group", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "CidrIp": "10.0.0.0/8",
            },
        },
    }
    stack = _deploy(session, {"Resources": resources})
    ids = _physical(session, stack)
    ec2 = session.clients("ec2")
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [ids["Group"]]}]
    )["SecurityGroupRules"]
    assert {ids["Out"], ids["In"]} <= {r["SecurityGroupRuleId"] for r in rules}
    session.clients("cloudformation").delete_stack(StackName=stack)
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [ids["Vpc"]]}])["Vpcs"]


def test_ecs_service_update_follows_new_task_definition(session: Session) -> None:
    def template(image: str) -> dict[str, Any]:
        return {
            "Resources": {
                "Cluster": {
                    "Type": "AWS::ECS::Cluster",
                    "Properties": {"ClusterName": f"c-{suffix}"},
                },
                "Task": {
                    "Type": "AWS::ECS::TaskDefinition",
                    "Properties": {
                        "Family": f"f-{suffix}",
                        "NetworkMode": "bridge",
                        "ContainerDefinitions": [
                            {
                                "Name": "app",
                                "Image": image,
                                "Memory": 256,
                                "HealthCheck": {"Command": ["CMD", "true"]},
                            }
                        ],
                    },
                },
                "Service": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "Cluster": {"Ref": "Cluster"},
                        "TaskDefinition": {"Ref": "Task"},
                        "DesiredCount": 2,
                        "DeploymentConfiguration": {
                            "MaximumPercent": 200,
                            "MinimumHealthyPercent": 50,
                        },
                        "PlacementConstraints": [{"Type": "distinctInstance"}],
                        "LoadBalancers": [
                            {"LoadBalancerName": "lb", "ContainerName": "app", "ContainerPort": 80}
                        ],
                    },
                },
            }
        }

    suffix = uuid.uuid4().hex[:6]
    stack = _deploy(session, template("img:1"))
    service_arn = _physical(session, stack)["Service"]
    _deploy(session, template("img:2"), stack)
    ecs_client = session.clients("ecs")
    service = ecs_client.describe_services(cluster=f"c-{suffix}", services=[service_arn])[
        "services"
    ][0]
    assert service["taskDefinition"].endswith(f"f-{suffix}:2")
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert service["loadBalancers"][0]["loadBalancerName"] == "lb"
    assert service["placementConstraints"] == [{"type": "distinctInstance"}]
    definition = ecs_client.describe_task_definition(taskDefinition=service["taskDefinition"])[
        "taskDefinition"
    ]
    assert definition["containerDefinitions"][0]["healthCheck"]["command"] == ["CMD", "true"]
    assert definition["networkMode"] == "bridge"
    session.clients("cloudformation").delete_stack(StackName=stack)
    assert (
        ecs_client.describe_clusters(clusters=[f"c-{suffix}"])["clusters"][0]["status"]
        == "INACTIVE"
    )


def _notes_after(session: Session, mark: int) -> list[Note]:
    return summary.notes_since(session.emulator.endpoint, mark)[1]


def _mark(session: Session) -> int:
    return summary.notes_since(session.emulator.endpoint, 0)[0]


def _fail(session: Session, template: dict[str, Any], stack: str | None = None) -> tuple[str, str]:
    """Run a change set that must fail; return (stack name, status reason)."""
    cfn = session.clients("cloudformation")
    name = stack or f"compat-{uuid.uuid4().hex[:8]}"
    kind = "UPDATE" if stack else "CREATE"
    cfn.create_change_set(
        StackName=name, ChangeSetName="cs", ChangeSetType=kind, TemplateBody=json.dumps(template)
    )
    cfn.execute_change_set(StackName=name, ChangeSetName="cs")
    (described,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert described["StackStatus"] == f"{kind}_FAILED"
    return name, described["StackStatusReason"]


def test_known_provider_restricts_the_default_group_and_is_counted(session: Session) -> None:
    mark = _mark(session)
    resources = {
        **_vpc("10.23.0.0/16"),
        "Restrict": {
            "Type": "Custom::VpcRestrictDefaultSG",
            "Properties": {
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:none",
                "DefaultSecurityGroupId": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]},
            },
        },
    }
    stack = _deploy(session, {"Resources": resources})
    group = _physical(session, stack)["Restrict"]
    described = session.clients("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][
        0
    ]
    assert described["IpPermissions"] == [] and described["IpPermissionsEgress"] == []
    found = _notes_after(session, mark)
    assert [(n.kind, n.topic) for n in found] == [(notes.STAND_IN, "Custom::VpcRestrictDefaultSG")]


@pytest.mark.parametrize("resource_type", ["Custom::Nobody", "AWS::CloudFormation::CustomResource"])
def test_unknown_custom_resource_fails_the_deploy_naming_it(
    session: Session, resource_type: str
) -> None:
    resources = {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Other": {
            "Type": resource_type,
            "Properties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:none"},
        },
    }
    stack, reason = _fail(session, {"Resources": resources})
    assert f"Other ({resource_type}): the emulator has no provider" in reason
    events = session.clients("cloudformation").describe_stack_events(StackName=stack)
    (failed,) = [e for e in events["StackEvents"] if e["LogicalResourceId"] == "Other"]
    assert failed["ResourceStatus"] == "CREATE_FAILED"
    assert resource_type in failed["ResourceStatusReason"]
    assert "Other" not in _physical(session, stack)


# A Python Lambda answering like a CDK Provider framework onEvent handler (returns the answer),
# calling the emulator through boto3 on the way; "fail" makes it raise.
_RETURNING = """
import os, boto3
def handler(event, context):
    word = event["ResourceProperties"]["Word"]
    if word == "fail":
        raise ValueError("asked to fail")
    if event["RequestType"] != "Delete":
        boto3.client("ssm").put_parameter(Name="/echo/" + word, Value=word, Type="String",
                                          Overwrite=True)
    return {"PhysicalResourceId": "echo-" + word,
            "Data": {"Upper": word.upper(), "Function": os.environ["AWS_LAMBDA_FUNCTION_NAME"]}}
"""
# The same through the cfn-response protocol (PUT to ResponseURL), as inline code does.
_RESPONDING = """
import cfnresponse
def handler(event, context):
    word = event["ResourceProperties"]["Word"]
    cfnresponse.send(event, context, cfnresponse.SUCCESS, {"Upper": word.upper()}, "sent-" + word)
"""


def _function(
    code: str, runtime: str = "python3.12", variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": runtime,
            "Handler": "index.handler",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": code},
            "Environment": {"Variables": variables or {}},
        },
    }


def _echo_template(word: str) -> dict[str, Any]:
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"Service": "lambda.amazonaws.com"}}],
            }
        },
    }
    echo = {"Fn::GetAtt": ["Returning", "Arn"]}
    return {
        "Resources": {
            "Role": role,
            "Returning": _function(_RETURNING),
            "Responding": _function(_RESPONDING),
            # The CDK Provider framework's own Lambda (Node.js, never run here) names the user's
            # onEvent function in its environment.
            "Framework": _function("", "nodejs22.x", {"USER_ON_EVENT_FUNCTION_ARN": echo}),
            "Direct": {"Type": ECHO_TYPE, "Properties": {"ServiceToken": echo, "Word": word}},
            "ByResponse": {
                "Type": ECHO_TYPE,
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["Responding", "Arn"]},
                    "Word": word,
                },
            },
            "ThroughFramework": {
                "Type": ECHO_TYPE,
                "Properties": {
                    "ServiceToken": {"Fn::GetAtt": ["Framework", "Arn"]},
                    "Word": f"{word}2",
                },
            },
        },
        "Outputs": {
            name: {"Value": {"Fn::GetAtt": [name, "Upper"]}}
            for name in ("Direct", "ByResponse", "ThroughFramework")
        },
    }


def test_registered_type_runs_its_own_lambda_code(session: Session) -> None:
    mark = _mark(session)
    word = uuid.uuid4().hex[:6]
    stack = _deploy(session, _echo_template(word))
    ids = _physical(session, stack)
    assert (ids["Direct"], ids["ByResponse"], ids["ThroughFramework"]) == (
        f"echo-{word}",
        f"sent-{word}",
        f"echo-{word}2",
    )
    (described,) = session.clients("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs == {
        "Direct": word.upper(),
        "ByResponse": word.upper(),
        "ThroughFramework": f"{word}2".upper(),
    }
    ssm = session.clients("ssm")
    assert ssm.get_parameter(Name=f"/echo/{word}2")["Parameter"]["Value"] == f"{word}2"
    ran = [n for n in _notes_after(session, mark) if n.kind == notes.LAMBDA_CODE]
    assert len(ran) == 3
    _, reason = _fail(session, _echo_template("fail"))
    assert "ValueError: asked to fail" in reason


def test_update_moto_cannot_apply_is_kept_and_counted(session: Session) -> None:
    template = {"Resources": {"Log": {"Type": "AWS::Logs::LogGroup",
                                      "Properties": {"RetentionInDays": 7}}}}
    stack = _deploy(session, template)
    name = _physical(session, stack)["Log"]
    mark = _mark(session)
    template["Resources"]["Log"]["Properties"]["RetentionInDays"] = 14
    _deploy(session, template, stack)
    (group,) = session.clients("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["retentionInDays"] == 7, "the emulator now applies this update: drop the note"
    (note,) = _notes_after(session, mark)
    assert (note.kind, note.subject) == (notes.NOT_APPLIED, "Log (AWS::Logs::LogGroup)")
    assert "RetentionInDays" in note.detail
    events = session.clients("cloudformation").describe_stack_events(StackName=stack)
    assert events["StackEvents"][0]["ResourceStatus"] == "UPDATE_COMPLETE"  # the stack, as AWS says
    reasons = [e.get("ResourceStatusReason") or "" for e in events["StackEvents"]]
    assert any(r.startswith(summary.NOT_APPLIED_REASON) for r in reasons)


def _subnet_group_and_mysql(**properties: Any) -> dict[str, Any]:
    """A DB subnet group over Subnet and Subnet2, and a MySQL instance "Db" in it (snapshot on
    delete) with these properties besides."""
    return {
        "Subnets": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": "d",
                "SubnetIds": [{"Ref": "Subnet"}, {"Ref": "Subnet2"}],
            },
        },
        "Db": {
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Snapshot",
            "Properties": {
                "Engine": "mysql",
                "DBInstanceClass": "db.t3.micro",
                "AllocatedStorage": "20",
                "DBSubnetGroupName": {"Ref": "Subnets"},
                **properties,
            },
        },
    }


def _database(deletion_protection: bool, backups: int, name: str = "a") -> dict[str, Any]:
    return {
        "Resources": {
            **_vpc("10.24.0.0/16"),
            **_subnet_group_and_mysql(
                DBName=name,
                MasterUsername="app",
                MasterUserPassword="password123",
                DeletionProtection=deletion_protection,
                BackupRetentionPeriod=backups,
            ),
        }
    }


def test_database_update_applies_protection_and_counts_what_it_cannot(session: Session) -> None:
    stack = _deploy(session, _database(True, 7))
    identifier = _physical(session, stack)["Db"]
    mark = _mark(session)
    _deploy(session, _database(False, 3, name="b"), stack)
    rds = session.clients("rds")
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    assert (db["DeletionProtection"], db["BackupRetentionPeriod"], db["DBName"]) == (False, 3, "a")
    (note,) = _notes_after(session, mark)
    assert note.kind == notes.NOT_APPLIED and "DBName" in note.detail
    assert _physical(session, stack)["Db"] == identifier, "an in-place change replaced it"


def test_protected_database_fails_the_stack_delete_until_unprotected(session: Session) -> None:
    stack = _deploy(session, _database(True, 1))
    ids = _physical(session, stack)
    cfn = session.clients("cloudformation")
    cfn.delete_stack(StackName=stack)
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    assert described["StackStatus"] == "DELETE_FAILED"
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "DELETE_FAILED" and
                 e["LogicalResourceId"] == "Db"]
    assert failed["ResourceStatusReason"] == (
        "Cannot delete protected DB Instance, please disable deletion protection and try again."
    )
    assert {"Db", "Subnets", "Subnet", "Vpc"} <= set(_physical(session, stack)), (
        "deleted what the protected database needs"
    )
    with pytest.raises(ClientError, match="DELETE_FAILED state and can not be updated"):
        cfn.create_change_set(StackName=stack, ChangeSetName="cs", ChangeSetType="UPDATE",
                              TemplateBody=json.dumps(_database(False, 1)))
    rds = session.clients("rds")
    rds.modify_db_instance(DBInstanceIdentifier=ids["Db"], DeletionProtection=False,
                           ApplyImmediately=True)
    cfn.delete_stack(StackName=stack)
    assert stack not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert not rds.describe_db_instances(Filters=[
        {"Name": "db-instance-id", "Values": [ids["Db"]]}])["DBInstances"]
    assert rds.describe_db_snapshots(DBInstanceIdentifier=ids["Db"])["DBSnapshots"]


def test_retained_resource_survives_the_stack_delete(session: Session) -> None:
    stack = _deploy(session, {"Resources": {
        "Kept": {"Type": "AWS::SNS::Topic", "DeletionPolicy": "Retain"},
        "Gone": {"Type": "AWS::SNS::Topic"},
    }})
    ids = _physical(session, stack)
    session.clients("cloudformation").delete_stack(StackName=stack)
    topics = {t["TopicArn"] for t in session.clients("sns").list_topics()["Topics"]}
    assert ids["Kept"] in topics
    assert ids["Gone"] not in topics


def test_capacity_provider_association_bucket_and_topic_policies(session: Session) -> None:
    suffix = uuid.uuid4().hex[:6]
    resources = {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": f"cp-{suffix}"}},
        "Provider": {
            "Type": "AWS::ECS::CapacityProvider",
            "Properties": {
                "AutoScalingGroupProvider": {
                    "AutoScalingGroupArn": (
                        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:"
                        "autoScalingGroupName/asg"
                    )
                }
            },
        },
        "Assoc": {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "CapacityProviders": [{"Ref": "Provider"}],
                "DefaultCapacityProviderStrategy": [],
            },
        },
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "Bucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
                            },
                            "Action": "s3:PutObject",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        "Meta": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2"}},
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": "Topic"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
                    "Resource": {"Ref": "Topic"},
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }]},
            },
        },
    }
    stack = _deploy(session, {"Resources": resources})
    ids = _physical(session, stack)
    attributes = session.clients("sns").get_topic_attributes(TopicArn=ids["Topic"])["Attributes"]
    assert "aws:SecureTransport" in attributes["Policy"]
    assert ids["TopicPolicy"] == ids["Topic"]
    cluster = session.clients("ecs").describe_clusters(clusters=[f"cp-{suffix}"])["clusters"][0]
    assert cluster["capacityProviders"] == [ids["Provider"]]
    assert "logdelivery" in session.clients("s3").get_bucket_policy(Bucket=ids["Bucket"])["Policy"]
    assert "Meta" in ids


def test_kms_key_policy_is_stored_as_json(session: Session) -> None:
    resources = {"Key": {"Type": "AWS::KMS::Key", "Properties": {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*", "Resource": "*"}]},
    }}}
    stack = _deploy(session, {"Resources": resources})
    key_id = _physical(session, stack)["Key"]
    kms = session.clients("kms")
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Action"] == "kms:*"
