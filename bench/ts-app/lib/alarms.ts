// ecs_playground/alarms.py: 1-minute metrics, alarms that fire after N breaching minutes.
import * as cdk from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

export const PERIOD = cdk.Duration.minutes(1);
export const ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD;
export const BELOW = cw.ComparisonOperator.LESS_THAN_THRESHOLD;

export function metric(
  namespace: string,
  metricName: string,
  dimensionsMap: Record<string, string>,
  statistic = 'Average',
): cw.Metric {
  return new cw.Metric({ namespace, metricName, dimensionsMap, statistic, period: PERIOD });
}

export function alarm(
  scope: Construct,
  id: string,
  o: { metric: cw.IMetric; threshold: number; comparison: cw.ComparisonOperator; minutes: number; description: string },
): cw.Alarm {
  return new cw.Alarm(scope, id, {
    metric: o.metric,
    threshold: o.threshold,
    comparisonOperator: o.comparison,
    evaluationPeriods: o.minutes,
    datapointsToAlarm: o.minutes,
    treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    alarmDescription: o.description,
  });
}
