// ecs_playground/monitoring.py: one encrypted alarm topic and one dashboard for the platform.
import * as cdk from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PERIOD, metric } from './alarms.ts';
import type { ContainerCluster } from './cluster.ts';
import type { MySqlDatabase } from './database.ts';
import type { ClassicLoadBalancedService } from './service.ts';

const WIDTH = 24;

function graph(title: string, width = 8): cw.GraphWidget {
  return new cw.GraphWidget({ title, width, height: 6, period: PERIOD });
}

export class PlatformMonitoring extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cw.Dashboard;
  private readonly action: cwActions.SnsAction;
  private readonly elbWidgets: [string, string, cw.GraphWidget][];

  constructor(scope: Construct, id: string, encryptionKey: kms.IKey) {
    super(scope, id);
    encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': cdk.Aws.ACCOUNT_ID } },
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      masterKey: encryptionKey,
      enforceSSL: true,
      displayName: 'ecs-playground alarms',
    });
    this.action = new cwActions.SnsAction(this.topic);
    this.dashboard = new cw.Dashboard(this, 'Dashboard', { defaultInterval: cdk.Duration.hours(3) });
    this.elbWidgets = [
      ['RequestCount', 'Sum', graph('Requests per minute (ELB)')],
      ['HTTPCode_Backend_5XX', 'Sum', graph('Backend 5XX per minute (ELB)')],
      ['Latency', 'p99', graph('Latency p99, seconds (ELB)')],
      ['UnHealthyHostCount', 'Maximum', graph('Unhealthy instances (ELB)')],
      ['HealthyHostCount', 'Minimum', graph('Healthy instances (ELB)')],
    ];
    this.dashboard.addWidgets(new cw.TextWidget({ markdown: '## Services', width: WIDTH, height: 1 }));
    const widgets = this.elbWidgets.map(([, , widget]) => widget);
    this.dashboard.addWidgets(...widgets.slice(0, 3));
    this.dashboard.addWidgets(...widgets.slice(3));
  }

  notify(alarms: Record<string, cw.Alarm>): void {
    for (const found of Object.values(alarms)) {
      found.addAlarmAction(this.action);
      found.addOkAction(this.action);
    }
  }

  addService(service: ClassicLoadBalancedService): void {
    this.notify(service.alarms);
    const dims = { LoadBalancerName: service.loadBalancer.loadBalancerName };
    for (const [name, statistic, widget] of this.elbWidgets) {
      widget.addLeftMetric(metric('AWS/ELB', name, dims, statistic).with({ label: service.name }));
    }
  }

  addCluster(cluster: ContainerCluster): void {
    this.notify(cluster.alarms);
    const name = cluster.ecsCluster.clusterName;
    const search = (namespace: string, metricName: string, statistic: string) =>
      new cw.MathExpression({
        expression:
          `SEARCH('{${namespace},ClusterName,ServiceName} ` +
          `MetricName="${metricName}" ClusterName="${name}"', '${statistic}', 60)`,
        usingMetrics: {},
        period: PERIOD,
      });
    this.dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Service CPU utilization, %',
        width: 8,
        height: 6,
        left: [search('AWS/ECS', 'CPUUtilization', 'Average')],
      }),
      new cw.GraphWidget({
        title: 'Service memory utilization, %',
        width: 8,
        height: 6,
        left: [search('AWS/ECS', 'MemoryUtilization', 'Average')],
      }),
      new cw.GraphWidget({
        title: 'Running (and desired) tasks',
        width: 8,
        height: 6,
        left: [search('ECS/ContainerInsights', 'RunningTaskCount', 'Average')],
        right: [search('ECS/ContainerInsights', 'DesiredTaskCount', 'Average')],
      }),
    );
    const clusterDims = { ClusterName: name };
    const group = { AutoScalingGroupName: cluster.autoScalingGroup.autoScalingGroupName };
    this.dashboard.addWidgets(new cw.TextWidget({ markdown: '## Cluster', width: WIDTH, height: 1 }));
    this.dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Cluster reservation, %',
        width: 12,
        height: 6,
        left: [
          metric('AWS/ECS', 'CPUReservation', clusterDims).with({ label: 'CPU' }),
          metric('AWS/ECS', 'MemoryReservation', clusterDims).with({ label: 'memory' }),
        ],
      }),
      new cw.GraphWidget({
        title: 'Instances',
        width: 12,
        height: 6,
        left: [
          metric('AWS/AutoScaling', 'GroupInServiceInstances', group).with({ label: 'in service' }),
          metric('AWS/AutoScaling', 'GroupDesiredCapacity', group).with({ label: 'desired' }),
        ],
      }),
    );
  }

  addDatabase(database: MySqlDatabase): void {
    this.notify(database.alarms);
    const dims = { DBInstanceIdentifier: database.instance.instanceIdentifier };
    this.dashboard.addWidgets(new cw.TextWidget({ markdown: '## Database', width: WIDTH, height: 1 }));
    this.dashboard.addWidgets(
      ...[
        ['Database CPU, %', 'CPUUtilization'],
        ['Connections', 'DatabaseConnections'],
        ['Free storage, bytes', 'FreeStorageSpace'],
        ['Freeable memory, bytes', 'FreeableMemory'],
      ].map(
        ([title, name]) =>
          new cw.GraphWidget({ title, width: 6, height: 6, left: [metric('AWS/RDS', name, dims).with({ label: name })] }),
      ),
    );
  }

  get dashboardUrl(): string {
    return (
      `https://${cdk.Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=` +
      `${cdk.Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`
    );
  }
}
