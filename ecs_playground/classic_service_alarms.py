"""The metrics and alarms of `ClassicLoadBalancedService`: each metric is a public `metric_*()`
method (what an importer graphs or alarms on), and the service's own alarms read those methods,
as the dashboards of `Monitoring` do."""

from __future__ import annotations

import functools

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancing as elb
from constructs import Construct

from .alarms import ABOVE, PERIOD, alarm, metric
from .classic_service_props import ClassicLoadBalancedServiceProps

ELB = "AWS/ELB"
ECS = "AWS/ECS"
INSIGHTS = "ECS/ContainerInsights"


class ServiceMetrics:
    """The `metric_*()` methods of a service behind a classic ELB. Each returns a 1-minute metric
    with the statistic its alarm reads; `statistic`, `period` and `label` change that."""

    load_balancer: elb.LoadBalancer
    service: ecs.Ec2Service

    @functools.cached_property
    def _elb_dimensions(self) -> dict[str, str]:
        """Read from CDK once (each read is a jsii round trip; a service has 9 ELB metrics)."""
        return {"LoadBalancerName": self.load_balancer.load_balancer_name}

    @functools.cached_property
    def _ecs_dimensions(self) -> dict[str, str]:
        """Read from CDK once (three round trips; a service has 4 ECS metrics)."""
        return {"ClusterName": self.service.cluster.cluster_name,
                "ServiceName": self.service.service_name}

    def _elb(self, name: str, statistic: str, period: Duration | None,
             label: str | None) -> cw.Metric:
        return metric(ELB, name, dict(self._elb_dimensions), statistic, period=period,
                      label=label)

    def _ecs(self, namespace: str, name: str, statistic: str, period: Duration | None,
             label: str | None) -> cw.Metric:
        return metric(namespace, name, dict(self._ecs_dimensions), statistic, period=period,
                      label=label)

    def metric_request_count(self, *, statistic: str = "Sum", period: Duration | None = None,
                             label: str | None = None) -> cw.Metric:
        """Requests the ELB received (RequestCount, Sum)."""
        return self._elb("RequestCount", statistic, period, label)

    def metric_backend_5xx_count(self, *, statistic: str = "Sum", period: Duration | None = None,
                                 label: str | None = None) -> cw.Metric:
        """Responses with a 5XX status from the tasks (HTTPCode_Backend_5XX, Sum)."""
        return self._elb("HTTPCode_Backend_5XX", statistic, period, label)

    def metric_backend_5xx_rate(self, *, label: str = "backend 5XX in % of requests"
                                ) -> cw.MathExpression:
        """Backend 5XX responses in % of requests per minute (0 without requests)."""
        return cw.MathExpression(
            expression="IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)",
            using_metrics={"errors": self.metric_backend_5xx_count(),
                           "requests": self.metric_request_count()},
            label=label, period=PERIOD,
        )

    def metric_latency(self, *, statistic: str = "p99", period: Duration | None = None,
                       label: str | None = None) -> cw.Metric:
        """Seconds from sending a request to a task until its response headers (Latency, p99)."""
        return self._elb("Latency", statistic, period, label)

    def metric_healthy_host_count(self, *, statistic: str = "Minimum",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Instances that pass the ELB's health check (HealthyHostCount, Minimum)."""
        return self._elb("HealthyHostCount", statistic, period, label)

    def metric_unhealthy_host_count(self, *, statistic: str = "Maximum",
                                    period: Duration | None = None,
                                    label: str | None = None) -> cw.Metric:
        """Instances that fail the ELB's health check (UnHealthyHostCount, Maximum)."""
        return self._elb("UnHealthyHostCount", statistic, period, label)

    def metric_cpu_utilization(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """The service's CPU use in % of its reserved CPU units (AWS/ECS CPUUtilization)."""
        return self._ecs(ECS, "CPUUtilization", statistic, period, label)

    def metric_memory_utilization(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """The service's memory use in % of its memory limit (AWS/ECS MemoryUtilization)."""
        return self._ecs(ECS, "MemoryUtilization", statistic, period, label)

    def metric_running_task_count(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Running tasks (Container Insights: needs it on the cluster)."""
        return self._ecs(INSIGHTS, "RunningTaskCount", statistic, period, label)

    def metric_desired_task_count(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Desired tasks (Container Insights: needs it on the cluster)."""
        return self._ecs(INSIGHTS, "DesiredTaskCount", statistic, period, label)

    def metric_tasks_missing(self, *, label: str = "tasks missing (desired - running)"
                             ) -> cw.MathExpression:
        """Desired minus running tasks (Container Insights)."""
        return cw.MathExpression(
            expression="desired - running",
            using_metrics={"desired": self.metric_desired_task_count(),
                           "running": self.metric_running_task_count()},
            label=label, period=PERIOD,
        )


def service_alarms(
    scope: Construct, service: ServiceMetrics, props: ClassicLoadBalancedServiceProps, *,
    host_port: int, container_insights: bool,
) -> dict[str, cw.Alarm]:
    """The service's alarms by name, in `scope`, each on one of the service's metrics."""
    name = props.name
    found = {
        "UnhealthyHosts": alarm(
            scope, "UnhealthyHosts",
            metric=service.metric_unhealthy_host_count(),
            threshold=0, comparison=ABOVE, minutes=props.alarm_unhealthy_host_minutes,
            description=f"service {name}: the ELB reports an unhealthy instance for "
            f"{props.alarm_unhealthy_host_minutes} min (a task fails "
            f"{props.health_check_path or f'the TCP check of port {host_port}'}"
            "); a deployment rolls back on it",
        ),
        "Backend5xxRate": alarm(
            scope, "Backend5xxRate",
            metric=service.metric_backend_5xx_rate(),
            threshold=props.alarm_5xx_percent, comparison=ABOVE,
            minutes=props.alarm_5xx_minutes,
            description=f"service {name}: more than {props.alarm_5xx_percent} % of requests "
            f"answered with a 5XX for {props.alarm_5xx_minutes} min; a deployment rolls "
            "back on it",
        ),
        "LatencyP99": alarm(
            scope, "LatencyP99",
            metric=service.metric_latency(),
            threshold=props.alarm_latency_p99_ms / 1000, comparison=ABOVE,
            minutes=props.alarm_latency_minutes,
            description=f"service {name}: p99 latency above {props.alarm_latency_p99_ms} ms "
            f"for {props.alarm_latency_minutes} min",
        ),
    }
    for key, metric_name, threshold, utilization in (
        ("CpuUtilization", "CPUUtilization", props.alarm_cpu_percent,
         service.metric_cpu_utilization()),
        ("MemoryUtilization", "MemoryUtilization", props.alarm_memory_percent,
         service.metric_memory_utilization()),
    ):
        found[key] = alarm(
            scope, key,
            metric=utilization,
            threshold=threshold, comparison=ABOVE, minutes=props.alarm_utilization_minutes,
            description=f"service {name}: {metric_name} above {threshold} % for "
            f"{props.alarm_utilization_minutes} min",
        )
    if container_insights:
        found["RunningBelowDesired"] = alarm(
            scope, "RunningBelowDesired",
            metric=service.metric_tasks_missing(),
            threshold=0, comparison=ABOVE,
            minutes=props.alarm_running_below_desired_minutes,
            description=f"service {name}: fewer tasks running than desired for "
            f"{props.alarm_running_below_desired_minutes} min (tasks failing to start or "
            "no room on the instances)",
        )
    return found
