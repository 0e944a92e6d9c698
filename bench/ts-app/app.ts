// Plain-TypeScript mirror of the ecs-playground default app (app.py + ecs_playground/), for
// `cdk synth` timing only. Same construct tree and IDs, so the templates can be diffed resource by
// resource. The platform configuration of /work/main/cdk.json is hard-coded here; this app's
// cdk.json carries only the feature flags. Node 24 runs this file directly (type stripping):
// erasable TypeScript syntax only.
//
// Security gates: cdk-nag's AwsSolutions pack is registered as a CDK validation plugin, as in
// app.py (ecs_playground/gates.py), with the same `acknowledge.nag` acknowledgments, so `cdk synth`
// fails on an unacknowledged finding here too. The Python app's own rules plugin
// (ecs_playground/rules.py, EcsPlaygroundRules) has no TypeScript equivalent and is not run here;
// neither are the optional compliance packs (nag.compliancePacks, off by default). The checkov and
// cfn-lint skips are written as the same CloudFormation metadata, so the templates stay equal.
import * as cdk from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elb from 'aws-cdk-lib/aws-elasticloadbalancing';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { FactName } from 'aws-cdk-lib/region-info';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct, type IConstruct } from 'constructs';

const MYSQL_PORT = 3306;
const PASSWORD_EXCLUDED_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

interface ServiceSettings {
  readonly name: string;
  readonly id: string;
  readonly image: string;
  readonly port: number;
  readonly dbName: string;
}

// ecs_playground/acknowledge.py: reasoned exceptions to scanner findings.
const acknowledge = {
  nag(scope: IConstruct, id: string, reason: string): void {
    cdk.Validations.of(scope).acknowledge({ id, reason });
  },
  cfn(scope: IConstruct): cdk.CfnResource {
    const resource = scope instanceof cdk.CfnResource ? scope : scope.node.defaultChild;
    if (!(resource instanceof cdk.CfnResource)) {
      throw new Error(`${scope.node.path} has no CloudFormation resource`);
    }
    return resource;
  },
  checkov(scope: IConstruct, check: string, reason: string): void {
    const resource = acknowledge.cfn(scope);
    const existing = resource.getMetadata('checkov') ?? { skip: [] };
    resource.addMetadata('checkov', { ...existing, skip: [...existing.skip, { id: check, comment: reason }] });
  },
  cfnLint(scope: IConstruct, rule: string, reason: string): void {
    const resource = acknowledge.cfn(scope);
    const existing = resource.getMetadata('cfn-lint') ?? { config: { ignore_checks: [] } };
    resource.addMetadata('cfn-lint', {
      ...existing,
      config: { ...existing.config, ignore_checks: [...existing.config.ignore_checks, rule] },
    });
    const reasons = resource.getMetadata('EcsPlayground::CfnLintReasons') ?? {};
    resource.addMetadata('EcsPlayground::CfnLintReasons', { ...reasons, [rule]: reason });
  },
};

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
    const scalingTopic = new sns.Topic(this, 'ScalingNotifications', {
      enforceSSL: true,
      displayName: `Auto Scaling events of ECS cluster ${clusterName}`,
    });
    const unencryptedTopic =
      'Auto Scaling cannot publish to a topic under the AWS-managed SNS key, and a ' +
      'customer key would need the Auto Scaling service-linked role in its key policy, ' +
      'which may not exist yet at deploy time; the notifications carry no data, only ' +
      'instance IDs and scaling causes';
    acknowledge.nag(scalingTopic, 'AwsSolutions-SNS2', unencryptedTopic);
    acknowledge.checkov(scalingTopic, 'CKV_AWS_26', unencryptedTopic);
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
      notifications: [{ topic: scalingTopic }],
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
    acknowledge.nag(
      instanceRole,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      'Session Manager replaces SSH (no key pair, no port 22); AWS maintains this policy ' +
        'as the minimum for the SSM agent',
    );
    const policy = instanceRole.node.findChild('DefaultPolicy');
    acknowledge.nag(
      policy,
      'AwsSolutions-IAM5[Action::ecs:Submit*]',
      "the ECS agent's own policy (aws-cdk-lib's cluster setup): Submit* reports task and " +
        "container state and is limited to this cluster's ARN",
    );
    acknowledge.nag(
      policy,
      'AwsSolutions-IAM5[Resource::*]',
      'ecs:DiscoverPollEndpoint, ecr:GetAuthorizationToken and the logs actions the ECS ' +
        'agent needs have no resource-level permissions; ecs:Poll is conditioned on this ' +
        'cluster',
    );
    acknowledge.checkov(
      policy,
      'CKV_AWS_111',
      "the ECS agent's write actions (Submit*, logs) are scoped to this cluster where the " +
        'API allows resource-level permissions; the rest have none',
    );
    (this.cluster.node.defaultChild as ecs.CfnCluster).addMetadata(
      'EcsPlayground::CapacityHeadroom',
      CAPACITY_HEADROOM,
    );
  }
}

class MySqlDatabase extends Construct {
  readonly instance: rds.DatabaseInstance;
  readonly secret: rds.DatabaseSecret;

  constructor(scope: Construct, id: string, vpc: ec2.IVpc, encryptionKey: kms.IKey) {
    super(scope, id);
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: 'MySQL: inbound 3306 only from allowed clients, no outbound',
    });
    this.secret = new rds.DatabaseSecret(this, 'Secret', {
      username: 'admin',
      excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
      encryptionKey,
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
      storageEncryptionKey: encryptionKey,
      iamAuthentication: true,
      monitoringInterval: cdk.Duration.seconds(60),
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
    acknowledge.nag(
      this.instance,
      'AwsSolutions-RDS11',
      "MySQL's standard port 3306 is part of the platform's contract with its services; " +
        "only the container instances' security group can reach it",
    );
    acknowledge.nag(
      this.secret,
      'AwsSolutions-SMG4',
      'the services read the credentials once, at task start (ECS secrets); a rotation ' +
        'would break running tasks until they are replaced, so rotation is an operator ' +
        'decision paired with a service redeploy',
    );
    acknowledge.nag(
      this.instance.node.findChild('MonitoringRole'),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/' +
        'AmazonRDSEnhancedMonitoringRole]',
      'the AWS-maintained policy RDS enhanced monitoring requires',
    );
    // multiAz is false (the Python app acknowledges RDS3 only then); deletion protection is on,
    // so no RDS10; a customer key is given, so no CKV_AWS_149.
    const singleAz =
      'single instance by default, as in the tutorial (a standby doubles the ' +
      'cost); set multi_az / db.multiAz for production';
    acknowledge.nag(this.instance, 'AwsSolutions-RDS3', singleAz);
    acknowledge.checkov(this.instance, 'CKV_AWS_157', singleAz);
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
    logEncryptionKey: kms.IKey,
    accessLogsBucket: s3.Bucket,
  ) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
      encryptionKey: logEncryptionKey,
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
    cfn.accessLoggingPolicy = {
      enabled: true,
      s3BucketName: accessLogsBucket.bucketName,
      s3BucketPrefix: s.name,
      emitInterval: 5,
    };
    // The ELB checks at creation that it may write to the bucket.
    lb.node.addDependency(accessLogsBucket.policy!);
    acknowledge.nag(
      lb,
      'AwsSolutions-ELB1',
      "a classic ELB is this construct's purpose: the platform reproduces the ECS-on-EC2 " +
        'tutorial, one static host port per service behind a classic load balancer',
    );
    acknowledge.nag(
      lb.connections.securityGroups[0],
      'AwsSolutions-EC23',
      `the ELB serves the public '${s.name}' endpoint on its listener port only ` +
        '(allowed_cidrs); the instances behind it accept traffic from this ELB alone',
    );
    acknowledge.nag(
      taskDefinition,
      'AwsSolutions-ECS2',
      'the environment holds only non-secret settings (DB host, port, name); credentials ' +
        'come from Secrets Manager as ECS secrets, and the EcsPlayground-PlaintextSecret ' +
        'rule fails any credential-looking literal',
    );
    const executionPolicy = taskDefinition.obtainExecutionRole().node.tryFindChild('DefaultPolicy');
    if (executionPolicy !== undefined) {
      acknowledge.nag(
        executionPolicy,
        'AwsSolutions-IAM5[Resource::*]',
        'ecr:GetAuthorizationToken has no resource-level permissions; image pulls and ' +
          "log writes are scoped to the asset repository and this service's log group",
      );
    }
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
    this.acknowledgeDefaultSgRestriction();
    const encryptionKey = this.encryptionKey();
    const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogGroup', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
      encryptionKey,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    });
    const cluster = new ContainerCluster(this, 'Cluster', vpc);
    const database = new MySqlDatabase(this, 'Database', vpc, encryptionKey);
    database.instance.connections.allowDefaultPortFrom(
      cluster.securityGroup,
      'MySQL from the ECS instances',
    );

    const accessLogsBucket = elbAccessLogsBucket(this, 'ElbAccessLogs');
    const services = new Construct(this, 'Services');
    const created = SERVICES.map(
      (s) =>
        [
          s,
          new ClassicLoadBalancedService(services, s.id, s, cluster, database, encryptionKey, accessLogsBucket),
        ] as const,
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

  // The platform's customer managed key: log groups and the database secret and storage.
  private encryptionKey(): kms.Key {
    const key = new kms.Key(this, 'EncryptionKey', {
      description: 'ecs-playground: logs, database storage and credentials',
      enableKeyRotation: true,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        principals: [new iam.ServicePrincipal(`logs.${cdk.Aws.REGION}.amazonaws.com`)],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn':
              `arn:${cdk.Aws.PARTITION}:logs:${cdk.Aws.REGION}:${cdk.Aws.ACCOUNT_ID}:log-group:*`,
          },
        },
      }),
    );
    return key;
  }

  private acknowledgeDefaultSgRestriction(): void {
    const provider = this.node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
    if (provider === undefined) return;
    const handler = provider.node.findChild('Handler');
    const reason =
      "aws-cdk-lib's provider for the VPC default security group lockdown runs once " +
      'per deployment, outside the VPC by design (it calls the EC2 API)';
    for (const check of ['CKV_AWS_115', 'CKV_AWS_116', 'CKV_AWS_117']) {
      acknowledge.checkov(handler, check, reason);
    }
    acknowledge.cfnLint(
      handler,
      'W3005',
      'aws-cdk-lib writes both DependsOn and a GetAtt on this role; the duplicate is harmless',
    );
  }
}

// ecs_playground/access_logs.py: the bucket classic ELBs write access logs to.
function elbAccessLogsBucket(scope: Construct, id: string, retentionDays = 90): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    // Classic ELB access logs support SSE-S3 only (not SSE-KMS).
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    removalPolicy: cdk.RemovalPolicy.RETAIN,
    lifecycleRules: [
      {
        expiration: cdk.Duration.days(retentionDays),
        noncurrentVersionExpiration: cdk.Duration.days(7),
      },
    ],
  });
  // Log delivery: the regional ELB account (older regions) or the log delivery service.
  const elbAccount = cdk.Stack.of(scope).regionalFact(FactName.ELBV2_ACCOUNT);
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      actions: ['s3:PutObject'],
      principals: [
        new iam.AccountPrincipal(elbAccount),
        new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com'),
      ],
      resources: [bucket.arnForObjects('*')],
    }),
  );
  const reason =
    'this bucket is the access-log destination itself; logging its own accesses ' +
    'into another bucket would only move the question';
  acknowledge.nag(bucket, 'AwsSolutions-S1', reason);
  acknowledge.checkov(bucket, 'CKV_AWS_18', reason);
  acknowledge.checkov(bucket, 'CKV_AWS_145', 'classic ELB access log delivery supports SSE-S3 only, not SSE-KMS');
  return bucket;
}

const app = new cdk.App();
new EcsPlaygroundStack(app, 'EcsPlayground', {
  description: 'ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL',
});
// As gates.register(app) in app.py, minus EcsPlaygroundRules (Python only, see the top).
cdk.Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
