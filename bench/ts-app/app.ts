// Plain-TypeScript mirror of the ecs-playground default app (app.py + ecs_playground/ with the
// committed cdk.json), for `cdk synth` timing only. Same construct tree and IDs, so the templates
// can be diffed resource by resource (bench/compare_templates.py; tests/bench/test_ts_mirror.py
// fails when the resource types or counts differ). Node 24 runs these files directly (type
// stripping): erasable TypeScript syntax only, no build step.
//
// What is the same: every construct of the default platform stack (VPC and flow log, KMS key,
// ContainerCluster with its alarms and Cloud Map namespace, MySQL with its alarms, the database
// users provisioner with its locally bundled Lambda, the access-log bucket, the two services
// built as Docker image assets from ../../docker, the monitoring topic and dashboard), the
// acknowledgments (cdk-nag, checkov, cfn-lint metadata), and the gates: cdk-nag's AwsSolutions
// pack plus EcsPlaygroundRules (lib/rules.ts, a port of ecs_playground/rules.py), registered as
// validation plugins as ecs_playground_app/gates.py does.
//
// What is not mirrored: reading and validating the configuration (config.py, the props'
// validate()), the capacity check (its result, the cluster's CapacityHeadroom metadata, is
// written as a constant below), the quota check after synth, and the options the default
// configuration does not use (service stacks, certificates, autoscaling, compliance packs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct } from 'constructs';
import * as acknowledge from './lib/acknowledge.ts';
import { elbAccessLogsBucket } from './lib/access-logs.ts';
import { ContainerCluster } from './lib/cluster.ts';
import { MySqlDatabase } from './lib/database.ts';
import { PlatformMonitoring } from './lib/monitoring.ts';
import { ROOT, constructId } from './lib/paths.ts';
import { EcsPlaygroundRules } from './lib/rules.ts';
import { ClassicLoadBalancedService } from './lib/service.ts';
import { DatabaseUsers } from './lib/users.ts';

// The committed cdk.json's platform values.
const SERVICES = ['location', 'user'];
const IMAGES_DIRECTORY = path.join(ROOT, 'docker');
// What ContainerCluster computes for 4 x t2.medium and two services of 512 CPU / 1024 MiB x 4
// tasks at 200 % (ecs_playground/capacity.py), as the Python app writes it.
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
// ecs_playground_app/images.py
const SERVICE_IMAGE_HEALTH_CHECK: ecs.HealthCheck = {
  command: ['CMD', 'python', '-m', 'ecs_service.healthcheck'],
  interval: cdk.Duration.seconds(30),
  timeout: cdk.Duration.seconds(5),
  retries: 3,
  startPeriod: cdk.Duration.seconds(15),
};

function sourcePort(name: string): number {
  return JSON.parse(fs.readFileSync(path.join(IMAGES_DIRECTORY, name, 'service.json'), 'utf8')).port;
}

function serviceImage(name: string, port: number): ecs.ContainerImage {
  const others = fs
    .readdirSync(IMAGES_DIRECTORY, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(IMAGES_DIRECTORY, d.name, 'service.json')) && d.name !== name)
    .map((d) => d.name)
    .sort();
  return ecs.ContainerImage.fromAsset(IMAGES_DIRECTORY, {
    buildArgs: { SERVICE: name, PORT: String(port) },
    exclude: others,
  });
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
    vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) });
    const cluster = new ContainerCluster(this, 'Cluster', {
      vpc,
      clusterName: 'app01',
      instanceType: 't2.medium',
      machineImageRelease: 'al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64',
      minCapacity: 4,
      maxCapacity: 4,
      reservedMemoryMib: 256,
      discoveryNamespace: 'app01.internal',
      headroom: CAPACITY_HEADROOM,
    });
    const database = new MySqlDatabase(this, 'Database', {
      vpc,
      encryptionKey,
      engineVersion: '8.4.10',
      instanceClass: 'db.t3.micro',
      allocatedStorageGib: 20,
      backupRetentionDays: 7,
    });
    database.allowFrom(cluster.securityGroup, 'MySQL from the ECS instances');
    const users = new DatabaseUsers(this, 'DatabaseUsers', {
      vpc,
      masterSecret: database.secret,
      endpointAddress: database.hostname,
      database: database.instance,
      services: Object.fromEntries(SERVICES.map((name) => [name, name])),
      encryptionKey,
    });
    const accessLogsBucket = elbAccessLogsBucket(this, 'ElbAccessLogs');
    const servicesScope = new Construct(this, 'Services');
    const discovery = { DISCOVERY_NAMESPACE: cluster.namespace.namespaceName };
    const services = SERVICES.map((name) => {
      const port = sourcePort(name);
      return new ClassicLoadBalancedService(servicesScope, constructId(name), {
        name,
        cluster,
        image: serviceImage(name, port),
        containerPort: port,
        serviceName: name,
        family: name,
        cpu: 512,
        memoryLimitMib: 1024,
        containerHealthCheck: SERVICE_IMAGE_HEALTH_CHECK,
        environment: {
          ...users.containerEnvironment(name),
          ...database.containerEnvironment(name),
          ...discovery,
        },
        secrets: users.containerSecrets(name),
        extraHosts: { googledns: '8.8.8.8' },
        desiredCount: 4,
        minHealthyPercent: 50,
        maxHealthyPercent: 200,
        healthCheckPath: '/health',
        allowedCidrs: ['0.0.0.0/0'],
        logEncryptionKey: encryptionKey,
        accessLogsBucket,
      });
    });
    for (const service of services) {
      service.service.node.addDependency(users.customResource);
      users.grantRotationPickup(service.name, service.taskDefinition.taskRole);
    }
    const monitoring = new PlatformMonitoring(this, 'Monitoring', encryptionKey);
    for (const service of services) monitoring.addService(service);
    monitoring.addCluster(cluster);
    monitoring.addDatabase(database);

    new cdk.CfnOutput(this, 'ClusterName', { value: cluster.ecsCluster.clusterName, description: 'ECS cluster' });
    new cdk.CfnOutput(this, 'DatabaseEndpoint', {
      value: database.hostname,
      description: 'RDS MySQL endpoint address',
    });
    new cdk.CfnOutput(this, 'DatabaseSecretArn', {
      value: database.secret.secretArn,
      description: 'Secrets Manager secret with the generated DB credentials',
    });
    new cdk.CfnOutput(this, 'AlarmTopicArn', {
      value: monitoring.topic.topicArn,
      description: 'SNS topic of every alarm (ALARM and OK); subscribe to it',
    });
    new cdk.CfnOutput(this, 'DashboardUrl', {
      value: monitoring.dashboardUrl,
      description: 'CloudWatch dashboard of the platform',
    });
    for (const service of services) {
      new cdk.CfnOutput(this, `${constructId(service.name)}LoadBalancerDnsName`, {
        value: service.loadBalancer.loadBalancerDnsName,
        description: `DNS name of the ${service.name} service's classic ELB (port ${service.listenerPort})`,
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
              `arn:${cdk.Aws.PARTITION}:logs:${cdk.Aws.REGION}:${cdk.Aws.ACCOUNT_ID}:log-group:` +
              `${cdk.Aws.STACK_NAME}-*`,
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

// As app.py: TRACE_SWITCHES (ecs_playground_app/app.py), no stack traces in the metadata.
const app = new cdk.App({
  context: { 'aws:cdk:disable-creation-stack-traces': true, 'aws:cdk:disable-stack-trace': true },
});
new EcsPlaygroundStack(app, 'EcsPlayground', {
  description: 'ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL',
});
// As gates.register(app) (ecs_playground_app/gates.py) with nag.compliancePacks false.
cdk.Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new EcsPlaygroundRules());
app.synth();
