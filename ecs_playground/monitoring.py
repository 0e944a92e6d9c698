"""Where alarms go and what operators look at: one encrypted SNS topic and one dashboard, fed by
the alarms and the `metric_*()` methods of the cluster, the services and the database.

`Monitoring` (construct ID of your choice) was called `PlatformMonitoring`; that name stays as a
deprecated alias.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from .alarms import PERIOD
from .classic_service import ClassicLoadBalancedService
from .classic_service_alarms import ServiceMetrics
from .container_cluster import ContainerCluster
from .database import MySqlDatabase
from .keywords import keywords_of, props_or_keywords
from .props import doc, documented, setting
from .validation import Checker, validator

EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
WIDTH = 24
"""A dashboard row is 24 units wide."""

SERVICE_WIDGETS: tuple[tuple[str, Callable[[ServiceMetrics, str], cw.Metric]], ...] = (
    ("Requests per minute (ELB)", lambda s, label: s.metric_request_count(label=label)),
    ("Backend 5XX per minute (ELB)", lambda s, label: s.metric_backend_5xx_count(label=label)),
    ("Latency p99, seconds (ELB)", lambda s, label: s.metric_latency(label=label)),
    ("Unhealthy instances (ELB)", lambda s, label: s.metric_unhealthy_host_count(label=label)),
    ("Healthy instances (ELB)", lambda s, label: s.metric_healthy_host_count(label=label)),
)
"""The per-service widgets of every services dashboard: title, and the service's metric it adds
one line for, given the line's label (the service's name). Two rows: the first three, then the
rest."""

SERVICE_SEARCH_WIDGETS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Service CPU utilization, %", "AWS/ECS", "CPUUtilization", None),
    ("Service memory utilization, %", "AWS/ECS", "MemoryUtilization", None),
    ("Running (and desired) tasks", "ECS/ContainerInsights", "RunningTaskCount",
     "DesiredTaskCount"),
)
"""The cluster-wide ECS widgets of `Monitoring`: title, namespace, the metric on the left axis and
the one on the right (if any), each a search that finds every service of the cluster (Average)."""


def heading(text: str) -> cw.TextWidget:
    """A section heading across a dashboard row."""
    return cw.TextWidget(markdown=f"## {text}", width=WIDTH, height=1)


@documented
@dataclass(frozen=True, kw_only=True)
class MonitoringProps:
    """Where alarms go, and the dashboard. Defaults are neutral: no subscriber, generated
    names."""

    email_subscriptions: Sequence[str] = field(default=(), metadata=setting(
        "E-mail addresses subscribed to the alarm topic (each must confirm the subscription "
        "mail). Default: none; subscribe a pager or chat integration to the topic yourself."))
    dashboard_name: str | None = field(default=None, metadata=setting(
        "Physical name of the CloudWatch dashboard (1-255 letters, digits, '-', '_'). Default: "
        "CloudFormation generates one."))
    encryption_key: kms.IKey | None = field(default=None, metadata=doc(
        "Customer managed KMS key for the alarm topic; the construct lets CloudWatch use it "
        "(a key policy statement, on a key of this app). Default: a new key with rotation. "
        "The AWS-managed SNS key cannot be used: CloudWatch may not use it to publish."))

    @validator
    def validate(self, check: Checker) -> None:
        for address in self.email_subscriptions:
            check.pattern(
                "email_subscriptions", address, EMAIL_PATTERN, "e-mail addresses",
                "write each as name@example.org",
            )
        check.physical_name("dashboard_name", self.dashboard_name, "rename it, or leave it unset")


class ServicesWidgets:
    """The per-service widgets of a dashboard (`SERVICE_WIDGETS`): a new service adds one line
    to each, not new widgets."""

    def __init__(self, dashboard: cw.Dashboard) -> None:
        self._widgets = [(cw.GraphWidget(title=title, width=8, height=6, period=PERIOD), read)
                         for title, read in SERVICE_WIDGETS]
        widgets = [widget for widget, _ in self._widgets]
        dashboard.add_widgets(*widgets[:3])
        dashboard.add_widgets(*widgets[3:])

    def add(self, service: ClassicLoadBalancedService) -> None:
        """One line per widget for the service, labelled with its name."""
        for widget, read in self._widgets:
            # labelled when made: `metric.with_(label=...)` would be a second jsii round trip
            widget.add_left_metric(read(service, service.name))


class Monitoring(Construct):
    """An encrypted SNS topic that every alarm added here notifies (ALARM and OK), and one
    CloudWatch dashboard.

    The dashboard has a fixed set of widgets, grouped by metric (requests, 5XX, latency,
    unhealthy hosts; service CPU/memory and running vs desired tasks; cluster; database): a new
    service adds one line per ELB widget, not new widgets, and the ECS widgets find every
    service of the cluster with a metric search. Attributes: `topic`, `dashboard`,
    `encryption_key`.
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: MonitoringProps) -> None: ...
    @overload
    @keywords_of(MonitoringProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(MonitoringProps)
    def __init__(self, scope: Construct, id: str, props: MonitoringProps) -> None:
        super().__init__(scope, id)
        self.encryption_key = props.encryption_key or kms.Key(
            self, "TopicKey", enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN,
            description="Alarm topic: CloudWatch alarms publish here",
        )
        # CloudWatch publishes alarm notifications to the encrypted topic.
        self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
        ))
        self.topic = sns.Topic(
            self, "AlarmTopic", master_key=self.encryption_key, enforce_ssl=True,
            display_name="Alarms",
        )
        for address in props.email_subscriptions:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        self._action = cw_actions.SnsAction(self.topic)
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=props.dashboard_name,
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(heading("Services"))
        self._services = ServicesWidgets(self.dashboard)

    def notify(self, alarms: Mapping[str, cw.Alarm]) -> None:
        """Send these alarms to the topic (ALARM and OK). Alarms in another stack reference the
        topic one way (its ARN), so the topic's stack never depends on theirs."""
        for found in alarms.values():
            found.add_alarm_action(self._action)
            found.add_ok_action(self._action)

    def add_service(self, service: ClassicLoadBalancedService) -> None:
        """Send the service's alarms to the topic; add its ELB metrics to the dashboard."""
        self.notify(service.alarms)
        self._services.add(service)

    def add_cluster(self, cluster: ContainerCluster) -> None:
        """Send the cluster's alarms to the topic; add cluster and per-service ECS widgets."""
        self.notify(cluster.alarms)
        name = cluster.ecs_cluster.cluster_name

        def search(namespace: str, metric_name: str) -> cw.MathExpression:
            return cw.MathExpression(
                expression=(f"SEARCH('{{{namespace},ClusterName,ServiceName}} "
                            f"MetricName=\"{metric_name}\" ClusterName=\"{name}\"', "
                            "'Average', 60)"),
                using_metrics={}, period=PERIOD,
            )

        self.dashboard.add_widgets(*(
            cw.GraphWidget(title=title, width=8, height=6, left=[search(namespace, left)],
                           right=[search(namespace, right)] if right else None)
            for title, namespace, left, right in SERVICE_SEARCH_WIDGETS
        ))
        self.dashboard.add_widgets(heading("Cluster"))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Cluster reservation, %", width=12, height=6,
                left=[cluster.metric_cpu_reservation(label="CPU"),
                      cluster.metric_memory_reservation(label="memory")],
            ),
            cw.GraphWidget(
                title="Instances", width=12, height=6,
                left=[cluster.metric_instances_in_service(label="in service"),
                      cluster.metric_desired_instances(label="desired")],
            ),
        )

    def add_database(self, database: MySqlDatabase) -> None:
        """Send the database's alarms to the topic; add its widgets to the dashboard."""
        self.notify(database.alarms)
        self.dashboard.add_widgets(heading("Database"))
        self.dashboard.add_widgets(*(
            cw.GraphWidget(title=title, width=6, height=6, left=[read(label=label)])
            for title, read, label in (
                ("Database CPU, %", database.metric_cpu_utilization, "CPUUtilization"),
                ("Connections", database.metric_database_connections, "DatabaseConnections"),
                ("Free storage, bytes", database.metric_free_storage_space, "FreeStorageSpace"),
                ("Freeable memory, bytes", database.metric_freeable_memory, "FreeableMemory"),
            )
        ))

    @property
    def dashboard_url(self) -> str:
        """The dashboard's console URL (a deploy-time token)."""
        return (f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region="
                f"{Aws.REGION}#dashboards:name={self.dashboard.dashboard_name}")


class ServicesDashboard(Construct):
    """A dashboard of the services of one stack (ELB requests, 5XX, latency, healthy and unhealthy
    instances: one line per service), for services that live outside the stack of `Monitoring`:
    its dashboard listing them would make its stack depend on theirs. The cluster-wide ECS
    widgets of `Monitoring` find every service with a metric search. Attribute: `dashboard`."""

    def __init__(self, scope: Construct, id: str, *, title: str) -> None:
        super().__init__(scope, id)
        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.dashboard.add_widgets(heading(title))
        self._services = ServicesWidgets(self.dashboard)

    def add_service(self, service: ClassicLoadBalancedService) -> None:
        """Add the service's ELB metrics (one line per widget)."""
        self._services.add(service)


PlatformMonitoring = Monitoring
"""Deprecated alias of `Monitoring` (its former name)."""
PlatformMonitoringProps = MonitoringProps
"""Deprecated alias of `MonitoringProps` (its former name)."""
