// Plain-TypeScript mirror of the ecs-playground default app (app.py + ecs_playground/), for
// `cdk synth` timing only. Same construct tree and IDs, so the templates can be diffed resource by
// resource. The platform configuration of /work/main/cdk.json is hard-coded here; this app's
// cdk.json carries only the feature flags. Node 24 runs this file directly (type stripping):
// erasable TypeScript syntax only.
import * as cdk from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elb from 'aws-cdk-lib/aws-elasticloadbalancing';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';

const MYSQL_PORT = 3306;
const PASSWORD_EXCLUDED_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

interface ServiceSettings {
  readonly name: string;
  readonly id: string;
  readonly image: string;
  readonly port: number;
  readonly dbName: string;
}

const SERVICES: ServiceSettings[] = [
  { name: 'location', id: 'Location', image: 'srirajan/location:10', port: 8081, dbName: 'location' },
  { name: 'user', id: 'User', image: 'srirajan/user:1', port: 9091, dbName: 'user' },
];

// What the Python ContainerCluster computes at synth time for the default config (4 x t2.medium,
// two services of 512 CPU / 1024 MiB x 4 tasks at 200 %), written as the same cluster metadata.
const CAPACITY_HEADROOM = {
  instances: 4,
  cpuUnitsPerInstance: 2048,
  memoryMibPerInstance: 3736,
  peakTasks: 8,
  peakCpuUnits: 4096,
  peakMemoryMib: 8192,
  freeCpuUnits: 4096,
  freeMemoryMib: 6752,
  minFreeCpuUnitsOnAnInstance: 1024,
  minFreeMemoryMibOnAnInstance: 1688,
};

class ContainerCluster extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly cluster: ecs.Cluster;
  readonly capacityProvider: ecs.AsgCapacityProvider;

  constructor(scope: Construct, id: string, vpc: ec2.IVpc) {
    super(scope, id);
    const clusterName = 'app01';
    this.securityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc,
      allowAllOutbound: true,
      description: `ECS container instances of cluster ${clusterName}; no inbound except from load balancers`,
    });
    const instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'ECS container instance role (agent permissions are added by the cluster)',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    const userData = ec2.UserData.forLinux();
    userData.addCommands('echo ECS_RESERVED_MEMORY=256 >> /etc/ecs/ecs.config');
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(),
      instanceType: new ec2.InstanceType('t2.medium'),
      role: instanceRole,
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
    const autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'AutoScalingGroup', {
      vpc,
      launchTemplate,
      minCapacity: 4,
      maxCapacity: 4,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      newInstancesProtectedFromScaleIn: false,
    });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      clusterName,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup,
      enableManagedScaling: true,
      enableManagedTerminationProtection: false,
      enableManagedDraining: true,
      machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
    });
    this.cluster.addAsgCapacityProvider(this.capacityProvider);
    this.cluster.connections.addSecurityGroup(this.securityGroup);
    (this.cluster.node.defaultChild as ecs.CfnCluster).addMetadata(
      'EcsPlayground::CapacityHeadroom',
      CAPACITY_HEADROOM,
    );
  }
}

class MySqlDatabase extends Construct {
  readonly instance: rds.DatabaseInstance;
  readonly secret: rds.DatabaseSecret;

  constructor(scope: Construct, id: string, vpc: ec2.IVpc) {
    super(scope, id);
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: 'MySQL: inbound 3306 only from allowed clients, no outbound',
    });
    this.secret = new rds.DatabaseSecret(this, 'Secret', {
      username: 'admin',
      excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
    });
    this.secret.applyRemovalPolicy(cdk.RemovalPolicy.RETAIN);
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine: rds.DatabaseInstanceEngine.mysql({
        version: rds.MysqlEngineVersion.of('8.4.10', '8.4'),
      }),
      instanceType: new ec2.InstanceType('t3.micro'),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      port: MYSQL_PORT,
      credentials: rds.Credentials.fromSecret(this.secret, 'admin'),
      publiclyAccessible: false,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      multiAz: false,
      backupRetention: cdk.Duration.days(7),
      deletionProtection: true,
      removalPolicy: cdk.RemovalPolicy.SNAPSHOT,
      autoMinorVersionUpgrade: false,
      copyTagsToSnapshot: true,
    });
  }

  containerSecrets(): Record<string, ecs.Secret> {
    const attached = this.instance.secret!;
    return {
      DB_USER: ecs.Secret.fromSecretsManager(attached, 'username'),
      DB_PWD: ecs.Secret.fromSecretsManager(attached, 'password'),
    };
  }
}

class ClassicLoadBalancedService extends Construct {
  readonly loadBalancer: elb.LoadBalancer;

  constructor(
    scope: Construct,
    id: string,
    s: ServiceSettings,
    cluster: ContainerCluster,
    database: MySqlDatabase,
  ) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    const taskDefinition = new ecs.Ec2TaskDefinition(this, 'TaskDefinition', {
      family: s.name,
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    taskDefinition.addContainer(s.name, {
      containerName: s.name,
      image: ecs.ContainerImage.fromRegistry(s.image),
      cpu: 512,
      memoryLimitMiB: 1024,
      essential: true,
      environment: {
        DB_HOST: database.instance.dbInstanceEndpointAddress,
        DB_PORT: String(MYSQL_PORT),
        DB_NAME: s.dbName,
      },
      secrets: database.containerSecrets(),
      extraHosts: { googledns: '8.8.8.8' },
      portMappings: [{ containerPort: s.port, hostPort: s.port, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: s.name, logGroup }),
    });
    const service = new ecs.Ec2Service(this, 'Service', {
      cluster: cluster.cluster,
      taskDefinition,
      serviceName: s.name,
      desiredCount: 4,
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: cdk.Duration.seconds(60),
      placementConstraints: [ecs.PlacementConstraint.distinctInstances()],
      capacityProviderStrategies: [
        { capacityProvider: cluster.capacityProvider.capacityProviderName, weight: 1 },
      ],
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });

    const lb = new elb.LoadBalancer(this, 'LoadBalancer', {
      vpc: cluster.cluster.vpc,
      internetFacing: true,
      crossZone: true,
      healthCheck: {
        port: s.port,
        protocol: elb.LoadBalancingProtocol.HTTP,
        path: '/health',
        interval: cdk.Duration.seconds(30),
        timeout: cdk.Duration.seconds(5),
        healthyThreshold: 2,
        unhealthyThreshold: 5,
      },
    });
    lb.addListener({
      externalPort: s.port,
      externalProtocol: elb.LoadBalancingProtocol.HTTP,
      internalPort: s.port,
      internalProtocol: elb.LoadBalancingProtocol.HTTP,
      allowConnectionsFrom: [ec2.Peer.ipv4('0.0.0.0/0')],
    });
    // Same as the Python construct: upper-case listener protocols (resolved lazily) and
    // connection draining, set on the L1.
    const cfn = lb.node.defaultChild as elb.CfnLoadBalancer;
    const listeners = cfn.listeners;
    cfn.listeners = cdk.Lazy.any({
      produce: () =>
        ((cdk.Stack.of(this).resolve(listeners) ?? []) as Record<string, unknown>[]).map((l) => ({
          ...l,
          protocol: String(l.protocol).toUpperCase(),
          instanceProtocol: String(l.instanceProtocol).toUpperCase(),
        })),
    });
    cfn.connectionDrainingPolicy = { enabled: true, timeout: 30 };
    lb.addTarget(service);
    this.loadBalancer = lb;
  }
}

class EcsPlaygroundStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: cdk.StackProps) {
    super(scope, id, props);
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.0.0.0/16'),
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogGroup', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    });
    const cluster = new ContainerCluster(this, 'Cluster', vpc);
    const database = new MySqlDatabase(this, 'Database', vpc);
    database.instance.connections.allowDefaultPortFrom(
      cluster.securityGroup,
      'MySQL from the ECS instances',
    );

    const services = new Construct(this, 'Services');
    const created = SERVICES.map(
      (s) => [s, new ClassicLoadBalancedService(services, s.id, s, cluster, database)] as const,
    );

    new cdk.CfnOutput(this, 'ClusterName', {
      value: cluster.cluster.clusterName,
      description: 'ECS cluster',
    });
    new cdk.CfnOutput(this, 'DatabaseEndpoint', {
      value: database.instance.dbInstanceEndpointAddress,
      description: 'RDS MySQL endpoint address',
    });
    new cdk.CfnOutput(this, 'DatabaseSecretArn', {
      value: database.secret.secretArn,
      description: 'Secrets Manager secret with the generated DB credentials',
    });
    for (const [s, service] of created) {
      new cdk.CfnOutput(this, `${s.id}LoadBalancerDnsName`, {
        value: service.loadBalancer.loadBalancerDnsName,
        description: `DNS name of the ${s.name} service's classic ELB (port ${s.port})`,
      });
    }
  }
}

const app = new cdk.App();
new EcsPlaygroundStack(app, 'EcsPlayground', {
  description: 'ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL',
});
app.synth();
