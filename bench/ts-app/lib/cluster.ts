// ecs_playground/container_cluster.py: ECS on EC2 from an Auto Scaling group, for the default
// configuration (cdk.json: app01 on 4 x t2.medium, a pinned AMI release, a Cloud Map namespace).
import * as cdk from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, type IConstruct } from 'constructs';
import * as acknowledge from './acknowledge.ts';
import { ABOVE, BELOW, alarm, metric } from './alarms.ts';

export interface ContainerClusterSettings {
  readonly vpc: ec2.IVpc;
  readonly clusterName: string;
  readonly instanceType: string;
  readonly machineImageRelease: string;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly reservedMemoryMib: number;
  readonly discoveryNamespace: string;
  /** What the Python ContainerCluster computes from the registered services (capacity.py). */
  readonly headroom: Record<string, number>;
}

const AMI_RELEASE_PARAMETER = '/aws/service/ecs/optimized-ami/amazon-linux-2023/{release}/image_id';
const UNSCOPED_LOG_WRITES = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const ROLLING_UPDATE_MIN_HEALTHY_PERCENT = 75;
const ROLLING_UPDATE_PAUSE_SECONDS = 300;

export class ContainerCluster extends Construct {
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.SecurityGroup;
  readonly instanceRole: iam.Role;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly ecsCluster: ecs.Cluster;
  readonly capacityProvider: ecs.AsgCapacityProvider;
  readonly namespace: servicediscovery.INamespace;
  readonly alarms: Record<string, cw.Alarm>;
  private loadBalancerGroup?: ec2.SecurityGroup;
  private readonly loadBalancerPorts = new Set<number>();
  private readonly label: string;

  constructor(scope: Construct, id: string, s: ContainerClusterSettings) {
    super(scope, id);
    this.vpc = s.vpc;
    this.label = s.clusterName;
    this.securityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: s.vpc,
      allowAllOutbound: false,
      description: `ECS container instances of cluster ${s.clusterName}; no inbound except from load balancers`,
    });
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS APIs (ECS, ECR, SSM, CloudWatch Logs, Secrets Manager) and image registries',
    );
    this.instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'ECS container instance role (agent permissions are added by the cluster)',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    const scalingTopic = new sns.Topic(this, 'ScalingNotifications', {
      enforceSSL: true,
      displayName: `Auto Scaling events of ECS cluster ${s.clusterName}`,
    });
    const unencryptedTopic =
      'Auto Scaling cannot publish to a topic under the AWS-managed SNS key, and a ' +
      'customer key would need the Auto Scaling service-linked role in its key policy, ' +
      'which may not exist yet at deploy time; the notifications carry no data, only ' +
      'instance IDs and scaling causes';
    acknowledge.nag(scalingTopic, 'AwsSolutions-SNS2', unencryptedTopic);
    acknowledge.checkov(scalingTopic, 'CKV_AWS_26', unencryptedTopic);
    const userData = ec2.UserData.forLinux();
    userData.addCommands(`echo ECS_RESERVED_MEMORY=${s.reservedMemoryMib} >> /etc/ecs/ecs.config`);
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: ec2.MachineImage.fromSsmParameter(
        AMI_RELEASE_PARAMETER.replace('{release}', s.machineImageRelease),
        { os: ec2.OperatingSystemType.LINUX },
      ),
      instanceType: new ec2.InstanceType(s.instanceType),
      role: this.instanceRole,
      securityGroup: this.securityGroup,
      userData,
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(30, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    const share = Math.ceil((s.minCapacity * ROLLING_UPDATE_MIN_HEALTHY_PERCENT) / 100);
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'AutoScalingGroup', {
      vpc: s.vpc,
      launchTemplate,
      minCapacity: s.minCapacity,
      maxCapacity: s.maxCapacity,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      newInstancesProtectedFromScaleIn: false,
      notifications: [{ topic: scalingTopic }],
      groupMetrics: [
        new autoscaling.GroupMetrics(
          autoscaling.GroupMetric.IN_SERVICE_INSTANCES,
          autoscaling.GroupMetric.DESIRED_CAPACITY,
        ),
      ],
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: Math.max(Math.min(share, s.maxCapacity - 1), 0),
        pauseTime: cdk.Duration.seconds(ROLLING_UPDATE_PAUSE_SECONDS),
      }),
    });
    this.ecsCluster = new ecs.Cluster(this, 'Cluster', {
      vpc: s.vpc,
      clusterName: s.clusterName,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: false,
      enableManagedDraining: true,
      targetCapacityPercent: 100,
      machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
    });
    this.ecsCluster.addAsgCapacityProvider(this.capacityProvider);
    this.namespace = this.ecsCluster.addDefaultCloudMapNamespace({
      name: s.discoveryNamespace,
      type: servicediscovery.NamespaceType.DNS_PRIVATE,
      vpc: s.vpc,
    });
    this.ecsCluster.connections.addSecurityGroup(this.securityGroup);
    this.acknowledgeAgentPermissions();
    this.alarms = this.makeAlarms(s);
    (this.ecsCluster.node.defaultChild as ecs.CfnCluster).addMetadata(
      'EcsPlayground::CapacityHeadroom',
      cdk.Lazy.any({ produce: () => s.headroom }),
    );
  }

  get capacityProviderName(): string {
    return this.capacityProvider.capacityProviderName;
  }

  private acknowledgeAgentPermissions(): void {
    acknowledge.nag(
      this.instanceRole,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      'Session Manager replaces SSH (no key pair, no port 22); AWS maintains this policy ' +
        'as the minimum for the SSM agent',
    );
    const policy = this.instanceRole.node.findChild('DefaultPolicy');
    dropUnscopedLogWrites(policy);
    acknowledge.nag(
      policy,
      'AwsSolutions-IAM5[Action::ecs:Submit*]',
      "the ECS agent's own policy (aws-cdk-lib's cluster setup): Submit* reports task and " +
        "container state and is limited to this cluster's ARN",
    );
    acknowledge.nag(
      policy,
      'AwsSolutions-IAM5[Resource::*]',
      'ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken have no resource-level ' +
        'permissions; ecs:Poll and ecs:StartTelemetrySession are conditioned on this ' +
        "cluster's ARN; the role has no logs permissions (tasks log with their execution " +
        'role, scoped to their log group)',
    );
    acknowledge.checkov(
      policy,
      'CKV_AWS_111',
      "the ECS agent's write actions: Register/Deregister/Submit* are limited to this " +
        "cluster's ARN, Poll and StartTelemetrySession conditioned on it; " +
        'DiscoverPollEndpoint has no resource-level permissions',
    );
  }

  private makeAlarms(s: ContainerClusterSettings): Record<string, cw.Alarm> {
    const scope = new Construct(this, 'Alarms');
    const clusterName = this.ecsCluster.clusterName;
    const found: Record<string, cw.Alarm> = {};
    for (const [name, metricName] of [
      ['CpuReservation', 'CPUReservation'],
      ['MemoryReservation', 'MemoryReservation'],
    ]) {
      found[name] = alarm(scope, name, {
        metric: metric('AWS/ECS', metricName, { ClusterName: clusterName }, 'Maximum'),
        threshold: 90,
        comparison: ABOVE,
        minutes: 15,
        description:
          `ECS cluster ${this.label}: ${metricName} above 90 % for 15 min; ` +
          'tasks reserve nearly all instances, the next scale-out or deployment waits for ' +
          'new instances (check max_capacity)',
      });
    }
    found.InstancesInService = alarm(scope, 'InstancesInService', {
      metric: metric(
        'AWS/AutoScaling',
        'GroupInServiceInstances',
        { AutoScalingGroupName: this.autoScalingGroup.autoScalingGroupName },
        'Minimum',
      ),
      threshold: s.minCapacity,
      comparison: BELOW,
      minutes: 10,
      description:
        `ECS cluster ${this.label}: fewer than ${s.minCapacity} instances in ` +
        'service for 10 min (launches failing? see the Auto Scaling activity history)',
    });
    return found;
  }

  /** Open `hostPort` on the instances to the cluster's load balancers (one rule for all). */
  admitLoadBalancer(hostPort: number): ec2.SecurityGroup {
    if (this.loadBalancerGroup === undefined) {
      this.loadBalancerGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
        vpc: this.vpc,
        allowAllOutbound: false,
        description:
          `Load balancers of the ECS services on cluster ${this.label}; ` +
          'each sends to its own host port only (its own security group)',
      });
      const ports = this.loadBalancerPorts;
      new ec2.CfnSecurityGroupIngress(this, 'HostPortsFromLoadBalancers', {
        groupId: this.securityGroup.securityGroupId,
        sourceSecurityGroupId: this.loadBalancerGroup.securityGroupId,
        ipProtocol: 'tcp',
        fromPort: cdk.Lazy.number({ produce: () => Math.min(...ports) }),
        toPort: cdk.Lazy.number({ produce: () => Math.max(...ports) }),
        description:
          'Host ports of the services, from their load balancers (lowest to ' +
          'highest; each load balancer may send to its own port only)',
      });
    }
    this.loadBalancerPorts.add(hostPort);
    return this.loadBalancerGroup;
  }
}

/** Remove the log writes on `*` that aws-cdk-lib gives every container instance role (lazily). */
function dropUnscopedLogWrites(policy: IConstruct): void {
  const cfn = policy.node.defaultChild as iam.CfnPolicy;
  const original = cfn.policyDocument;
  cfn.policyDocument = cdk.Lazy.any({
    produce: () => {
      const document = cdk.Stack.of(policy).resolve(original);
      for (const statement of document.Statement ?? []) {
        if (statement.Resource === '*' && Array.isArray(statement.Action)) {
          statement.Action = statement.Action.filter((a: string) => !UNSCOPED_LOG_WRITES.includes(a));
        }
      }
      return document;
    },
  });
}
