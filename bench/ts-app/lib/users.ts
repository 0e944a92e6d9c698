// ecs_playground/database_users.py: one MySQL user per service, its own secret, created by a
// Lambda-backed custom resource. The handler is bundled locally as the Python app does it (the
// handler folder plus the PyMySQL package of the checkout's .venv), so the asset is the same.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import * as acknowledge from './acknowledge.ts';
import { MYSQL_PORT, PASSWORD_EXCLUDED_CHARACTERS } from './database.ts';
import { ROOT, constructId } from './paths.ts';

const HANDLER_DIR = path.join(ROOT, 'ecs_playground', 'database_users_handler');
const RESOURCE_TYPE = 'Custom::DatabaseUsers';

export interface DatabaseUsersSettings {
  readonly vpc: ec2.IVpc;
  readonly masterSecret: secretsmanager.ISecret;
  readonly endpointAddress: string;
  readonly database: rds.DatabaseInstance;
  /** service name -> schema */
  readonly services: Record<string, string>;
  readonly encryptionKey: kms.IKey;
}

function copyTree(from: string, to: string): void {
  fs.cpSync(from, to, {
    recursive: true,
    filter: (source) => !source.endsWith('__pycache__') && !source.endsWith('.pyc'),
  });
}

/** The site-packages of the checkout's .venv (PyMySQL is installed there by `make install`). */
function sitePackages(): string {
  const lib = path.join(ROOT, '.venv', 'lib');
  const python = fs.readdirSync(lib).find((name) => name.startsWith('python'));
  if (python === undefined) throw new Error(`no python under ${lib}: run make install`);
  return path.join(lib, python, 'site-packages');
}

/** As _HandlerBundle.try_bundle: the handler folder, pymysql, and its METADATA and LICENSE. */
const handlerBundle: cdk.ILocalBundling = {
  tryBundle(outputDir: string): boolean {
    const site = sitePackages();
    copyTree(HANDLER_DIR, outputDir);
    copyTree(path.join(site, 'pymysql'), path.join(outputDir, 'pymysql'));
    const distInfo = fs.readdirSync(site).find((n) => /^pymysql-.*\.dist-info$/i.test(n));
    if (distInfo === undefined) throw new Error(`no PyMySQL dist-info in ${site}`);
    const version = distInfo.replace(/^pymysql-/i, '').replace(/\.dist-info$/, '');
    const meta = path.join(outputDir, `pymysql-${version}.dist-info`);
    fs.mkdirSync(meta);
    const record = fs.readFileSync(path.join(site, distInfo, 'RECORD'), 'utf8');
    for (const line of record.split('\n')) {
      const file = line.split(',')[0];
      const name = path.basename(file);
      if ((name === 'METADATA' || name === 'LICENSE') && file.includes('.dist-info')) {
        fs.copyFileSync(path.join(site, file), path.join(meta, name));
      }
    }
    return true;
  },
};

export class DatabaseUsers extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly function: lambda.Function;
  readonly provider: cr.Provider;
  readonly customResource: cdk.CustomResource;
  private readonly secrets: Record<string, secretsmanager.Secret>;

  constructor(scope: Construct, id: string, s: DatabaseUsersSettings) {
    super(scope, id);
    const subnets = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: s.vpc,
      allowAllOutbound: false,
      description: 'Database users provisioner: MySQL to the database, HTTPS to Secrets Manager',
    });
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'Secrets Manager API (through the NAT gateway or a VPC endpoint)',
    );
    this.securityGroup.connections.allowTo(
      s.database,
      ec2.Port.tcp(MYSQL_PORT),
      'MySQL from the database users provisioner',
    );
    this.secrets = this.serviceSecrets(s);
    const functionLogs = this.logGroup('FunctionLogs', s);
    this.function = new lambda.Function(this, 'Function', {
      description: "ecs-playground: creates each service's MySQL user, limited to its own schema",
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(HANDLER_DIR, {
        assetHashType: cdk.AssetHashType.OUTPUT,
        bundling: { image: lambda.Runtime.PYTHON_3_12.bundlingImage, local: handlerBundle },
      }),
      timeout: cdk.Duration.minutes(2),
      memorySize: 256,
      vpc: s.vpc,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      logGroup: functionLogs,
    });
    s.masterSecret.grantRead(this.function);
    for (const secret of Object.values(this.secrets)) secret.grantRead(this.function);
    const providerLogs = this.logGroup('ProviderLogs', s);
    this.provider = new cr.Provider(this, 'Provider', { onEventHandler: this.function, logGroup: providerLogs });
    this.customResource = new cdk.CustomResource(this, 'Users', {
      serviceToken: this.provider.serviceToken,
      resourceType: RESOURCE_TYPE,
      properties: {
        Endpoint: s.endpointAddress,
        Port: cdk.Tokenization.stringifyNumber(MYSQL_PORT),
        MasterSecretArn: s.masterSecret.secretArn,
        Services: Object.entries(s.services).map(([name, schema]) => ({
          User: name,
          Schema: schema,
          SecretArn: this.secrets[name].secretArn,
        })),
        DropSchemas: 'false',
        AdoptExistingUsers: 'false',
        AdoptExistingSchemas: 'false',
        DropAdopted: 'false',
      },
    });
    this.customResource.node.addDependency(s.database);
    for (const group of s.database.connections.securityGroups) this.customResource.node.addDependency(group);
    this.acknowledge();
  }

  secretFor(service: string): secretsmanager.ISecret {
    return this.secrets[service];
  }

  containerSecrets(service: string): Record<string, ecs.Secret> {
    const secret = this.secretFor(service);
    return {
      DB_USER: ecs.Secret.fromSecretsManager(secret, 'username'),
      DB_PWD: ecs.Secret.fromSecretsManager(secret, 'password'),
    };
  }

  containerEnvironment(service: string): Record<string, string> {
    return { DB_SECRET_ARN: this.secretFor(service).secretArn };
  }

  grantRotationPickup(service: string, taskRole: iam.IGrantable): void {
    this.secretFor(service).grantRead(taskRole);
  }

  private serviceSecrets(s: DatabaseUsersSettings): Record<string, secretsmanager.Secret> {
    const scope = new Construct(this, 'Secrets');
    const stack = cdk.Stack.of(this);
    const secrets: Record<string, secretsmanager.Secret> = {};
    for (const [name, schema] of Object.entries(s.services)) {
      secrets[name] = new secretsmanager.Secret(scope, constructId(name), {
        description: `MySQL credentials of service ${name} (its own user, schema ${schema} only)`,
        encryptionKey: s.encryptionKey,
        removalPolicy: cdk.RemovalPolicy.RETAIN,
        generateSecretString: {
          secretStringTemplate: stack.toJsonString({
            engine: 'mysql',
            host: s.endpointAddress,
            port: MYSQL_PORT,
            username: name,
            dbname: schema,
          }),
          generateStringKey: 'password',
          excludeCharacters: PASSWORD_EXCLUDED_CHARACTERS,
          passwordLength: 32,
        },
      });
    }
    return secrets;
  }

  private logGroup(id: string, s: DatabaseUsersSettings): logs.LogGroup {
    return new logs.LogGroup(this, id, {
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: s.encryptionKey,
      removalPolicy: cdk.RemovalPolicy.RETAIN,
    });
  }

  private acknowledge(): void {
    for (const secret of Object.values(this.secrets)) {
      acknowledge.nag(
        secret,
        'AwsSolutions-SMG4',
        'rotation is opt-in (DatabaseUsersProps.rotation): services that read ' +
          'DB_SECRET_ARN re-read a rotated password when MySQL refuses the old one, so ' +
          'turning it on needs no redeploy; images that ignore DB_SECRET_ARN need ' +
          'their tasks replaced after each rotation',
      );
    }
    const role = this.function.role!;
    for (const [policy, why] of [
      ['AWSLambdaBasicExecutionRole', 'write its own logs'],
      ['AWSLambdaVPCAccessExecutionRole', 'create and remove its ENIs in the VPC'],
    ]) {
      acknowledge.nag(
        role,
        `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
        `the AWS-maintained policy a Lambda function needs to ${why}`,
      );
    }
    acknowledge.nag(
      this.function,
      'AwsSolutions-L1',
      'Python 3.12 is pinned on purpose (in Lambda standard support): the handler and its ' +
        'bundled PyMySQL move to a newer runtime as a reviewed change, not as a side effect ' +
        'of a CDK upgrade',
    );
    acknowledge.checkov(
      this.function,
      'CKV_AWS_116',
      'invoked synchronously by the custom resource framework, which reports every failure ' +
        'to CloudFormation; a dead-letter queue only receives failed asynchronous events',
    );
    acknowledge.checkov(
      this.function,
      'CKV_AWS_115',
      "runs once per deployment; reserving concurrency would take it from the account's " +
        'unreserved pool, which small accounts cannot spare (the deployment would fail)',
    );
    acknowledge.cfnLint(
      this.function,
      'W3005',
      "aws-cdk-lib writes both DependsOn and a GetAtt on a function's role; the duplicate " +
        'is harmless',
    );
    acknowledge.cfnLint(
      this.customResource,
      'W3005',
      "the explicit dependency on the database stays even where the endpoint's GetAtt " +
        'implies it: with an existing database\'s endpoint as a plain string, it is the only ' +
        'thing that makes the users wait for the database',
    );
    const framework = this.provider.node.findChild('framework-onEvent');
    const frameworkReason =
      "aws-cdk-lib's custom resource framework function: it only relays CloudFormation's " +
      'events to the provisioner (which runs in the VPC) and needs no network access to ' +
      'the database';
    for (const [check, detail] of [
      ['CKV_AWS_117', ''],
      ['CKV_AWS_116', '; CloudFormation itself records a failed event'],
      ['CKV_AWS_115', '; it runs once per deployment'],
      ['CKV_AWS_173', "; its only environment variable is the provisioner's function ARN, not a secret"],
    ]) {
      acknowledge.checkov(framework, check, frameworkReason + detail);
    }
    acknowledge.cfnLint(
      framework,
      'W3005',
      "aws-cdk-lib writes both DependsOn and a GetAtt on the framework function's role; " +
        'the duplicate is harmless',
    );
    acknowledge.nag(
      framework,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/' +
        'AWSLambdaBasicExecutionRole]',
      "aws-cdk-lib's custom resource framework function: the AWS-maintained policy it " +
        'needs to write its own logs',
    );
    const functionId = cdk.Stack.of(this).getLogicalId(this.function.node.defaultChild as lambda.CfnFunction);
    acknowledge.nag(
      framework,
      `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      "aws-cdk-lib's custom resource framework may invoke any version of the provisioner " +
        'function (ARN:*), and that one function only',
    );
  }
}
