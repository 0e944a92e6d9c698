// ecs_playground/database.py: RDS MySQL, private, encrypted, backed up, with alarms.
import * as cdk from 'aws-cdk-lib';
import type * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import * as acknowledge from './acknowledge.ts';
import { ABOVE, BELOW, alarm, metric } from './alarms.ts';

export const MYSQL_PORT = 3306;
export const PASSWORD_EXCLUDED_CHARACTERS = " %+~`#$&*()|[]{}:;<>?!'/@\"\\";

export interface MySqlDatabaseSettings {
  readonly vpc: ec2.IVpc;
  readonly encryptionKey: kms.IKey;
  readonly engineVersion: string;
  readonly instanceClass: string;
  readonly allocatedStorageGib: number;
  readonly backupRetentionDays: number;
}

export class MySqlDatabase extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly secret: rds.DatabaseSecret;
  readonly instance: rds.DatabaseInstance;
  readonly alarms: Record<string, cw.Alarm>;

  constructor(scope: Construct, id: string, s: MySqlDatabaseSettings) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: s.vpc,
      allowAllOutbound: false,
      description: 'MySQL: inbound 3306 only from allowed clients, no outbound',
    });
    const major = s.engineVersion.split('.').slice(0, 2).join('.');
    this.secret = new rds.DatabaseSecret(this, 'Secret', {
      username: 'admin',
      excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
      encryptionKey: s.encryptionKey,
    });
    this.secret.applyRemovalPolicy(cdk.RemovalPolicy.RETAIN);
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine: rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.of(s.engineVersion, major) }),
      instanceType: new ec2.InstanceType(s.instanceClass.replace(/^db\./, '')),
      vpc: s.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.securityGroup],
      port: MYSQL_PORT,
      credentials: rds.Credentials.fromSecret(this.secret, 'admin'),
      publiclyAccessible: false,
      storageEncrypted: true,
      storageEncryptionKey: s.encryptionKey,
      iamAuthentication: false,
      monitoringInterval: cdk.Duration.seconds(60),
      storageType: rds.StorageType.GP3,
      allocatedStorage: s.allocatedStorageGib,
      maxAllocatedStorage: 100,
      multiAz: false,
      backupRetention: cdk.Duration.days(s.backupRetentionDays),
      deletionProtection: true,
      removalPolicy: cdk.RemovalPolicy.SNAPSHOT,
      autoMinorVersionUpgrade: false,
      copyTagsToSnapshot: true,
    });
    this.acknowledge();
    this.alarms = this.makeAlarms();
  }

  get hostname(): string {
    return this.instance.dbInstanceEndpointAddress;
  }

  allowFrom(peer: ec2.IConnectable, description: string): void {
    this.instance.connections.allowDefaultPortFrom(peer, description);
  }

  containerEnvironment(databaseName: string): Record<string, string> {
    return { DB_HOST: this.hostname, DB_PORT: String(MYSQL_PORT), DB_NAME: databaseName };
  }

  private makeAlarms(): Record<string, cw.Alarm> {
    const scope = new Construct(this, 'Alarms');
    const dims = { DBInstanceIdentifier: this.instance.instanceIdentifier };
    const minutes = 10;
    const checks: [string, string, number, cw.ComparisonOperator, string][] = [
      ['Cpu', 'CPUUtilization', 80, ABOVE, 'CPU above 80 %'],
      ['FreeStorage', 'FreeStorageSpace', 2 * 1024 ** 3, BELOW, 'free storage below 2 GiB'],
      ['FreeableMemory', 'FreeableMemory', 64 * 1024 ** 2, BELOW, 'freeable memory below 64 MiB'],
      ['Connections', 'DatabaseConnections', 50, ABOVE, 'more than 50 connections'],
    ];
    const found: Record<string, cw.Alarm> = {};
    for (const [key, metricName, threshold, comparison, what] of checks) {
      found[key] = alarm(scope, key, {
        metric: metric('AWS/RDS', metricName, dims),
        threshold,
        comparison,
        minutes,
        description: `MySQL database: ${what} for ${minutes} min`,
      });
    }
    return found;
  }

  private acknowledge(): void {
    acknowledge.nag(
      this.instance,
      'AwsSolutions-RDS11',
      "MySQL's standard port 3306 is part of the platform's contract with its services; " +
        "only the container instances' security group can reach it",
    );
    acknowledge.nag(
      this.secret,
      'AwsSolutions-SMG4',
      'the master credentials are read only by whoever administers the database (the ' +
        'database-users provisioner, during deployments; no task gets them); rotating them ' +
        'is left to the operator',
    );
    acknowledge.nag(
      this.instance.node.findChild('MonitoringRole'),
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/' +
        'AmazonRDSEnhancedMonitoringRole]',
      'the AWS-maintained policy RDS enhanced monitoring requires',
    );
    // multiAz false, iamAuthentication false, deletion protection on (the default config).
    const reason =
      'single instance by default, as in the tutorial (a standby doubles the ' +
      'cost); set multi_az / db.multiAz for production';
    acknowledge.nag(this.instance, 'AwsSolutions-RDS3', reason);
    acknowledge.checkov(this.instance, 'CKV_AWS_157', reason);
    acknowledge.checkov(
      this.instance,
      'CKV_AWS_161',
      'IAM database authentication is off because nothing uses it: every database user ' +
        'of the platform logs in with a password kept in Secrets Manager; set ' +
        'iam_authentication (db.iamAuthentication) to create users that log in with IAM',
    );
  }
}
