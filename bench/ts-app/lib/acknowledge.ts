// ecs_playground/acknowledge.py: reasoned exceptions to scanner findings.
import * as cdk from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledge one cdk-nag finding on a scope (CDK's validation framework). */
export function nag(scope: IConstruct, id: string, reason: string): void {
  cdk.Validations.of(scope).acknowledge({ id, reason });
}

function cfn(scope: IConstruct): cdk.CfnResource {
  const resource = scope instanceof cdk.CfnResource ? scope : scope.node.defaultChild;
  if (!(resource instanceof cdk.CfnResource)) {
    throw new Error(`${scope.node.path} has no CloudFormation resource`);
  }
  return resource;
}

/** Skip one checkov check on the scope's CloudFormation resource. */
export function checkov(scope: IConstruct, check: string, reason: string): void {
  const resource = cfn(scope);
  const existing = resource.getMetadata('checkov') ?? { skip: [] };
  resource.addMetadata('checkov', { ...existing, skip: [...existing.skip, { id: check, comment: reason }] });
}

/** Ignore one cfn-lint rule on the scope's resource; the reason is recorded. */
export function cfnLint(scope: IConstruct, rule: string, reason: string): void {
  const resource = cfn(scope);
  const existing = resource.getMetadata('cfn-lint') ?? { config: { ignore_checks: [] } };
  resource.addMetadata('cfn-lint', {
    ...existing,
    config: { ...existing.config, ignore_checks: [...existing.config.ignore_checks, rule] },
  });
  const reasons = resource.getMetadata('EcsPlayground::CfnLintReasons') ?? {};
  resource.addMetadata('EcsPlayground::CfnLintReasons', { ...reasons, [rule]: reason });
}
