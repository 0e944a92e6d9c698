"""How the constructs write their CloudWatch alarms and metrics: one place for the period, the
datapoints and missing-data rule, and the props fields that configure alarms, so every alarm of the
library reads, and is configured, the same way.

Each alarm looks at 1-minute datapoints and fires when *every* datapoint of its window breaches
("for N minutes"), so one bad minute does not page anyone. Missing data is not breaching: a
service with no traffic has no 5XX rate and must not page. The constructs create their alarms
without actions; `Monitoring.add_*` (or the caller) adds where they go. Each alarm reads a
public `metric_*()` method of its construct, the same one the dashboards show.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from .props import setting
from .validation import BOUNDS

PERIOD = Duration.minutes(1)
"""Every metric the alarms read is a 1-minute metric (ELB, ECS, Container Insights, RDS, ASG)."""

ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cw.ComparisonOperator.LESS_THAN_THRESHOLD


def metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str = "Average",
    *, period: Duration | None = None, label: str | None = None,
) -> cw.Metric:
    """A metric, of 1-minute datapoints unless `period` says otherwise."""
    return cw.Metric(
        namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic=statistic,
        period=period or PERIOD, label=label,
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


def alarms_switch(construct: str, alarms: str, off: str = "none") -> Any:
    """The `alarms` field of a props class: on by default, without actions until a `Monitoring`
    (or the caller) adds them."""
    return field(default=True, metadata=setting(
        f"Create the {construct}'s alarms: {alarms}. They have no action until one is added "
        f"(`Monitoring.add_{construct}`). False: {off}."))


def threshold(default: int, high: int, text: str) -> Any:
    """A props field of an alarm (a threshold or a number of minutes): an integer from 1 to
    `high`, checked by `Checker.bounds`."""
    return field(default=default, metadata={**setting(text), BOUNDS: (1, high)})
