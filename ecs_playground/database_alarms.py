"""The metrics and alarms of `MySqlDatabase`: each metric is a public `metric_*()` method, and the
database's alarms and the `Monitoring` dashboard read those methods."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_rds as rds
from constructs import Construct

from .alarms import ABOVE, BELOW, alarm, metric
from .database_props import MySqlDatabaseProps


class DatabaseMetrics:
    """The `metric_*()` methods of an RDS instance: 1-minute metrics (RDS with enhanced
    monitoring publishes them every minute), Average unless `statistic` says otherwise."""

    instance: rds.DatabaseInstance

    def _metric(self, name: str, statistic: str, period: Duration | None,
                label: str | None) -> cw.Metric:
        dims = {"DBInstanceIdentifier": self.instance.instance_identifier}
        return metric("AWS/RDS", name, dims, statistic, period=period, label=label)

    def metric_cpu_utilization(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """CPU utilization in % (CPUUtilization, 1-minute)."""
        return self._metric("CPUUtilization", statistic, period, label)

    def metric_free_storage_space(self, *, statistic: str = "Average",
                                  period: Duration | None = None,
                                  label: str | None = None) -> cw.Metric:
        """Free storage in bytes (FreeStorageSpace, 1-minute)."""
        return self._metric("FreeStorageSpace", statistic, period, label)

    def metric_freeable_memory(self, *, statistic: str = "Average",
                               period: Duration | None = None,
                               label: str | None = None) -> cw.Metric:
        """Freeable memory in bytes (FreeableMemory, 1-minute)."""
        return self._metric("FreeableMemory", statistic, period, label)

    def metric_database_connections(self, *, statistic: str = "Average",
                                    period: Duration | None = None,
                                    label: str | None = None) -> cw.Metric:
        """Open connections (DatabaseConnections, 1-minute)."""
        return self._metric("DatabaseConnections", statistic, period, label)


def database_alarms(
    scope: Construct, database: DatabaseMetrics, props: MySqlDatabaseProps
) -> dict[str, cw.Alarm]:
    """The database's alarms by name, in `scope`, each on one of the database's metrics."""
    minutes = props.alarm_minutes
    checks = (
        ("Cpu", database.metric_cpu_utilization(), props.alarm_cpu_percent, ABOVE,
         f"CPU above {props.alarm_cpu_percent} %"),
        ("FreeStorage", database.metric_free_storage_space(),
         props.alarm_free_storage_gib * 1024**3, BELOW,
         f"free storage below {props.alarm_free_storage_gib} GiB"),
        ("FreeableMemory", database.metric_freeable_memory(),
         props.alarm_freeable_memory_mib * 1024**2, BELOW,
         f"freeable memory below {props.alarm_freeable_memory_mib} MiB"),
        ("Connections", database.metric_database_connections(), props.alarm_connections, ABOVE,
         f"more than {props.alarm_connections} connections"),
    )
    return {
        key: alarm(
            scope, key, metric=found, threshold=threshold, comparison=comparison,
            minutes=minutes, description=f"MySQL database: {what} for {minutes} min",
        )
        for key, found, threshold, comparison, what in checks
    }
