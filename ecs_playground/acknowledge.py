"""Reasoned exceptions to scanner findings, written next to the construct that causes them.

Every exception names one finding and says why a reviewer should accept it:
* cdk-nag: `Validations.of(scope).acknowledge(...)` (CDK's validation framework);
* checkov: `Metadata.checkov.skip` on the CloudFormation resource;
* cfn-lint: `Metadata.cfn-lint.config.ignore_checks` on the CloudFormation resource.

Each call costs jsii round trips to CDK's kernel (two for cdk-nag, four to six for a metadata
entry), so several findings on one scope go in one call: `nags`, `checkovs`, `cfn_lints` write
exactly what the same single calls, in the same order, would.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def nag(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (e.g. 'AwsSolutions-IAM5[Resource::*]') on a scope."""
    nags(scope, {finding: reason})


def nags(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge cdk-nag findings on a scope, in order: finding -> reason."""
    if findings:
        Validations.of(scope).acknowledge(
            *(Acknowledgment(id=finding, reason=reason) for finding, reason in findings.items())
        )


def _cfn(scope: IConstruct) -> CfnResource:
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    assert isinstance(resource, CfnResource), f"{scope.node.path} has no CloudFormation resource"
    return resource


def checkov(scope: IConstruct, check: str, reason: str) -> None:
    """Skip one checkov check (e.g. 'CKV_AWS_158') on the scope's CloudFormation resource."""
    checkovs(scope, {check: reason})


def checkovs(scope: IConstruct, checks: Mapping[str, str]) -> None:
    """Skip checkov checks on the scope's CloudFormation resource, in order: check -> reason."""
    if not checks:
        return
    resource = _cfn(scope)
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] = [*existing["skip"],
                        *({"id": check, "comment": reason} for check, reason in checks.items())]
    resource.add_metadata("checkov", existing)


def cfn_lint(scope: IConstruct, rule: str, reason: str) -> None:
    """Ignore one cfn-lint rule (e.g. 'W3005') on the scope's resource; the reason is recorded."""
    cfn_lints(scope, {rule: reason})


def cfn_lints(scope: IConstruct, rules: Mapping[str, str]) -> None:
    """Ignore cfn-lint rules on the scope's resource, in order: rule -> reason (recorded)."""
    if not rules:
        return
    resource = _cfn(scope)
    existing = resource.get_metadata("cfn-lint") or {"config": {"ignore_checks": []}}
    existing["config"]["ignore_checks"] = [*existing["config"]["ignore_checks"], *rules]
    resource.add_metadata("cfn-lint", existing)
    reasons = resource.get_metadata("EcsPlayground::CfnLintReasons") or {}
    resource.add_metadata("EcsPlayground::CfnLintReasons", {**reasons, **rules})
