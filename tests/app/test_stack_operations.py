"""Operating the app's platform (issue 12): its alarms and where they go, deployment alarms, the
dashboard, task and instance autoscaling, AMI rollout, service discovery and private registries,
as the tutorial's platform and the 'everything on' scenario (both synthesized once per session)
configure them."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from ecs_playground_app.stack import PlatformError
from tests.conftest import EVERYTHING_ON, build_stack, template_of

ELB = {"location": "ServicesLocationLoadBalancer2ECC3FDD",
       "user": "ServicesUserLoadBalancerF1E9343A"}
SERVICE = {"location": "ServicesLocationService4D45543D", "user": "ServicesUserService8C9A362B"}
TOPIC = "MonitoringAlarmTopicAF62D4F1"


def resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


def alarm(template: Template, prefix: str) -> dict[str, Any]:
    """The one alarm whose logical ID starts with `prefix`."""
    found = [r["Properties"] for i, r in resources(template, "AWS::CloudWatch::Alarm").items()
             if i.startswith(prefix)]
    assert len(found) == 1, f"expected one alarm {prefix}*, found {len(found)}"
    return found[0]


def metric_stats(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarm's metrics by name: namespace, dimensions, statistic."""
    if "MetricName" in props:
        return {props["MetricName"]: {
            "Namespace": props["Namespace"], "Stat": props.get("Statistic")
            or props.get("ExtendedStatistic"),
            "Dimensions": {d["Name"]: d["Value"] for d in props["Dimensions"]}}}
    found = {}
    for m in props["Metrics"]:
        if "MetricStat" in m:
            stat = m["MetricStat"]
            found[stat["Metric"]["MetricName"]] = {
                "Namespace": stat["Metric"]["Namespace"], "Stat": stat["Stat"],
                "Dimensions": {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}}
    return found


# --- alarms: one per check, with metric, dimension, threshold and action ----------------------

SERVICE_ALARMS = [
    # (alarm, metric, namespace, statistic, comparison, threshold, minutes)
    ("UnhealthyHosts", "UnHealthyHostCount", "AWS/ELB", "Maximum", "GreaterThanThreshold", 0, 3),
    ("Backend5xxRate", "HTTPCode_Backend_5XX", "AWS/ELB", "Sum", "GreaterThanThreshold", 5, 3),
    ("LatencyP99", "Latency", "AWS/ELB", "p99", "GreaterThanThreshold", 2, 5),
    ("CpuUtilization", "CPUUtilization", "AWS/ECS", "Average", "GreaterThanThreshold", 90, 10),
    ("MemoryUtilization", "MemoryUtilization", "AWS/ECS", "Average", "GreaterThanThreshold",
     90, 10),
    ("RunningBelowDesired", "RunningTaskCount", "ECS/ContainerInsights", "Average",
     "GreaterThanThreshold", 0, 10),
]


@pytest.mark.parametrize("service", ["location", "user"])
@pytest.mark.parametrize(("name", "metric", "namespace", "stat", "comparison", "threshold",
                          "minutes"), SERVICE_ALARMS, ids=[a[0] for a in SERVICE_ALARMS])
def test_each_service_alarm_watches_its_metric_and_notifies_the_topic(
    tutorial_template: Template, service: str, name: str, metric: str, namespace: str, stat: str,
    comparison: str, threshold: float, minutes: int,
) -> None:
    props = alarm(tutorial_template, f"Services{service.title()}Alarms{name}")
    found = metric_stats(props)[metric]
    assert (found["Namespace"], found["Stat"]) == (namespace, stat)
    if namespace == "AWS/ELB":
        assert found["Dimensions"] == {"LoadBalancerName": {"Ref": ELB[service]}}
    else:
        assert found["Dimensions"]["ServiceName"] == {"Fn::GetAtt": [SERVICE[service], "Name"]}
        assert found["Dimensions"]["ClusterName"] == {"Ref": "ClusterC2E21B66"}
    assert (props["ComparisonOperator"], props["Threshold"]) == (comparison, threshold)
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == minutes
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": TOPIC}]
    assert props["TreatMissingData"] == "notBreaching"


def test_5xx_alarm_is_a_rate_over_the_request_count(tutorial_template: Template) -> None:
    props = alarm(tutorial_template, "ServicesLocationAlarmsBackend5xxRate")
    (expression,) = [m["Expression"] for m in props["Metrics"] if "Expression" in m]
    assert expression == "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    assert set(metric_stats(props)) == {"HTTPCode_Backend_5XX", "RequestCount"}


def test_running_below_desired_compares_container_insights_counts(
    tutorial_template: Template,
) -> None:
    props = alarm(tutorial_template, "ServicesUserAlarmsRunningBelowDesired")
    assert [m["Expression"] for m in props["Metrics"] if "Expression" in m] == [
        "desired - running"]
    assert set(metric_stats(props)) == {"DesiredTaskCount", "RunningTaskCount"}


PLATFORM_ALARMS = [
    # (alarm, metric, namespace, dimension, comparison, threshold, minutes)
    ("ClusterAlarmsCpuReservation", "CPUReservation", "AWS/ECS", "ClusterName",
     "GreaterThanThreshold", 90, 15),
    ("ClusterAlarmsMemoryReservation", "MemoryReservation", "AWS/ECS", "ClusterName",
     "GreaterThanThreshold", 90, 15),
    ("ClusterAlarmsInstancesInService", "GroupInServiceInstances", "AWS/AutoScaling",
     "AutoScalingGroupName", "LessThanThreshold", 4, 10),
    ("DatabaseAlarmsCpu", "CPUUtilization", "AWS/RDS", "DBInstanceIdentifier",
     "GreaterThanThreshold", 80, 10),
    ("DatabaseAlarmsFreeStorage", "FreeStorageSpace", "AWS/RDS", "DBInstanceIdentifier",
     "LessThanThreshold", 2 * 1024**3, 10),
    ("DatabaseAlarmsFreeableMemory", "FreeableMemory", "AWS/RDS", "DBInstanceIdentifier",
     "LessThanThreshold", 64 * 1024**2, 10),
    ("DatabaseAlarmsConnections", "DatabaseConnections", "AWS/RDS", "DBInstanceIdentifier",
     "GreaterThanThreshold", 50, 10),
]


@pytest.mark.parametrize(("name", "metric", "namespace", "dimension", "comparison", "threshold",
                          "minutes"), PLATFORM_ALARMS, ids=[a[0] for a in PLATFORM_ALARMS])
def test_each_cluster_and_database_alarm_watches_its_metric_and_notifies_the_topic(
    tutorial_template: Template, name: str, metric: str, namespace: str, dimension: str,
    comparison: str, threshold: float, minutes: int,
) -> None:
    props = alarm(tutorial_template, name)
    found = metric_stats(props)[metric]
    assert found["Namespace"] == namespace and list(found["Dimensions"]) == [dimension]
    assert (props["ComparisonOperator"], props["Threshold"]) == (comparison, threshold)
    assert props["EvaluationPeriods"] == minutes
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": TOPIC}]


def test_the_tutorial_has_exactly_these_alarms(tutorial_template: Template) -> None:
    assert len(resources(tutorial_template, "AWS::CloudWatch::Alarm")) == (
        2 * len(SERVICE_ALARMS) + len(PLATFORM_ALARMS))


def test_in_service_alarm_has_the_group_metrics_it_reads(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties("AWS::AutoScaling::AutoScalingGroup", {
        "MetricsCollection": [{"Granularity": "1Minute", "Metrics": Match.array_with(
            ["GroupInServiceInstances"])}],
    })


def test_alarm_topic_is_encrypted_with_the_platform_key_and_is_an_output(
    tutorial_template: Template,
) -> None:
    topic = resources(tutorial_template, "AWS::SNS::Topic")[TOPIC]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["EncryptionKey1B843E66", "Arn"]}
    key_policy = resources(tutorial_template, "AWS::KMS::Key")["EncryptionKey1B843E66"]
    statements = key_policy["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
               and "kms:GenerateDataKey*" in s["Action"] for s in statements)
    assert tutorial_template.to_json()["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": TOPIC}
    tutorial_template.resource_count_is("AWS::SNS::Subscription", 0)  # empty list by default


def test_email_subscriptions_come_from_the_context_list(everything_template: Template) -> None:
    subs = resources(everything_template, "AWS::SNS::Subscription").values()
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subs) == [
        ("email", "oncall@example.org"), ("email", "ops@example.org")]
    assert all(s["Properties"]["TopicArn"] == {"Ref": TOPIC} for s in subs)


# --- deployment alarms ----------------------------------------------------------------------


@pytest.mark.parametrize("service", ["location", "user"])
def test_deployment_rolls_back_on_its_own_unhealthy_host_and_5xx_alarms(
    tutorial_template: Template, service: str,
) -> None:
    config = resources(tutorial_template, "AWS::ECS::Service")[SERVICE[service]][
        "Properties"]["DeploymentConfiguration"]
    alarm_ids = [ref["Ref"] for ref in config["Alarms"]["AlarmNames"]]
    prefix = f"Services{service.title()}Alarms"
    assert [i.removeprefix(prefix)[:-8] for i in alarm_ids] == ["UnhealthyHosts",
                                                                 "Backend5xxRate"]
    assert config["Alarms"]["Enable"] is True and config["Alarms"]["Rollback"] is True
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    # the deployment alarms name the ELB, never the service: no circular dependency
    for alarm_id in alarm_ids:
        text = json.dumps(resources(tutorial_template, "AWS::CloudWatch::Alarm")[alarm_id])
        assert SERVICE[service] not in text and ELB[service] in text


def test_deployment_alarms_add_no_circular_dependency_note_to_every_synth(
    tutorial_stack: cdk.Stack,
) -> None:
    # given the default app, whose services roll back on their alarms (the test above)
    # when it is synthesized, then no note says those alarms "may cause a circular dependency":
    # they cannot (they name the ELB), and a note a user cannot act on is noise
    notes = Annotations.from_stack(tutorial_stack).find_info(
        "*", Match.string_like_regexp("circular dependency")
    )
    assert notes == []


# --- dashboard ------------------------------------------------------------------------------


def test_one_dashboard_shows_every_service_cluster_and_database(
    tutorial_template: Template,
) -> None:
    (dashboard,) = resources(tutorial_template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("RequestCount", "HTTPCode_Backend_5XX", "p99", "UnHealthyHostCount",
                   "HealthyHostCount", *ELB.values(), "CPUUtilization", "MemoryUtilization",
                   "RunningTaskCount", "DesiredTaskCount", "CPUReservation",
                   "MemoryReservation", "GroupInServiceInstances", "DBInstanceIdentifier",
                   "FreeStorageSpace", "FreeableMemory", "DatabaseConnections"):
        assert needle in body, needle
    url = json.dumps(tutorial_template.to_json()["Outputs"]["DashboardUrl"]["Value"])
    assert "#dashboards:name=" in url and "MonitoringDashboard" in url


# --- autoscaling ------------------------------------------------------------------------------


def test_tasks_scale_between_min_and_max_on_cpu_and_memory(
    everything_template: Template,
) -> None:
    targets = resources(everything_template, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert sorted((t["Properties"]["MinCapacity"], t["Properties"]["MaxCapacity"])
                  for t in targets.values()) == [(2, 5), (2, 5)]
    policies = [p["Properties"] for p in resources(
        everything_template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    found = sorted(
        (p["PolicyName"].split("Scaling")[0][-8:],
         p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
             "PredefinedMetricType"],
         p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
         p["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"],
         p["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"])
        for p in policies)
    assert sorted(f[1:] for f in found) == sorted([
        ("ECSServiceAverageCPUUtilization", 70, 300, 60),
        ("ECSServiceAverageMemoryUtilization", 80, 300, 60),  # location only
        ("ECSServiceAverageCPUUtilization", 70, 300, 60),     # user: memory off (None)
    ])


def test_with_autoscaling_a_deployment_keeps_the_count_autoscaling_set(
    tutorial_template: Template, everything_template: Template,
) -> None:
    """aws-cdk issue 3919: no DesiredCount in the template, so an update leaves the count."""
    for service_id in SERVICE.values():
        scaled = resources(everything_template, "AWS::ECS::Service")[service_id]
        assert "DesiredCount" not in scaled["Properties"], service_id
        fixed = resources(tutorial_template, "AWS::ECS::Service")[service_id]
        assert fixed["Properties"]["DesiredCount"] == 4
    tutorial_template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_instances_scale_between_min_and_max_through_managed_scaling(
    everything_template: Template,
) -> None:
    everything_template.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup", {"MinSize": "2", "MaxSize": "6"})
    everything_template.has_resource_properties("AWS::ECS::CapacityProvider", {
        "AutoScalingGroupProvider": Match.object_like({"ManagedScaling": Match.object_like(
            {"Status": "ENABLED", "TargetCapacity": 90})})})


# --- AMI rollout ------------------------------------------------------------------------------


def test_an_ami_change_rolls_the_instances_one_at_a_time(tutorial_template: Template) -> None:
    (group,) = resources(tutorial_template, "AWS::AutoScaling::AutoScalingGroup").values()
    policy = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    # 4 instances, 75 % stay in service (CloudFormation needs it below MaxSize 4)
    assert (policy["MaxBatchSize"], policy["MinInstancesInService"], policy["PauseTime"]) == (
        1, 3, "PT5M")
    tutorial_template.has_resource_properties("AWS::ECS::CapacityProvider", {
        "AutoScalingGroupProvider": Match.object_like({"ManagedDraining": "ENABLED"})})


def test_a_pinned_ami_is_the_launch_templates_image(everything_template: Template) -> None:
    (template,) = resources(everything_template, "AWS::EC2::LaunchTemplate").values()
    assert template["Properties"]["LaunchTemplateData"]["ImageId"] == "ami-0123456789abcdef0"
    assert "Parameters" not in everything_template.to_json() or not any(
        "optimized-ami" in json.dumps(p) for p in everything_template.to_json()[
            "Parameters"].values())


# --- service discovery ------------------------------------------------------------------------


def test_cloud_map_namespace_is_private_dns_in_the_vpc(tutorial_template: Template) -> None:
    tutorial_template.has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace", {
        "Name": "app01.internal", "Vpc": {"Ref": "Vpc8378EB38"}})


@pytest.mark.parametrize(("service", "name", "port"), [("location", "location", 8081),
                                                        ("user", "user", 9091)])
def test_each_service_registers_an_srv_record_with_its_host_port(
    tutorial_template: Template, service: str, name: str, port: int,
) -> None:
    tutorial_template.has_resource_properties("AWS::ServiceDiscovery::Service", {
        "Name": name, "DnsConfig": Match.object_like({"DnsRecords": [{"TTL": 10,
                                                                       "Type": "SRV"}]})})
    registries = resources(tutorial_template, "AWS::ECS::Service")[SERVICE[service]][
        "Properties"]["ServiceRegistries"]
    assert registries[0]["ContainerName"] == service and registries[0]["ContainerPort"] == port


def environment(template: Template, family: str) -> dict[str, Any]:
    (task,) = [t for t in resources(template, "AWS::ECS::TaskDefinition").values()
               if t["Properties"]["Family"] == family]
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_each_service_gets_the_namespace_and_no_other_services_name(
    everything_template: Template,
) -> None:
    # a service reaches another at <discoveryName>.$DISCOVERY_NAMESPACE (user registers as
    # 'users' here); no variable names another service, so adding one rolls out no other
    for family in ("location", "user"):
        env = environment(everything_template, family)
        assert env["DISCOVERY_NAMESPACE"] == "app01.internal"
        assert [k for k in env if "DISCOVERY" in k] == ["DISCOVERY_NAMESPACE"], env
    registries = resources(everything_template, "AWS::ServiceDiscovery::Service")
    assert sorted(r["Properties"]["Name"] for r in registries.values()) == ["location", "users"]


def test_adding_a_service_leaves_the_others_task_definitions_unchanged() -> None:
    def task_definitions(**overrides: Any) -> dict[str, Any]:
        template = template_of(build_stack(**EVERYTHING_ON, **overrides))
        return {t["Properties"]["Family"]: t["Properties"]
                for t in resources(template, "AWS::ECS::TaskDefinition").values()}

    before = task_definitions()
    after = task_definitions(**{
        "services": "location,user,orders", "orders.image": "example/orders:1",
        "orders.containerPort": 7001, "orders.stack": "platform", "orders.desiredCount": 1,
        "orders.cpu": 128, "orders.memoryLimitMib": 256,
    })
    assert {k: after[k] for k in before} == before


# --- private registries -----------------------------------------------------------------------

REGISTRY_SECRET = ":secret:ecs-playground/registry-??????"


def test_a_private_image_pulls_with_the_named_secret(everything_template: Template) -> None:
    (task,) = [t for t in resources(everything_template, "AWS::ECS::TaskDefinition").values()
               if t["Properties"]["Family"] == "location"]
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == "registry.example.org/team/location:10"
    assert ":secret:ecs-playground/registry\"" in json.dumps(container["RepositoryCredentials"])


def test_only_that_services_execution_role_reads_the_registry_secret(
    everything_template: Template,
) -> None:
    readers = []
    for policy_id, policy in resources(everything_template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if REGISTRY_SECRET in json.dumps(statement["Resource"]):
                readers.append(policy_id)
                assert sorted(statement["Action"]) == ["secretsmanager:DescribeSecret",
                                                       "secretsmanager:GetSecretValue"]
    assert readers == ["ServicesLocationTaskDefinitionExecutionRoleDefaultPolicy7D41EB56"]


def test_registry_credentials_need_a_registry_image() -> None:
    with pytest.raises(PlatformError, match=r"location\.repositoryCredentials = 'reg': only with"):
        build_stack(**{"location.repositoryCredentials": "reg"})

