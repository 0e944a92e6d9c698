"""How the constructs write their CloudWatch alarms: one place for the period, the datapoints and
missing-data rule, so every alarm of the library reads the same way.

Each alarm looks at 1-minute datapoints and fires when *every* datapoint of its window breaches
("for N minutes"), so one bad minute does not page anyone. Missing data is not breaching: a
service with no traffic has no 5XX rate and must not page. The constructs create their alarms
without actions; `PlatformMonitoring.add_*` (or the caller) adds where they go.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

PERIOD = Duration.minutes(1)
"""Every metric the alarms read is a 1-minute metric (ELB, ECS, Container Insights, RDS, ASG)."""

ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cw.ComparisonOperator.LESS_THAN_THRESHOLD


def metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str = "Average",
    label: str | None = None,
) -> cw.Metric:
    """A 1-minute metric (with `label`: as a dashboard line names it; given here rather than
    through `.with_(label=...)`, which costs a second jsii round trip per line)."""
    return cw.Metric(
        namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic=statistic,
        period=PERIOD, label=label,
    )


def alarm(
    scope: Construct, id: str, *, metric: cw.IMetric, threshold: float,
    comparison: cw.ComparisonOperator, minutes: int, description: str,
) -> cw.Alarm:
    """An alarm that fires when the metric breaches the threshold for `minutes` minutes in a row."""
    return cw.Alarm(
        scope, id,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=minutes,
        datapoints_to_alarm=minutes,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
