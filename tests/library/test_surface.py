"""The CDK surface an importer expects, used as an importer uses it: `connections`, `metric_*()`
(the very metrics the alarms and dashboards read), `grant_connect`, the `IServiceCluster`
protocol and `DatabaseUsersProps(database=...)`."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

import ecs_playground
from ecs_playground import (
    ClassicLoadBalancedService,
    ContainerCluster,
    DatabaseUsers,
    DatabaseUsersProps,
    ExistingMySqlDatabase,
    IMySqlDatabase,
    IServiceCluster,
    MySqlDatabase,
    PropsKeywordError,
    PropsValidationError,
)
from ecs_playground.capacity import ServiceDemand

from ..conftest import ROOT
from ..factories import existing_vpc, new_stack
from .importer import Shop, shop


def _id(shop: Shop, construct: Any) -> str:
    return shop.stack.get_logical_id(construct.node.default_child)


def _resources(template: Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    assert found, f"no {kind}"
    return found


# --- connections ------------------------------------------------------------------------------


def test_a_service_is_allowed_into_the_database_on_its_port() -> None:
    # given the importer's app, which calls database.connections.allow_default_port_from(service)
    built = shop()
    template = built.template()
    instances = built.stack.get_logical_id(built.cluster.security_group.node.default_child)
    database = built.stack.get_logical_id(built.database.security_group.node.default_child)
    port = {"Fn::GetAtt": [built.stack.get_logical_id(built.database.instance.node.default_child),
                           "Endpoint.Port"]}  # the instance's port: 3306
    # then the database's group admits MySQL from the service's tasks (their instances' group)
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "GroupId": {"Fn::GetAtt": [database, "GroupId"]},
        "SourceSecurityGroupId": {"Fn::GetAtt": [instances, "GroupId"]},
        "Description": "MySQL from the web service",
    })
    # ... and the instances may send MySQL to it (their group has no open egress)
    template.has_resource_properties("AWS::EC2::SecurityGroupEgress", {
        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
        "GroupId": {"Fn::GetAtt": [instances, "GroupId"]},
        "DestinationSecurityGroupId": {"Fn::GetAtt": [database, "GroupId"]},
    })


def test_the_cluster_and_the_service_connect_as_the_instances() -> None:
    built = shop()
    assert ec2.IConnectable in type(built.cluster).__jsii_ifaces__  # type: ignore[attr-defined]
    for connectable in (built.cluster, built.service):
        groups = connectable.connections.security_groups
        assert [g.node.path for g in groups] == [built.cluster.security_group.node.path]
    assert built.database.connections.default_port is not None


def test_a_service_has_no_default_port_to_open_on_its_instances() -> None:
    # clients reach a service through its load balancer, never its instances directly
    built = shop()
    with pytest.raises(Exception, match="default port"):
        built.service.connections.allow_default_port_from_any_ipv4()


# --- metrics: one definition for the alarms and the dashboards ---------------------------------


def _alarm(template: Template, shop: Shop, owner: Any, name: str) -> dict[str, Any]:
    alarm = owner.alarms[name]
    logical = shop.stack.get_logical_id(alarm.node.default_child)
    found: dict[str, Any] = template.to_json()["Resources"][logical]["Properties"]
    return found


def _dashboard(template: Template) -> str:
    bodies = [json.dumps(r["Properties"]["DashboardBody"])
              for r in _resources(template, "AWS::CloudWatch::Dashboard").values()]
    return "".join(bodies)


def test_the_service_metrics_are_public_and_one_minute() -> None:
    built = shop()
    metrics = {name: getattr(built.service, name)() for name in (
        "metric_request_count", "metric_backend_5xx_count", "metric_latency",
        "metric_healthy_host_count", "metric_unhealthy_host_count", "metric_cpu_utilization",
        "metric_memory_utilization", "metric_running_task_count", "metric_desired_task_count")}
    assert metrics
    for name, metric in metrics.items():
        assert isinstance(metric, cw.Metric), name
        assert metric.period.to_seconds() == 60, name
    assert metrics["metric_latency"].statistic == "p99"
    assert metrics["metric_cpu_utilization"].namespace == "AWS/ECS"
    five_minutes = built.service.metric_latency(statistic="p50", period=Duration.minutes(5))
    assert (five_minutes.statistic, five_minutes.period.to_seconds()) == ("p50", 300)
    assert isinstance(built.service.metric_backend_5xx_rate(), cw.MathExpression)


class _P95Service(ClassicLoadBalancedService):
    """An importer's service that redefines its latency metric."""

    def metric_latency(self, *, statistic: str = "p95", period: Duration | None = None,
                       label: str | None = None) -> cw.Metric:
        return super().metric_latency(statistic=statistic, period=period, label=label)


def test_the_alarm_and_the_dashboard_read_the_services_metric_method() -> None:
    # given a service whose metric_latency says p95: both its alarm and the dashboard follow
    built = shop(service_class=_P95Service)
    template = built.template()
    assert _alarm(template, built, built.service, "LatencyP99")["ExtendedStatistic"] == "p95"
    body = _dashboard(template)
    assert '\\"Latency\\"' in body and '\\"stat\\":\\"p95\\"' in body
    assert '\\"stat\\":\\"p99\\"' not in body


def test_the_database_and_cluster_alarms_read_their_metric_methods() -> None:
    built = shop()
    template = built.template()
    cpu = built.database.metric_cpu_utilization()
    alarm = _alarm(template, built, built.database, "Cpu")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        cpu.namespace, cpu.metric_name, cpu.statistic, 60)
    reservation = built.cluster.metric_cpu_reservation(statistic="Maximum")
    alarm = _alarm(template, built, built.cluster, "CpuReservation")
    assert (alarm["MetricName"], alarm["Statistic"]) == (reservation.metric_name, "Maximum")
    in_service = _alarm(template, built, built.cluster, "InstancesInService")
    assert in_service["MetricName"] == built.cluster.metric_instances_in_service().metric_name
    body = _dashboard(template)
    for metric in (built.database.metric_free_storage_space(),
                   built.cluster.metric_memory_reservation(),
                   built.cluster.metric_desired_instances()):
        assert f'\\"{metric.metric_name}\\"' in body, metric.metric_name


# --- grant_connect ------------------------------------------------------------------------------


def test_grant_connect_allows_one_user_with_iam_authentication() -> None:
    # given a database with IAM authentication and a role of the importer
    built = shop(iam_authentication=True)
    role = iam.Role(built.stack, "Reporting", assumed_by=iam.AccountRootPrincipal())
    # when the role is granted to log in as 'reporting'
    built.database.grant_connect(role, "reporting")
    # then it may rds-db:connect as that user on that instance only
    template = built.template()
    instance = built.stack.get_logical_id(built.database.instance.node.default_child)
    template.has_resource_properties("AWS::IAM::Policy", {
        "Roles": [{"Ref": built.stack.get_logical_id(role.node.default_child)}],
        "PolicyDocument": {"Statement": [{
            "Action": "rds-db:connect", "Effect": "Allow",
            "Resource": {"Fn::Join": ["", Match.array_with([
                Match.string_like_regexp(":dbuser:"),
                {"Fn::GetAtt": [instance, "DbiResourceId"]}, "/reporting"])]},
        }]},
    })
    template.has_resource_properties("AWS::RDS::DBInstance",
                                     {"EnableIAMDatabaseAuthentication": True})


def test_grant_connect_refuses_when_iam_authentication_is_off() -> None:
    built = shop()
    role = iam.Role(built.stack, "Reporting", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(PropsValidationError) as err:
        built.database.grant_connect(role, "reporting")
    assert [p.prop for p in err.value.problems] == ["iam_authentication"]
    assert "set iam_authentication=True in MySqlDatabaseProps" in str(err.value)
    assert not built.template().find_resources("AWS::IAM::Policy", {"Properties": {
        "Roles": [{"Ref": built.stack.get_logical_id(role.node.default_child)}]}})


def test_grant_connect_never_hands_out_the_master_user() -> None:
    built = shop(iam_authentication=True)
    role = iam.Role(built.stack, "Reporting", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(PropsValidationError, match="a user other than the master user"):
        built.database.grant_connect(role, "admin")


# --- a cluster that admits services ------------------------------------------------------------


class _CountingCluster:
    """An importer's own cluster that admits services: it delegates to a ContainerCluster and
    counts the services (no ContainerCluster isinstance check may refuse it)."""

    def __init__(self, inner: ContainerCluster) -> None:
        self.inner = inner
        self.registered: list[str] = []
        self.ecs_cluster = inner.ecs_cluster
        self.vpc = inner.vpc
        self.security_group = inner.security_group
        self.capacity_provider_name = inner.capacity_provider_name
        self.namespace = inner.namespace
        self.container_insights = inner.container_insights

    def register_service(self, demand: ServiceDemand) -> None:
        self.registered.append(demand.name)
        self.inner.register_service(demand)

    def admit_load_balancer(self, host_port: int) -> ec2.ISecurityGroup:
        return self.inner.admit_load_balancer(host_port)


def test_any_cluster_that_admits_services_gets_them() -> None:
    stack = new_stack("OwnCluster")
    own = _CountingCluster(ContainerCluster(stack, "Cluster", vpc=existing_vpc(stack)))
    assert isinstance(own, IServiceCluster) and "IServiceCluster" in ecs_playground.__all__
    ClassicLoadBalancedService(stack, "Web", name="web", cluster=own, container_port=8080,
                               image=ecs.ContainerImage.from_registry("nginx:1.27"))
    # the service registered its demand and runs with the cluster's capacity provider
    assert own.registered == ["web"]
    Template.from_stack(stack).has_resource_properties("AWS::ECS::Service", {
        "CapacityProviderStrategy": [Match.object_like({"Weight": 1})]})


def test_the_library_checks_no_cluster_by_its_class() -> None:
    offenders = []
    for path in sorted((ROOT / "ecs_playground").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance"
                    and "ContainerCluster" in ast.unparse(node.args[1])):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


# --- DatabaseUsersProps(database=...) ----------------------------------------------------------


def test_database_users_take_the_database_as_one_value() -> None:
    built = shop()
    assert isinstance(built.database, IMySqlDatabase)
    users = built.template().find_resources("Custom::DatabaseUsers")
    assert len(users) == 1
    resource = next(iter(users.values()))
    instance = built.stack.get_logical_id(built.database.instance.node.default_child)
    secret = built.stack.get_logical_id(built.database.secret.node.default_child)
    assert resource["Properties"]["Endpoint"] == {"Fn::GetAtt": [instance, "Endpoint.Address"]}
    assert resource["Properties"]["MasterSecretArn"] == {"Ref": secret}
    assert resource["Properties"]["Port"] == "3306"
    assert instance in resource["DependsOn"]


def test_an_existing_database_is_described_once() -> None:
    stack = new_stack("Existing")
    group = ec2.SecurityGroup.from_security_group_id(stack, "DbSg", "sg-0123456789abcdef0")
    database = ExistingMySqlDatabase(
        vpc=existing_vpc(stack), hostname="shop.example.internal", port=3307,
        secret=secretsmanager.Secret.from_secret_name_v2(stack, "Admin", "shop-admin"),
        security_groups=[group])
    DatabaseUsers(stack, "DatabaseUsers", database=database, services={"web": "web"})
    template = Template.from_stack(stack)
    template.has_resource_properties("Custom::DatabaseUsers", {
        "Endpoint": "shop.example.internal", "Port": "3307"})
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", {
        "GroupId": "sg-0123456789abcdef0", "FromPort": 3307, "ToPort": 3307})


def test_the_databases_instance_is_refused_with_what_to_pass() -> None:
    built = shop()
    props = DatabaseUsersProps(database=built.database.instance,  # type: ignore[arg-type]
                               services={"web": "web"})
    problems = props.validate()
    assert [p.prop for p in problems] == ["database"]
    assert "pass the MySqlDatabase itself (not its instance)" in problems[0].fix


def test_the_former_loose_keywords_say_where_they_went() -> None:
    built = shop()
    with pytest.raises(PropsKeywordError) as err:
        DatabaseUsers(built.stack, "Old", vpc=built.database.vpc,  # type: ignore[call-overload]
                      master_secret=built.database.secret, services={"web": "web"})
    message = str(err.value)
    assert "the VPC now comes from `database`" in message
    assert "the admin secret now comes from `database`" in message


def test_the_library_exports_what_the_docs_name() -> None:
    for name in ("Monitoring", "MonitoringProps", "IServiceCluster", "IMySqlDatabase",
                 "ExistingMySqlDatabase", "PlatformMonitoring"):
        assert name in ecs_playground.__all__, name
    assert ecs_playground.PlatformMonitoring is ecs_playground.Monitoring
    assert isinstance(MySqlDatabase, type)


def test_the_former_module_paths_still_import() -> None:
    # what an importer may have written before the modules were cut along their seams
    from ecs_playground.classic_service import (
        ClassicLoadBalancedServiceProps,
        registry_image_name,
    )
    from ecs_playground.container_cluster import ContainerClusterProps, egress_rule
    from ecs_playground.database import MYSQL_PORT, MySqlDatabaseProps
    from ecs_playground.monitoring import PlatformMonitoring, PlatformMonitoringProps

    assert ClassicLoadBalancedServiceProps is ecs_playground.ClassicLoadBalancedServiceProps
    assert ContainerClusterProps is ecs_playground.ContainerClusterProps
    assert MySqlDatabaseProps is ecs_playground.MySqlDatabaseProps
    assert PlatformMonitoringProps is ecs_playground.MonitoringProps
    assert PlatformMonitoring is ecs_playground.Monitoring
    assert MYSQL_PORT == 3306 and callable(registry_image_name) and callable(egress_rule)
