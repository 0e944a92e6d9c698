// ecs_playground/classic_service.py: an ECS service on EC2 behind a classic ELB, on a
// ContainerCluster (capacity provider, the cluster's load balancer security group, Cloud Map).
import * as cdk from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elb from 'aws-cdk-lib/aws-elasticloadbalancing';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import * as acknowledge from './acknowledge.ts';
import { ABOVE, PERIOD, alarm, metric } from './alarms.ts';
import type { ContainerCluster } from './cluster.ts';

const INSIGHTS = 'ECS/ContainerInsights';
const COMPLIANCE_PACKS = ['HIPAA.Security', 'NIST.800.53.R5'];

export interface ServiceSettings {
  readonly name: string;
  readonly cluster: ContainerCluster;
  readonly image: ecs.ContainerImage;
  readonly containerPort: number;
  readonly serviceName: string;
  readonly family: string;
  readonly cpu: number;
  readonly memoryLimitMib: number;
  readonly containerHealthCheck: ecs.HealthCheck;
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
  readonly extraHosts: Record<string, string>;
  readonly desiredCount: number;
  readonly minHealthyPercent: number;
  readonly maxHealthyPercent: number;
  readonly healthCheckPath: string;
  readonly allowedCidrs: string[];
  readonly logEncryptionKey: kms.IKey;
  readonly accessLogsBucket: s3.Bucket;
}

export class ClassicLoadBalancedService extends Construct {
  readonly name: string;
  readonly listenerPort: number;
  readonly logGroup: logs.LogGroup;
  readonly taskDefinition: ecs.Ec2TaskDefinition;
  readonly service: ecs.Ec2Service;
  readonly loadBalancer: elb.LoadBalancer;
  alarms: Record<string, cw.Alarm> = {};

  constructor(scope: Construct, id: string, s: ServiceSettings) {
    super(scope, id);
    this.name = s.name;
    const hostPort = s.containerPort;
    this.listenerPort = s.containerPort;
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
      encryptionKey: s.logEncryptionKey,
    });
    this.taskDefinition = new ecs.Ec2TaskDefinition(this, 'TaskDefinition', {
      family: s.family,
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    this.taskDefinition.addContainer(s.name, {
      containerName: s.name,
      image: s.image,
      cpu: s.cpu,
      memoryLimitMiB: s.memoryLimitMib,
      essential: true,
      healthCheck: s.containerHealthCheck,
      environment: s.environment,
      secrets: s.secrets,
      extraHosts: s.extraHosts,
      portMappings: [{ containerPort: s.containerPort, hostPort, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: s.name, logGroup: this.logGroup }),
    });
    this.service = new ecs.Ec2Service(this, 'Service', {
      cluster: s.cluster.ecsCluster,
      taskDefinition: this.taskDefinition,
      serviceName: s.serviceName,
      desiredCount: s.desiredCount,
      minHealthyPercent: s.minHealthyPercent,
      maxHealthyPercent: s.maxHealthyPercent,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: cdk.Duration.seconds(60),
      placementConstraints: [ecs.PlacementConstraint.distinctInstances()],
      capacityProviderStrategies: [{ capacityProvider: s.cluster.capacityProviderName, weight: 1 }],
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      cloudMapOptions: {
        name: s.name,
        dnsRecordType: servicediscovery.DnsRecordType.SRV,
        dnsTtl: cdk.Duration.seconds(10),
        containerPort: s.containerPort,
      },
      deploymentAlarms: {
        alarmNames: [
          cdk.Token.asString(cdk.Lazy.any({ produce: () => this.alarms.UnhealthyHosts.alarmName })),
          cdk.Token.asString(cdk.Lazy.any({ produce: () => this.alarms.Backend5xxRate.alarmName })),
        ],
        behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
      },
    });
    this.loadBalancer = this.makeLoadBalancer(s, hostPort);
    this.joinClusterLoadBalancers(s.cluster, hostPort);
    this.alarms = this.makeAlarms(s, hostPort);
  }

  private joinClusterLoadBalancers(cluster: ContainerCluster, hostPort: number): void {
    this.service.attachToClassicLB(this.loadBalancer);
    const shared = cluster.admitLoadBalancer(hostPort);
    const own = this.loadBalancer.connections.securityGroups[0];
    own.addEgressRule(cluster.securityGroup, ec2.Port.tcp(hostPort), `Port ${hostPort} LB to fleet`);
    const cfn = this.loadBalancer.node.defaultChild as elb.CfnLoadBalancer;
    cfn.securityGroups = [own.securityGroupId, shared.securityGroupId];
  }

  private makeLoadBalancer(s: ServiceSettings, hostPort: number): elb.LoadBalancer {
    const lb = new elb.LoadBalancer(this, 'LoadBalancer', {
      vpc: s.cluster.vpc,
      internetFacing: true,
      crossZone: true,
      healthCheck: {
        port: hostPort,
        protocol: elb.LoadBalancingProtocol.HTTP,
        path: s.healthCheckPath,
        interval: cdk.Duration.seconds(30),
        timeout: cdk.Duration.seconds(5),
        healthyThreshold: 2,
        unhealthyThreshold: 5,
      },
    });
    const cfn = lb.node.defaultChild as elb.CfnLoadBalancer;
    lb.addListener({
      externalPort: this.listenerPort,
      externalProtocol: elb.LoadBalancingProtocol.HTTP,
      internalPort: hostPort,
      internalProtocol: elb.LoadBalancingProtocol.HTTP,
      allowConnectionsFrom: s.allowedCidrs.map((cidr) => ec2.Peer.ipv4(cidr)),
    });
    // Upper-case listener protocols, resolved lazily (_upper_case_protocols).
    const listeners = cfn.listeners;
    cfn.listeners = cdk.Lazy.any({
      produce: () =>
        ((cdk.Stack.of(lb).resolve(listeners) ?? []) as Record<string, unknown>[]).map((l) => ({
          ...l,
          protocol: String(l.protocol).toUpperCase(),
          instanceProtocol: String(l.instanceProtocol).toUpperCase(),
        })),
    });
    cfn.connectionDrainingPolicy = { enabled: true, timeout: 30 };
    cfn.accessLoggingPolicy = {
      enabled: true,
      s3BucketName: s.accessLogsBucket.bucketName,
      s3BucketPrefix: s.name,
      emitInterval: 5,
    };
    // The ELB checks at creation that it may write to the bucket.
    lb.node.addDependency(s.accessLogsBucket.policy!);
    this.acknowledge(s, lb);
    return lb;
  }

  private acknowledge(s: ServiceSettings, lb: elb.LoadBalancer): void {
    acknowledge.nag(
      lb,
      'AwsSolutions-ELB1',
      "a classic ELB is this construct's purpose: the platform reproduces the ECS-on-EC2 " +
        'tutorial, one static host port per service behind a classic load balancer',
    );
    const listeners = `HTTP on ${this.listenerPort}`;
    acknowledge.nag(
      lb.connections.securityGroups[0],
      'AwsSolutions-EC23',
      `the ELB serves the public '${s.name}' endpoint on its listener ports only ` +
        `(${listeners}, from allowed_cidrs); the instances behind it accept traffic from ` +
        'this ELB alone',
    );
    const reason =
      `plain HTTP on port ${this.listenerPort} is this service's choice: no certificate_arn ` +
      '(<service>.certificateArn) was given, as in the tutorial; reachable from the internet, ' +
      'from allowed_cidrs only; give a certificate ARN for HTTPS';
    for (const pack of COMPLIANCE_PACKS) acknowledge.nag(lb, `${pack}-ELBACMCertificateRequired`, reason);
    acknowledge.nag(
      this.taskDefinition,
      'AwsSolutions-ECS2',
      'environment variables are checked when the props are validated and again by the ' +
        'EcsPlayground-PlaintextSecret rule on the template: a literal in a variable named ' +
        "like a credential, a URL with a password, a secret's dynamic reference, a private " +
        'key or a known token format is refused; credentials come as ECS secrets. Other ' +
        'secret shapes (e.g. a random string in a neutrally named variable) are not ' +
        'detectable',
    );
    const executionPolicy = this.taskDefinition.obtainExecutionRole().node.tryFindChild('DefaultPolicy');
    if (executionPolicy !== undefined) {
      acknowledge.nag(
        executionPolicy,
        'AwsSolutions-IAM5[Resource::*]',
        'ecr:GetAuthorizationToken has no resource-level permissions; image pulls and ' +
          "log writes are scoped to the asset repository and this service's log group",
      );
    }
  }

  private makeAlarms(s: ServiceSettings, hostPort: number): Record<string, cw.Alarm> {
    const scope = new Construct(this, 'Alarms');
    const elbName = { LoadBalancerName: this.loadBalancer.loadBalancerName };
    const name = s.name;
    const found: Record<string, cw.Alarm> = {
      UnhealthyHosts: alarm(scope, 'UnhealthyHosts', {
        metric: metric('AWS/ELB', 'UnHealthyHostCount', elbName, 'Maximum'),
        threshold: 0,
        comparison: ABOVE,
        minutes: 3,
        description:
          `service ${name}: the ELB reports an unhealthy instance for 3 min (a task fails ` +
          `${s.healthCheckPath ?? `the TCP check of port ${hostPort}`}); a deployment rolls back on it`,
      }),
      Backend5xxRate: alarm(scope, 'Backend5xxRate', {
        metric: new cw.MathExpression({
          expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
          usingMetrics: {
            errors: metric('AWS/ELB', 'HTTPCode_Backend_5XX', elbName, 'Sum'),
            requests: metric('AWS/ELB', 'RequestCount', elbName, 'Sum'),
          },
          label: 'backend 5XX in % of requests',
          period: PERIOD,
        }),
        threshold: 5,
        comparison: ABOVE,
        minutes: 3,
        description:
          `service ${name}: more than 5 % of requests answered with a 5XX for 3 min; ` +
          'a deployment rolls back on it',
      }),
      LatencyP99: alarm(scope, 'LatencyP99', {
        metric: metric('AWS/ELB', 'Latency', elbName, 'p99'),
        threshold: 2000 / 1000,
        comparison: ABOVE,
        minutes: 5,
        description: `service ${name}: p99 latency above 2000 ms for 5 min`,
      }),
    };
    const serviceDims = { ClusterName: s.cluster.ecsCluster.clusterName, ServiceName: this.service.serviceName };
    for (const [key, metricName, threshold] of [
      ['CpuUtilization', 'CPUUtilization', 90],
      ['MemoryUtilization', 'MemoryUtilization', 90],
    ] as const) {
      found[key] = alarm(scope, key, {
        metric: metric('AWS/ECS', metricName, serviceDims),
        threshold,
        comparison: ABOVE,
        minutes: 10,
        description: `service ${name}: ${metricName} above ${threshold} % for 10 min`,
      });
    }
    found.RunningBelowDesired = alarm(scope, 'RunningBelowDesired', {
      metric: new cw.MathExpression({
        expression: 'desired - running',
        usingMetrics: {
          desired: metric(INSIGHTS, 'DesiredTaskCount', serviceDims),
          running: metric(INSIGHTS, 'RunningTaskCount', serviceDims),
        },
        label: 'tasks missing (desired - running)',
        period: PERIOD,
      }),
      threshold: 0,
      comparison: ABOVE,
      minutes: 10,
      description:
        `service ${name}: fewer tasks running than desired for 10 min (tasks failing to start or ` +
        'no room on the instances)',
    });
    return found;
  }
}
