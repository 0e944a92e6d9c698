"""The container instance role: what aws-cdk-lib gives it, minus what the instances do not need,
and the findings that remain, each with its reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from . import acknowledge
from ._lazy import lazy_any

UNSCOPED_LOG_WRITES = ("logs:CreateLogStream", "logs:PutLogEvents")


def drop_unscoped_log_writes(policy: IConstruct) -> None:
    """Remove the log writes on `*` that aws-cdk-lib gives every container instance role.

    Tasks with a task execution role (every task whose container logs with awslogs: aws-cdk-lib
    creates one) write their logs with it, scoped to their log group; the instances do not need
    to write into any log group of the account. Resolved lazily, so statements added to the role
    later are kept.
    """
    cfn = policy.node.default_child
    assert isinstance(cfn, iam.CfnPolicy)
    original = cfn.policy_document

    def produce() -> Any:
        document = Stack.of(policy).resolve(original)
        for statement in document.get("Statement", []):
            actions = statement.get("Action")
            if statement.get("Resource") == "*" and isinstance(actions, list):
                statement["Action"] = [a for a in actions if a not in UNSCOPED_LOG_WRITES]
        return document

    cfn.policy_document = lazy_any(produce)


def scope_agent_permissions(instance_role: iam.Role) -> None:
    """Drop the unscoped log writes from the ECS agent's policy on `instance_role` and acknowledge
    the findings that remain (each with its reason)."""
    acknowledge.nag(
        instance_role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
        "AmazonSSMManagedInstanceCore]",
        "Session Manager replaces SSH (no key pair, no port 22); AWS maintains this policy "
        "as the minimum for the SSM agent",
    )
    policy = instance_role.node.find_child("DefaultPolicy")
    drop_unscoped_log_writes(policy)
    acknowledge.nag(
        policy, "AwsSolutions-IAM5[Action::ecs:Submit*]",
        "the ECS agent's own policy (aws-cdk-lib's cluster setup): Submit* reports task and "
        "container state and is limited to this cluster's ARN",
    )
    acknowledge.nag(
        policy, "AwsSolutions-IAM5[Resource::*]",
        "ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken have no resource-level "
        "permissions; ecs:Poll and ecs:StartTelemetrySession are conditioned on this "
        "cluster's ARN; the role has no logs permissions (tasks log with their execution "
        "role, scoped to their log group)",
    )
    acknowledge.checkov(
        policy, "CKV_AWS_111",
        "the ECS agent's write actions: Register/Deregister/Submit* are limited to this "
        "cluster's ARN, Poll and StartTelemetrySession conditioned on it; "
        "DiscoverPollEndpoint has no resource-level permissions",
    )
