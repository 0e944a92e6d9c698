"""The library's own template rules, for what cdk-nag, cfn-lint and checkov do not catch.

* ``EcsPlayground-PlaintextSecret``: a credential in a container's plain environment. By name: a
  variable named like a credential (PASSWORD, PASS, PWD, SECRET, TOKEN, API/ACCESS/PRIVATE KEY,
  CREDENTIAL, ...) with a literal value. By value, whatever the name: a URL with
  ``user:password@``, a dynamic reference to a secret (``{{resolve:secretsmanager:...}}`` or
  ``{{resolve:ssm-secure:...}}``, which CloudFormation writes into the task definition in clear
  at deploy time), a private key, or a well-known token format (AWS access key ID, GitHub,
  Slack, JWT). A literal ``DB_PWD=...`` passes all three scanners.
* ``EcsPlayground-StatefulDelete``: a stateful resource (database, secret, log group, bucket,
  key, file system, table) whose data goes with the stack: no Retain/Snapshot deletion policy.
* ``EcsPlayground-OpenInstancePort``: a security group rule that opens a port of an EC2 instance
  (a security group used by a launch template, launch configuration or instance) to 0.0.0.0/0
  or ::/0.

Use them in any CDK app: ``Validations.of(app).add_plugins(EcsPlaygroundRules())``; acknowledge a
finding like any other, with ``Validations.of(construct).acknowledge(Acknowledgment(...))``.
The checks are plain functions on template dicts (`check_template`), so they also run on any
CloudFormation template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
    Token,
)

PLUGIN_NAME = "EcsPlayground"
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|PWD|(^|_)PASS($|_)|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY"
    r"|ACCESS_?KEY|SECRET_?KEY|CREDENTIAL|AUTH_?KEY|(^|_)AUTH($|_)|BEARER|SESSION_?KEY)",
    re.IGNORECASE,
)
SECRET_VALUES = {
    "a URL with a password": re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^@\s/]+@"),
    "a dynamic reference to a secret": re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):"),
    "a private key": re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"),
    "an AWS access key ID": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\b(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"),
    "a Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "a JSON Web Token": re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\."),
}
"""Values that are credentials whatever the variable is called."""
_ANY_SECRET_VALUE = re.compile("|".join(f"(?:{p.pattern})" for p in SECRET_VALUES.values()))
"""One search for all of them (none has flags): most values match none, and a catalog's task
definitions hold tens of thousands of values, checked when the props are validated and again on
the template."""
SECRET_ARN_NAME = re.compile(r"_ARN$", re.IGNORECASE)
SECRET_ARN_VALUE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+$")
"""`*_ARN` naming a Secrets Manager secret by ARN (e.g. `DB_SECRET_ARN`): where to read a
credential, not one; the task still needs IAM permission to read it. Before synthesis the ARN of a
secret in the app is a token (resolved to a `Ref` in the template), which passes as well."""
KEEPS_DATA = {"Retain", "Snapshot", "RetainExceptOnCreate"}
STATEFUL_TYPES = {
    "AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table",
    "AWS::EFS::FileSystem", "AWS::ElastiCache::ReplicationGroup",
}
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
INSTANCE_SG_HOLDERS = {
    "AWS::EC2::LaunchTemplate", "AWS::AutoScaling::LaunchConfiguration", "AWS::EC2::Instance",
}


@dataclass(frozen=True)
class Finding:
    """One rule violated by one resource."""

    rule: str
    logical_id: str
    message: str
    location: str = ""
    """Where in the resource, e.g. its variable: shown in CDK's validation report."""


RULE_DESCRIPTIONS = {
    "EcsPlayground-PlaintextSecret": "A container's plain environment holds a credential (by "
    "name: a literal in a variable named like one; by value: a URL with a password, a secret's "
    "dynamic reference, a private key or a token); pass it as an ECS secret.",
    "EcsPlayground-StatefulDelete": "A stateful resource is deleted with its stack; set "
    "RemovalPolicy.RETAIN (or SNAPSHOT for databases).",
    "EcsPlayground-OpenInstancePort": "A security group rule opens an instance port to the whole "
    "internet; put a load balancer in front or restrict the source.",
}


def _strings(value: Any) -> Iterator[str]:
    """Every literal string inside a value (also the parts of Fn::Join / Fn::Sub)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def secret_in(name: Any, value: Any) -> str | None:
    """Why an environment variable holds a credential in clear, or None when it does not."""
    texts = list(_strings(value))
    if any(_ANY_SECRET_VALUE.search(text) for text in texts):
        for kind, pattern in SECRET_VALUES.items():
            if any(pattern.search(text) for text in texts):
                return kind
    if (isinstance(name, str) and SECRET_NAME.search(name) and isinstance(value, str)
            and not (SECRET_ARN_NAME.search(name)
                     and (SECRET_ARN_VALUE.match(value) or Token.is_unresolved(value)))):
        return "a literal value in a variable named like a credential"
    return None


def _plaintext_secrets(logical_id: str, resource: dict[str, Any]) -> Iterator[Finding]:
    if resource.get("Type") != "AWS::ECS::TaskDefinition":
        return
    for container in resource.get("Properties", {}).get("ContainerDefinitions", []):
        for env in container.get("Environment", []) if isinstance(container, dict) else []:
            name = env.get("Name")
            reason = secret_in(name, env.get("Value"))
            if reason:
                yield Finding(
                    "EcsPlayground-PlaintextSecret", logical_id,
                    f"container '{container.get('Name')}' sets {name} in its plain environment "
                    f"to {reason}; pass it as an ECS secret (Secrets Manager or SSM) instead",
                    f"Resources/{logical_id}/Properties/ContainerDefinitions/"
                    f"{container.get('Name')}/Environment/{name} ({reason})",
                )


def _stateful_delete(logical_id: str, resource: dict[str, Any]) -> Iterator[Finding]:
    if resource.get("Type") in STATEFUL_TYPES:
        policy = resource.get("DeletionPolicy", "Delete")
        if policy not in KEEPS_DATA:
            yield Finding(
                "EcsPlayground-StatefulDelete", logical_id,
                f"{resource['Type']} has DeletionPolicy {policy}",
            )


def _referenced_ids(value: Any) -> Iterator[str]:
    """Logical IDs named by Ref / Fn::GetAtt anywhere inside a value."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        attr = value.get("Fn::GetAtt")
        if isinstance(attr, list) and attr:
            yield str(attr[0])
        for item in value.values():
            yield from _referenced_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_ids(item)


def _open_instance_ports(resources: dict[str, Any]) -> Iterator[Finding]:
    instance_sgs = {
        ref
        for r in resources.values() if r.get("Type") in INSTANCE_SG_HOLDERS
        for ref in _referenced_ids(r.get("Properties", {}))
        if resources.get(ref, {}).get("Type") == "AWS::EC2::SecurityGroup"
    }
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::EC2::SecurityGroup" and logical_id in instance_sgs:
            rules = [(logical_id, rule) for rule in props.get("SecurityGroupIngress", [])]
        elif resource.get("Type") == "AWS::EC2::SecurityGroupIngress":
            target = set(_referenced_ids(props.get("GroupId")))
            rules = [(logical_id, props)] if target & instance_sgs else []
        else:
            continue
        for owner, rule in rules:
            cidr = rule.get("CidrIp") or rule.get("CidrIpv6")
            if cidr in OPEN_CIDRS:
                yield Finding(
                    "EcsPlayground-OpenInstancePort", owner,
                    f"port {rule.get('FromPort')}-{rule.get('ToPort')} of the instances is "
                    f"open to {cidr}",
                )


def check_template(template: dict[str, Any]) -> list[Finding]:
    """Every finding of the three rules in one CloudFormation template."""
    resources = template.get("Resources", {})
    findings: list[Finding] = []
    for logical_id, resource in resources.items():
        findings += _plaintext_secrets(logical_id, resource)
        findings += _stateful_delete(logical_id, resource)
    findings += _open_instance_ports(resources)
    return findings


@jsii.implements(IPolicyValidationPlugin)
class EcsPlaygroundRules:
    """CDK validation plugin running `check_template` on every synthesized template."""

    @property
    def name(self) -> str:
        """Plugin name shown in the validation report."""
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        """Plugin version."""
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        """Rules this plugin evaluates."""
        return sorted(RULE_DESCRIPTIONS)

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        """Check each template; group findings by rule."""
        by_rule: dict[str, list[PolicyViolatingResource]] = {}
        for path in context.template_paths:
            template = json.loads(Path(path).read_text())
            for finding in check_template(template):
                by_rule.setdefault(finding.rule, []).append(
                    PolicyViolatingResource(
                        resource_logical_id=finding.logical_id, template_path=path,
                        locations=[finding.location or f"Resources/{finding.logical_id}"],
                    )
                )
        violations = [
            PolicyViolation(
                rule_name=rule, description=RULE_DESCRIPTIONS[rule],
                violating_resources=resources, severity="error",
            )
            for rule, resources in sorted(by_rule.items())
        ]
        return PolicyValidationPluginReport(success=not violations, violations=violations)
