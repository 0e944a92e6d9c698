"""The tutorial's platform holds every fact of the tutorial, and every safety default, in its
template."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from ecs_playground.rules import secret_in

SERVICES = [("location", 8081), ("user", 9091)]


def only(template: Template, type_: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    """The single resource of a type (optionally matching props), as a dict with its logical ID."""
    found = template.find_resources(type_, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {type_} matching {props}, found {list(found)}"
    (logical_id, resource), = found.items()
    return {"Id": logical_id, **resource}


def container_of(template: Template, family: str) -> dict[str, Any]:
    task = only(template, "AWS::ECS::TaskDefinition", {"Family": family})
    (container,) = task["Properties"]["ContainerDefinitions"]
    return dict(container)


# --- cluster and container instances --------------------------------------------------------


def test_cluster_is_named_app01_with_container_insights(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterName": "app01",
         "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_auto_scaling_group_keeps_four_instances(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup",
        {"MinSize": "4", "MaxSize": "4", "LaunchTemplate": Match.any_value()},
    )
    tutorial_template.resource_count_is("AWS::AutoScaling::LaunchConfiguration", 0)


def test_instances_are_t2_medium_from_the_ecs_optimized_al2023_ami(
    tutorial_template: Template,
) -> None:
    data = only(tutorial_template, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert data["InstanceType"] == "t2.medium"
    param = data["ImageId"]["Ref"]
    # a fixed release's own parameter: AWS publishing a new image changes nothing until
    # cluster.machineImageRelease changes (never .../recommended/image_id, which moves)
    assert tutorial_template.to_json()["Parameters"][param]["Default"] == (
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/"
        "al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64/image_id"
    )


def test_user_data_writes_ecs_cluster_into_ecs_config(tutorial_template: Template) -> None:
    data = only(tutorial_template, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    cluster_id = only(tutorial_template, "AWS::ECS::Cluster")["Id"]
    parts = data["UserData"]["Fn::Base64"]["Fn::Join"][1]
    assert parts[0].endswith("echo ECS_CLUSTER=")
    assert parts[1] == {"Ref": cluster_id}  # the cluster's name, app01
    assert parts[2] == " >> /etc/ecs/ecs.config"
    assert "echo ECS_RESERVED_MEMORY=256 >> /etc/ecs/ecs.config" in parts[0]


def test_instances_require_imdsv2_out_of_reach_of_containers(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like(
            {"MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}}
        )},
    )


def test_root_volume_is_encrypted_gp3(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {"LaunchTemplateData": Match.object_like({"BlockDeviceMappings": [{
            "DeviceName": "/dev/xvda",
            "Ebs": {"Encrypted": True, "VolumeType": "gp3", "VolumeSize": 30,
                    "DeleteOnTermination": True},
        }]})},
    )


def test_no_ssh_key_and_no_port_22_but_session_manager(tutorial_template: Template) -> None:
    data = only(tutorial_template, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert "KeyName" not in data
    text = json.dumps(tutorial_template.to_json())
    assert '"FromPort": 22,' not in text
    role = only(tutorial_template, "AWS::IAM::Role",
                {"AssumeRolePolicyDocument": Match.object_like({"Statement": [Match.object_like(
                    {"Principal": {"Service": "ec2.amazonaws.com"}})]})})
    assert "AmazonSSMManagedInstanceCore" in json.dumps(role["Properties"]["ManagedPolicyArns"])


def test_capacity_provider_scales_drains_and_stays_deletable(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties(
        "AWS::ECS::CapacityProvider",
        {"AutoScalingGroupProvider": Match.object_like({
            "ManagedScaling": Match.object_like({"Status": "ENABLED"}),
            "ManagedTerminationProtection": "DISABLED",
            "ManagedDraining": "ENABLED",
        })},
    )
    tutorial_template.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup", {"NewInstancesProtectedFromScaleIn": False}
    )
    tutorial_template.resource_count_is("AWS::ECS::ClusterCapacityProviderAssociations", 1)
    # Managed draining replaces CDK's Lambda drain hook: no function for it.
    tutorial_template.resource_count_is("AWS::AutoScaling::LifecycleHook", 0)


def test_instances_run_in_private_subnets(tutorial_template: Template) -> None:
    asg = only(tutorial_template, "AWS::AutoScaling::AutoScalingGroup")["Properties"]
    subnets = [ref["Ref"] for ref in asg["VPCZoneIdentifier"]]
    assert len(subnets) == 2 and all("PrivateSubnet" in ref for ref in subnets), subnets


# --- load balancers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_classic_elb_listens_and_health_checks_over_http(
    tutorial_template: Template, name: str, port: int
) -> None:
    tutorial_template.has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        {
            "Listeners": [{"LoadBalancerPort": str(port), "Protocol": "HTTP",
                           "InstancePort": str(port), "InstanceProtocol": "HTTP"}],
            "HealthCheck": {"Target": f"HTTP:{port}/health", "Interval": "30", "Timeout": "5",
                            "HealthyThreshold": "2", "UnhealthyThreshold": "5"},
            "CrossZone": True,
            "ConnectionDrainingPolicy": {"Enabled": True, "Timeout": 30},
            "Scheme": "internet-facing",
        },
    )


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_elb_accepts_only_its_listener_port(
    tutorial_template: Template, name: str, port: int
) -> None:
    tutorial_template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupIngress": [{"CidrIp": "0.0.0.0/0", "FromPort": port, "ToPort": port,
                                   "IpProtocol": "tcp", "Description": Match.any_value()}]},
    )


def test_instances_accept_the_host_ports_from_the_load_balancer_group_in_one_rule(
    tutorial_template: Template,
) -> None:
    # given the tutorial's two services on one cluster
    instance_sg = only(tutorial_template, "AWS::EC2::SecurityGroup",
                       {"GroupDescription": Match.string_like_regexp("container instances")})
    assert "SecurityGroupIngress" not in instance_sg["Properties"]
    # when the instance security group's inbound rules are read,
    ingress = tutorial_template.find_resources(
        "AWS::EC2::SecurityGroupIngress",
        {"Properties": {"GroupId": {"Fn::GetAtt": [instance_sg["Id"], "GroupId"]}}},
    )
    # then there is one, from the cluster's load balancer group, over the host-port range
    (rule,) = [r["Properties"] for r in ingress.values()]
    group = only(tutorial_template, "AWS::EC2::SecurityGroup",
                 {"GroupDescription": Match.string_like_regexp("^Load balancers of")})
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [group["Id"], "GroupId"]}
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 8081, 9091)
    assert "SecurityGroupIngress" not in group["Properties"]  # nothing may reach the group


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_each_elb_joins_the_group_and_may_send_to_its_own_host_port_only(
    tutorial_template: Template, name: str, port: int
) -> None:
    # given the ELB of one service: its own group (listener ingress) and the cluster's group
    own = only(tutorial_template, "AWS::EC2::SecurityGroup",
               {"SecurityGroupIngress": [Match.object_like({"FromPort": port})]})
    group = only(tutorial_template, "AWS::EC2::SecurityGroup",
                 {"GroupDescription": Match.string_like_regexp("^Load balancers of")})
    elb = only(tutorial_template, "AWS::ElasticLoadBalancing::LoadBalancer",
               {"Listeners": [Match.object_like({"InstancePort": str(port)})]})
    assert elb["Properties"]["SecurityGroups"] == [
        {"Fn::GetAtt": [own["Id"], "GroupId"]}, {"Fn::GetAtt": [group["Id"], "GroupId"]}]
    # when the egress rules of both groups are read,
    egress = [r["Properties"] for r in tutorial_template.find_resources(
        "AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] in (own["Id"], group["Id"])]
    # then the ELB may open connections to its own host port on the instances, nothing else
    instance_sg = only(tutorial_template, "AWS::EC2::SecurityGroup",
                       {"GroupDescription": Match.string_like_regexp("container instances")})
    assert [(e["GroupId"]["Fn::GetAtt"][0], e["DestinationSecurityGroupId"]["Fn::GetAtt"][0],
             e["FromPort"], e["ToPort"]) for e in egress] == [
        (own["Id"], instance_sg["Id"], port, port)]
    # (the group's only egress entry is aws-cdk-lib's "disallow all" placeholder)
    assert [e["CidrIp"] for e in group["Properties"]["SecurityGroupEgress"]] == [
        "255.255.255.255/32"]


# --- database ----------------------------------------------------------------------------------


def test_mysql_is_private_encrypted_backed_up_and_snapshotted(tutorial_template: Template) -> None:
    tutorial_template.has_resource(
        "AWS::RDS::DBInstance",
        {
            "Properties": Match.object_like({
                "Engine": "mysql",
                "EngineVersion": "8.4.10",
                "DBInstanceClass": "db.t3.micro",
                "PubliclyAccessible": False,
                "StorageEncrypted": True,
                "BackupRetentionPeriod": 7,
                "DeletionProtection": True,
                "MasterUsername": "admin",
            }),
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
        },
    )


def test_mysql_runs_in_isolated_subnets(tutorial_template: Template) -> None:
    group = only(tutorial_template, "AWS::RDS::DBSubnetGroup")["Properties"]
    subnets = [ref["Ref"] for ref in group["SubnetIds"]]
    assert len(subnets) == 2 and all("IsolatedSubnet" in ref for ref in subnets), subnets


def _secret_of(template: Template, username: str) -> dict[str, Any]:
    """The generated secret whose template names this user."""
    found = [{"Id": i, **r} for i, r in template.find_resources(
        "AWS::SecretsManager::Secret").items()
        if re.search(rf'username\\?"\s*:\s*\\?"{username}\\?"',
                     json.dumps(r["Properties"]["GenerateSecretString"]["SecretStringTemplate"]))]
    assert len(found) == 1, f"expected one secret for user {username}, found {found}"
    return found[0]


def test_master_password_is_generated_into_secrets_manager(tutorial_template: Template) -> None:
    secret = _secret_of(tutorial_template, "admin")
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "password"
    assert json.loads(generate["SecretStringTemplate"]) == {"username": "admin"}
    tutorial_template.resource_count_is("AWS::SecretsManager::Secret", 1 + len(SERVICES))
    assert secret["DeletionPolicy"] == "Retain"
    db = only(tutorial_template, "AWS::RDS::DBInstance")["Properties"]
    password = json.dumps(db["MasterUserPassword"])
    assert "{{resolve:secretsmanager:" in password and secret["Id"] in password


def test_only_the_container_instances_and_the_provisioner_reach_mysql(
    tutorial_template: Template,
) -> None:
    db_sg = only(tutorial_template, "AWS::EC2::SecurityGroup",
                 {"GroupDescription": Match.string_like_regexp("^MySQL:")})
    assert "SecurityGroupIngress" not in db_sg["Properties"]
    ingress = tutorial_template.find_resources(
        "AWS::EC2::SecurityGroupIngress",
        {"Properties": {"GroupId": {"Fn::GetAtt": [db_sg["Id"], "GroupId"]}}},
    )
    rules = [r["Properties"] for r in ingress.values()]
    instance_sg = only(tutorial_template, "AWS::EC2::SecurityGroup",
                       {"GroupDescription": Match.string_like_regexp("container instances")})
    provisioner_sg = only(tutorial_template, "AWS::EC2::SecurityGroup",
                          {"GroupDescription": Match.string_like_regexp("provisioner")})
    assert sorted(json.dumps(r["SourceSecurityGroupId"]) for r in rules) == sorted(
        json.dumps({"Fn::GetAtt": [sg["Id"], "GroupId"]}) for sg in (instance_sg, provisioner_sg)
    )
    db_id = only(tutorial_template, "AWS::RDS::DBInstance")["Id"]
    for rule in rules:
        assert rule["FromPort"] == rule["ToPort"]
        assert rule["FromPort"] in ({"Fn::GetAtt": [db_id, "Endpoint.Port"]}, 3306)
    tutorial_template.has_resource_properties("AWS::RDS::DBInstance", {"Port": "3306"})


# --- tasks and services --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_task_definition_matches_the_tutorial(
    tutorial_template: Template, name: str, port: int
) -> None:
    tutorial_template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {"Family": name, "NetworkMode": "bridge", "RequiresCompatibilities": ["EC2"]},
    )
    container = container_of(tutorial_template, name)
    assert container["Name"] == name
    assert (container["Cpu"], container["Memory"], container["Essential"]) == (512, 1024, True)
    assert container["PortMappings"] == [
        {"ContainerPort": port, "HostPort": port, "Protocol": "tcp"}
    ]
    assert container["ExtraHosts"] == [{"Hostname": "googledns", "IpAddress": "8.8.8.8"}]


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_db_settings_come_as_environment_and_credentials_as_secrets(
    tutorial_template: Template, name: str, port: int
) -> None:
    container = container_of(tutorial_template, name)
    db_id = only(tutorial_template, "AWS::RDS::DBInstance")["Id"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    own = _secret_of(tutorial_template, name)["Id"]
    assert env == {"DB_HOST": {"Fn::GetAtt": [db_id, "Endpoint.Address"]},
                   "DB_PORT": "3306", "DB_NAME": name,
                   # re-read by the task when MySQL refuses DB_PWD (after a rotation)
                   "DB_SECRET_ARN": {"Ref": own},
                   # Cloud Map: another service is <its discoveryName>.<namespace>
                   "DISCOVERY_NAMESPACE": "app01.internal"}
    # the service's own user and secret, never the master's
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets == {
        "DB_USER": {"Fn::Join": ["", [{"Ref": own}, ":username::"]]},
        "DB_PWD": {"Fn::Join": ["", [{"Ref": own}, ":password::"]]},
    }


def _readers(template: Template, secret_id: str) -> set[str]:
    """Roles whose policies let them read a secret."""
    readers = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [
                statement["Action"]]
            if "secretsmanager:GetSecretValue" in actions and secret_id in json.dumps(
                    statement["Resource"]):
                readers |= {r["Ref"] for r in policy["Properties"]["Roles"]}
    return readers


def test_no_task_can_read_the_master_secret_or_another_services(
    tutorial_template: Template,
) -> None:
    roles = tutorial_template.find_resources("AWS::IAM::Role")
    task_roles = {i for i in roles if "TaskDefinition" in i}
    assert len(task_roles) == 4  # each task's execution role and task role
    master = _secret_of(tutorial_template, "admin")["Id"]
    attachment = only(tutorial_template, "AWS::SecretsManager::SecretTargetAttachment")["Id"]
    assert not (_readers(tutorial_template, master) | _readers(tutorial_template, attachment)) \
        & task_roles
    secrets = [i for i in tutorial_template.find_resources("AWS::SecretsManager::Secret")]
    for name, _ in SERVICES:
        own = _secret_of(tutorial_template, name)["Id"]
        readers = _readers(tutorial_template, own) & task_roles
        # ECS (execution role) injects DB_USER/DB_PWD; the task itself (task role) re-reads the
        # secret after a rotation: both of this service's roles, no other service's
        assert {r.split("TaskDefinition")[1][:8] for r in readers} == {"TaskRole", "Executio"}
        assert all(r.startswith(f"Services{name.title()}TaskDefinition") for r in readers), readers
    for role in task_roles:  # and each role reads exactly one secret: its own service's
        readable = {s for s in secrets if role in _readers(tutorial_template, s)}
        (service,) = [n for n, _ in SERVICES if role.startswith(f"Services{n.title()}")]
        assert readable == {_secret_of(tutorial_template, service)["Id"]}, (role, readable)


def test_tasks_start_only_after_their_database_users_exist(tutorial_template: Template) -> None:
    (users,) = tutorial_template.find_resources("Custom::DatabaseUsers")
    services = tutorial_template.find_resources("AWS::ECS::Service").values()
    assert len(services) == len(SERVICES)
    for service in services:
        assert users in service["DependsOn"]


def test_no_container_has_a_plaintext_credential(tutorial_template: Template) -> None:
    tasks = tutorial_template.find_resources("AWS::ECS::TaskDefinition").values()
    assert len(tasks) == len(SERVICES)
    for task in tasks:
        assert len(task["Properties"]["ContainerDefinitions"]) == 1
        for container in task["Properties"]["ContainerDefinitions"]:
            env = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
            assert not [n for n in env if any(w in n for w in ("PWD", "PASS", "SECRET"))
                        and n != "DB_SECRET_ARN"]
            # DB_SECRET_ARN names where the password is (a Ref to a secret), it is not one
            assert tutorial_template.to_json()["Resources"][env["DB_SECRET_ARN"]["Ref"]][
                "Type"] == "AWS::SecretsManager::Secret"
            assert secret_in("DB_SECRET_ARN", env["DB_SECRET_ARN"]) is None


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_container_logs_go_to_cloudwatch_with_retention(
    tutorial_template: Template, name: str, port: int
) -> None:
    log = container_of(tutorial_template, name)["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-stream-prefix"] == name
    group = tutorial_template.to_json()["Resources"][log["Options"]["awslogs-group"]["Ref"]]
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_service_rolls_out_200_50_with_circuit_breaker_behind_its_elb(
    tutorial_template: Template, name: str, port: int
) -> None:
    service = only(tutorial_template, "AWS::ECS::Service", {"ServiceName": name})["Properties"]
    assert service["DesiredCount"] == 4
    config = dict(service["DeploymentConfiguration"])
    alarms = config.pop("Alarms")  # deployment alarms: tests/app/test_stack_operations.py
    assert alarms["Enable"] is True and alarms["Rollback"] is True
    assert config == {
        "MaximumPercent": 200, "MinimumHealthyPercent": 50,
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
    }
    (lb,) = service["LoadBalancers"]
    assert (lb["ContainerName"], lb["ContainerPort"]) == (name, port)
    elb = tutorial_template.to_json()["Resources"][lb["LoadBalancerName"]["Ref"]]
    assert elb["Properties"]["Listeners"][0]["LoadBalancerPort"] == str(port)
    assert service["PlacementConstraints"] == [{"Type": "distinctInstance"}]
    assert service["HealthCheckGracePeriodSeconds"] == 60
    provider = only(tutorial_template, "AWS::ECS::CapacityProvider")["Id"]
    assert service["CapacityProviderStrategy"] == [{"CapacityProvider": {"Ref": provider},
                                                    "Weight": 1}]


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_images_are_built_from_docker_with_a_container_health_check(
    tutorial_stack: Any, tutorial_template: Template, name: str, port: int
) -> None:
    container = container_of(tutorial_template, name)
    image = container["Image"]["Fn::Sub"]
    assert ".dkr.ecr." in image and "container-assets" in image
    asset_hash = image.rsplit(":", 1)[1]
    outdir = Path(tutorial_stack.node.root.synth().directory)
    manifest = json.loads((outdir / f"{tutorial_stack.stack_name}.assets.json").read_text())
    source = manifest["dockerImages"][asset_hash]["source"]
    assert source["dockerBuildArgs"] == {"SERVICE": name, "PORT": str(port)}
    staged = outdir / source["directory"]
    other = {"location": "user", "user": "location"}[name]
    assert (staged / "Dockerfile").exists() and (staged / name / "service.json").exists()
    assert not (staged / other).exists()  # the other service's code is not in this image
    assert container["HealthCheck"] == {
        "Command": ["CMD", "python", "-m", "ecs_service.healthcheck"],
        "Interval": 30, "Timeout": 5, "Retries": 3, "StartPeriod": 15,
    }


def test_registry_image_override_runs_without_the_builtin_health_check() -> None:
    from tests.conftest import build_stack, template_of

    template = template_of(build_stack(**{"location.image": "srirajan/location:10"}))
    container = container_of(template, "location")
    assert container["Image"] == "srirajan/location:10"
    assert "HealthCheck" not in container


# --- network and outputs -------------------------------------------------------------------------


def test_vpc_has_public_private_and_isolated_subnets_in_two_azs(
    tutorial_template: Template,
) -> None:
    subnets = tutorial_template.find_resources("AWS::EC2::Subnet")
    kinds = sorted(
        next(t["Value"] for t in s["Properties"]["Tags"] if t["Key"] == "aws-cdk:subnet-type")
        for s in subnets.values()
    )
    assert kinds == ["Isolated", "Isolated", "Private", "Private", "Public", "Public"]
    tutorial_template.resource_count_is("AWS::EC2::FlowLog", 1)


def test_outputs_name_the_elbs_cluster_database_and_secret(tutorial_template: Template) -> None:
    outputs = tutorial_template.to_json()["Outputs"]
    assert {"ClusterName", "DatabaseEndpoint", "DatabaseSecretArn",
            "LocationLoadBalancerDnsName", "UserLoadBalancerDnsName"} <= set(outputs)
    assert "DNSName" in json.dumps(outputs["LocationLoadBalancerDnsName"]["Value"])


def test_capacity_headroom_is_recorded_for_the_summary(tutorial_template: Template) -> None:
    cluster = only(tutorial_template, "AWS::ECS::Cluster")
    headroom = cluster["Metadata"]["EcsPlayground::CapacityHeadroom"]
    assert headroom["peakTasks"] == 8
    assert headroom["freeCpuUnits"] == 4 * 2048 - 8 * 512
    assert headroom["minFreeCpuUnitsOnAnInstance"] == 1024


# --- safety defaults the security gates look for --------------------------------------------------


@pytest.mark.parametrize(("name", "port"), SERVICES)
def test_elb_access_logs_go_to_an_ssl_only_encrypted_bucket(
    tutorial_template: Template, name: str, port: int
) -> None:
    bucket = only(tutorial_template, "AWS::S3::Bucket")
    elb = only(tutorial_template, "AWS::ElasticLoadBalancing::LoadBalancer",
               {"Listeners": [Match.object_like({"LoadBalancerPort": str(port)})]})
    assert elb["Properties"]["AccessLoggingPolicy"] == {
        "Enabled": True, "EmitInterval": 5, "S3BucketName": {"Ref": bucket["Id"]},
        "S3BucketPrefix": name,
    }
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    policy = only(tutorial_template, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]
    assert {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}.items() \
        <= policy["Statement"][0].items()


def test_scaling_events_are_notified(tutorial_template: Template) -> None:
    topic = only(tutorial_template, "AWS::SNS::Topic",
                 {"DisplayName": Match.string_like_regexp("Auto Scaling")})["Id"]
    asg = only(tutorial_template, "AWS::AutoScaling::AutoScalingGroup")["Properties"]
    (notification,) = asg["NotificationConfigurations"]
    assert notification["TopicARN"] == {"Ref": topic}
    assert len(notification["NotificationTypes"]) == 4


def test_logs_and_credentials_use_the_rotated_platform_key(tutorial_template: Template) -> None:
    key = only(tutorial_template, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    key_ref = {"Fn::GetAtt": [key["Id"], "Arn"]}
    groups = tutorial_template.find_resources("AWS::Logs::LogGroup").values()
    assert len(groups) == 5  # the flow log's, each service's, the provisioner's, its provider's
    for group in groups:
        assert group["Properties"]["KmsKeyId"] == key_ref
    secrets = tutorial_template.find_resources("AWS::SecretsManager::Secret").values()
    assert len(secrets) == 3
    assert all(s["Properties"]["KmsKeyId"] == key_ref for s in secrets)


def test_database_has_enhanced_monitoring_and_no_unused_iam_auth(
    tutorial_template: Template,
) -> None:
    tutorial_template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"MonitoringInterval": 60, "EnableIAMDatabaseAuthentication": False,
         "KmsKeyId": Match.any_value()},
    )


def test_ecs_config_reaches_the_agent_file_verbatim_through_a_real_shell(tmp_path: Path) -> None:
    # given settings whose values need quoting in a shell (JSON) and plain ones
    from aws_cdk.assertions import Template as T

    from tests.factories import new_cluster

    settings = {"ECS_AVAILABLE_LOGGING_DRIVERS": '["json-file","awslogs"]',
                "ECS_LOGLEVEL": "warn", "ECS_INSTANCE_ATTRIBUTES": '{"team":"blue"}'}
    cluster = new_cluster(ecs_config=settings)
    (lt,) = T.from_stack(cluster.node.scope).find_resources(  # type: ignore[arg-type]
        "AWS::EC2::LaunchTemplate").values()
    script = lt["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"][1][0]
    lines = [line for line in script.splitlines() if "/etc/ecs/ecs.config" in line]
    # when the user data's ecs.config lines run in bash (into a scratch file)
    target = tmp_path / "ecs.config"
    body = "\n".join(lines).replace("/etc/ecs/ecs.config", str(target))
    subprocess.run(["bash", "-c", body], check=True)
    # then the agent's file holds exactly KEY=VALUE, one per line
    assert target.read_text().splitlines() == [
        "ECS_RESERVED_MEMORY=256", *(f"{k}={v}" for k, v in settings.items())
    ]


def _statements(template: Template, type_: str, key: str) -> list[dict[str, Any]]:
    return [s for r in template.find_resources(type_).values()
            for s in r["Properties"][key]["Statement"]]


def test_instance_role_cannot_write_into_any_log_group(tutorial_template: Template) -> None:
    # tasks log with their execution role (scoped to their log group), not the instances'
    role_policy = only(tutorial_template, "AWS::IAM::Policy",
                       {"Roles": [{"Ref": Match.string_like_regexp("ClusterInstanceRole")}]})
    actions = [a for s in role_policy["Properties"]["PolicyDocument"]["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert actions and not [a for a in actions if a.startswith("logs:")], actions


def test_every_resource_star_statement_is_one_we_reviewed(tutorial_template: Template) -> None:
    reviewed = {  # actions without resource-level permissions, or conditioned on our cluster
        "ecr:GetAuthorizationToken", "ecs:DiscoverPollEndpoint", "ecs:Poll",
        "ecs:StartTelemetrySession",
    }
    star = {a for s in _statements(tutorial_template, "AWS::IAM::Policy", "PolicyDocument")
            if s["Resource"] == "*"
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert star and star <= reviewed, star - reviewed


def test_access_log_writes_are_held_to_this_accounts_prefix(tutorial_template: Template) -> None:
    allows = [s for s in _statements(tutorial_template, "AWS::S3::BucketPolicy", "PolicyDocument")
              if s["Effect"] == "Allow"]
    assert len(allows) == 2
    for statement in allows:
        assert statement["Action"] == "s3:PutObject"
        assert statement["Resource"]["Fn::Join"][1][1:] == [
            "/*/AWSLogs/", {"Ref": "AWS::AccountId"}, "/*"
        ]
    (delivery,) = [s for s in allows if "Service" in s["Principal"]]
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_execution_and_task_roles_may_decrypt_the_secrets_key_through_secrets_manager(
    tutorial_template: Template,
) -> None:
    # without kms:Decrypt on the platform key, ECS cannot read the DB secret: tasks never start;
    # and a task could not re-read its rotated password
    key = only(tutorial_template, "AWS::KMS::Key")
    roles = {i for i, r in tutorial_template.find_resources("AWS::IAM::Role").items()
             if "ExecutionRole" in i or "TaskRole" in i}
    decrypt = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
               if s["Action"] == "kms:Decrypt" and "AWS" in s["Principal"]]
    granted = {p["Fn::GetAtt"][0] for s in decrypt for p in s["Principal"]["AWS"]
               if isinstance(p, dict) and "Fn::GetAtt" in p}
    assert len(roles) == 4 and roles <= granted, (roles, granted)
    assert all(s["Condition"]["StringEquals"]["kms:ViaService"] for s in decrypt)
