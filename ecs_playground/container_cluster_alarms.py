"""The metrics and alarms of `ContainerCluster`: each metric is a public `metric_*()` method, and
the cluster's alarms and the `Monitoring` dashboard read those methods."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from .alarms import ABOVE, BELOW, alarm, metric
from .container_cluster_props import ContainerClusterProps


class ClusterMetrics:
    """The `metric_*()` methods of an ECS cluster on an Auto Scaling group. Each returns a 1-minute
    metric (Average unless said otherwise); `statistic`, `period` and `label` change that."""

    ecs_cluster: ecs.ICluster
    auto_scaling_group: autoscaling.IAutoScalingGroup

    def _cluster(self, name: str, statistic: str, period: Duration | None,
                 label: str | None) -> cw.Metric:
        return metric("AWS/ECS", name, {"ClusterName": self.ecs_cluster.cluster_name}, statistic,
                      period=period, label=label)

    def _group(self, name: str, statistic: str, period: Duration | None,
               label: str | None) -> cw.Metric:
        dims = {"AutoScalingGroupName": self.auto_scaling_group.auto_scaling_group_name}
        return metric("AWS/AutoScaling", name, dims, statistic, period=period, label=label)

    def metric_cpu_reservation(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """CPU units reserved by tasks, in % of the instances' (AWS/ECS CPUReservation)."""
        return self._cluster("CPUReservation", statistic, period, label)

    def metric_memory_reservation(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Memory reserved by tasks, in % of the instances' (AWS/ECS MemoryReservation)."""
        return self._cluster("MemoryReservation", statistic, period, label)

    def metric_instances_in_service(self, *, statistic: str = "Average",
                                    period: Duration | None = None,
                                    label: str | None = None) -> cw.Metric:
        """Instances in service in the Auto Scaling group (GroupInServiceInstances; collected
        when the cluster's alarms are on)."""
        return self._group("GroupInServiceInstances", statistic, period, label)

    def metric_desired_instances(self, *, statistic: str = "Average",
                                 period: Duration | None = None,
                                 label: str | None = None) -> cw.Metric:
        """The group's desired capacity (GroupDesiredCapacity; collected when the cluster's
        alarms are on)."""
        return self._group("GroupDesiredCapacity", statistic, period, label)


def cluster_alarms(
    scope: Construct, cluster: ClusterMetrics, props: ContainerClusterProps, label: str
) -> dict[str, cw.Alarm]:
    """The cluster's alarms by name, in `scope`, each on one of the cluster's metrics."""
    found = {}
    for name, metric_name, reservation in (
        ("CpuReservation", "CPUReservation", cluster.metric_cpu_reservation(statistic="Maximum")),
        ("MemoryReservation", "MemoryReservation",
         cluster.metric_memory_reservation(statistic="Maximum")),
    ):
        found[name] = alarm(
            scope, name,
            metric=reservation,
            threshold=props.alarm_reservation_percent, comparison=ABOVE,
            minutes=props.alarm_reservation_minutes,
            description=f"ECS cluster {label}: {metric_name} above "
            f"{props.alarm_reservation_percent} % for {props.alarm_reservation_minutes} min; "
            "tasks reserve nearly all instances, the next scale-out or deployment waits for "
            "new instances (check max_capacity)",
        )
    found["InstancesInService"] = alarm(
        scope, "InstancesInService",
        metric=cluster.metric_instances_in_service(statistic="Minimum"),
        threshold=props.min_capacity, comparison=BELOW,
        minutes=props.alarm_in_service_minutes,
        description=f"ECS cluster {label}: fewer than {props.min_capacity} instances in "
        f"service for {props.alarm_in_service_minutes} min (launches failing? see the "
        "Auto Scaling activity history)",
    )
    return found
