"""Reasoned exceptions to scanner findings, written next to the construct that causes them.

Every exception names one finding and says why a reviewer should accept it:
* cdk-nag: `Validations.of(scope).acknowledge(...)` (CDK's validation framework);
* checkov: `Metadata.checkov.skip` on the CloudFormation resource;
* cfn-lint: `Metadata.cfn-lint.config.ignore_checks` on the CloudFormation resource.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def nag(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. 'AwsSolutions-IAM5[Resource::*]') on a scope."""
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def _cfn(scope: IConstruct) -> CfnResource:
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    assert isinstance(resource, CfnResource), f"{scope.node.path} has no CloudFormation resource"
    return resource


def checkov(scope: IConstruct, check: str, reason: str) -> None:
    """Skip one checkov check (e.g. 'CKV_AWS_158') on the scope's CloudFormation resource."""
    resource = _cfn(scope)
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] = [*existing["skip"], {"id": check, "comment": reason}]
    resource.add_metadata("checkov", existing)


def cfn_lint(scope: IConstruct, rule: str, reason: str) -> None:
    """Ignore one cfn-lint rule (e.g. 'W3005') on the scope's resource; the reason is recorded."""
    resource = _cfn(scope)
    existing = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}}
    existing["config"]["ignore_checks"] = [*existing["config"]["ignore_checks"], rule]
    resource.add_metadata("cfn-lint", existing)
    reasons = resource.get_metadata("EcsPlayground::CfnLintReasons") or {}
    resource.add_metadata("EcsPlayground::CfnLintReasons", {**reasons, rule: reason})
