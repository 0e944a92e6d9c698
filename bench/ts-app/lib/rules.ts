// ecs_playground/rules.py (EcsPlaygroundRules): the app's own template rules as a CDK validation
// plugin, ported rule for rule so both apps run the same gates on the same templates.
import * as fs from 'node:fs';
import * as cdk from 'aws-cdk-lib';

const SECRET_NAME =
  /(PASSWORD|PASSWD|PASSPHRASE|PWD|(^|_)PASS($|_)|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|SECRET_?KEY|CREDENTIAL|AUTH_?KEY|(^|_)AUTH($|_)|BEARER|SESSION_?KEY)/i;
const SECRET_VALUES: Record<string, RegExp> = {
  'a URL with a password': /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s:@]*:[^@\s/]+@/,
  'a dynamic reference to a secret': /\{\{resolve:(secretsmanager|ssm-secure):/,
  'a private key': /-----BEGIN ([A-Z]+ )*PRIVATE KEY-----/,
  'an AWS access key ID': /\b(AKIA|ASIA)[0-9A-Z]{16}\b/,
  'a GitHub token': /\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}/,
  'a Slack token': /\bxox[abposr]-[A-Za-z0-9-]{10,}/,
  'a JSON Web Token': /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\./,
};
const ANY_SECRET_VALUE = new RegExp(Object.values(SECRET_VALUES).map((p) => `(?:${p.source})`).join('|'));
const SECRET_ARN_NAME = /_ARN$/i;
const SECRET_ARN_VALUE = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+$/;
const KEEPS_DATA = new Set(['Retain', 'Snapshot', 'RetainExceptOnCreate']);
const STATEFUL_TYPES = new Set([
  'AWS::RDS::DBInstance', 'AWS::RDS::DBCluster', 'AWS::SecretsManager::Secret',
  'AWS::Logs::LogGroup', 'AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::DynamoDB::Table',
  'AWS::EFS::FileSystem', 'AWS::ElastiCache::ReplicationGroup',
]);
const OPEN_CIDRS = new Set(['0.0.0.0/0', '::/0']);
const INSTANCE_SG_HOLDERS = new Set([
  'AWS::EC2::LaunchTemplate', 'AWS::AutoScaling::LaunchConfiguration', 'AWS::EC2::Instance',
]);
const RULE_DESCRIPTIONS: Record<string, string> = {
  'EcsPlayground-PlaintextSecret':
    "A container's plain environment holds a credential (by name: a literal in a variable named " +
    "like one; by value: a URL with a password, a secret's dynamic reference, a private key or a " +
    'token); pass it as an ECS secret.',
  'EcsPlayground-StatefulDelete':
    'A stateful resource is deleted with its stack; set RemovalPolicy.RETAIN (or SNAPSHOT for databases).',
  'EcsPlayground-OpenInstancePort':
    'A security group rule opens an instance port to the whole internet; put a load balancer in ' +
    'front or restrict the source.',
};

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Finding { rule: string; logicalId: string; message: string; location: string }

function* strings(value: Json): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const item of value) yield* strings(item);
  else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) yield* strings(item);
}

function secretIn(name: Json, value: Json): string | undefined {
  const texts = [...strings(value)];
  if (texts.some((t) => ANY_SECRET_VALUE.test(t))) {
    for (const [kind, pattern] of Object.entries(SECRET_VALUES)) {
      if (texts.some((t) => pattern.test(t))) return kind;
    }
  }
  if (typeof name === 'string' && SECRET_NAME.test(name) && typeof value === 'string'
      && !(SECRET_ARN_NAME.test(name) && (SECRET_ARN_VALUE.test(value) || cdk.Token.isUnresolved(value)))) {
    return 'a literal value in a variable named like a credential';
  }
  return undefined;
}

function* referencedIds(value: Json): Generator<string> {
  if (Array.isArray(value)) {
    for (const item of value) yield* referencedIds(item);
  } else if (value !== null && typeof value === 'object') {
    if (typeof value.Ref === 'string') yield value.Ref;
    const attr = value['Fn::GetAtt'];
    if (Array.isArray(attr) && attr.length > 0) yield String(attr[0]);
    for (const item of Object.values(value)) yield* referencedIds(item);
  }
}

export function checkTemplate(template: Json): Finding[] {
  const resources: Record<string, Json> = template.Resources ?? {};
  const findings: Finding[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::ECS::TaskDefinition') {
      for (const container of resource.Properties?.ContainerDefinitions ?? []) {
        for (const env of container?.Environment ?? []) {
          const reason = secretIn(env.Name, env.Value);
          if (reason) {
            findings.push({
              rule: 'EcsPlayground-PlaintextSecret', logicalId,
              message: `container '${container.Name}' sets ${env.Name} in its plain environment to ${reason}`,
              location: `Resources/${logicalId}/Properties/ContainerDefinitions/${container.Name}/Environment/${env.Name} (${reason})`,
            });
          }
        }
      }
    }
    if (STATEFUL_TYPES.has(resource.Type)) {
      const policy = resource.DeletionPolicy ?? 'Delete';
      if (!KEEPS_DATA.has(policy)) {
        findings.push({
          rule: 'EcsPlayground-StatefulDelete', logicalId,
          message: `${resource.Type} has DeletionPolicy ${policy}`, location: '',
        });
      }
    }
  }
  const instanceSgs = new Set<string>();
  for (const r of Object.values(resources)) {
    if (!INSTANCE_SG_HOLDERS.has(r.Type)) continue;
    for (const ref of referencedIds(r.Properties ?? {})) {
      if (resources[ref]?.Type === 'AWS::EC2::SecurityGroup') instanceSgs.add(ref);
    }
  }
  for (const [logicalId, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    let rules: Json[] = [];
    if (resource.Type === 'AWS::EC2::SecurityGroup' && instanceSgs.has(logicalId)) {
      rules = props.SecurityGroupIngress ?? [];
    } else if (resource.Type === 'AWS::EC2::SecurityGroupIngress') {
      if ([...referencedIds(props.GroupId)].some((id) => instanceSgs.has(id))) rules = [props];
    }
    for (const rule of rules) {
      const cidr = rule.CidrIp ?? rule.CidrIpv6;
      if (OPEN_CIDRS.has(cidr)) {
        findings.push({
          rule: 'EcsPlayground-OpenInstancePort', logicalId,
          message: `port ${rule.FromPort}-${rule.ToPort} of the instances is open to ${cidr}`, location: '',
        });
      }
    }
  }
  return findings;
}

export class EcsPlaygroundRules implements cdk.IPolicyValidationPlugin {
  readonly name = 'EcsPlayground';
  readonly version = '1.0.0';
  readonly ruleIds = Object.keys(RULE_DESCRIPTIONS).sort();

  validate(context: cdk.IPolicyValidationContext): cdk.PolicyValidationPluginReport {
    const byRule = new Map<string, cdk.PolicyViolatingResource[]>();
    for (const templatePath of context.templatePaths) {
      const template = JSON.parse(fs.readFileSync(templatePath, 'utf8'));
      for (const f of checkTemplate(template)) {
        const list = byRule.get(f.rule) ?? [];
        list.push({
          resourceLogicalId: f.logicalId,
          templatePath,
          locations: [f.location || `Resources/${f.logicalId}`],
        });
        byRule.set(f.rule, list);
      }
    }
    const violations = [...byRule.entries()].sort().map(([rule, violatingResources]) => ({
      ruleName: rule,
      description: RULE_DESCRIPTIONS[rule],
      violatingResources,
      severity: 'error',
    }));
    return { success: violations.length === 0, violations };
  }
}
