"""The S3 bucket that receives classic ELB access logs: private, SSL-only, encrypted, versioned."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import FactName
from constructs import Construct

from . import acknowledge


def elb_access_logs_bucket(scope: Construct, id: str, retention_days: int = 90) -> s3.Bucket:
    """A bucket classic ELBs can write access logs to; objects expire after `retention_days`."""
    bucket = s3.Bucket(
        scope, id,
        # Classic ELB access logs support SSE-S3 only (not SSE-KMS).
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=Duration.days(retention_days),
                noncurrent_version_expiration=Duration.days(7),
            )
        ],
    )
    # Log delivery writes to <prefix>/AWSLogs/<this account>/...: only there, only for this
    # account. Older regions deliver as the regional ELB account; newer ones as the log delivery
    # service, which is also held to this account's load balancers.
    stack = Stack.of(scope)
    this_account_logs = bucket.arn_for_objects(f"*/AWSLogs/{stack.account}/*")
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ElbAccountWritesThisAccountsLogs",
            actions=["s3:PutObject"],
            principals=[iam.AccountPrincipal(stack.regional_fact(FactName.ELBV2_ACCOUNT))],
            resources=[this_account_logs],
        )
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="LogDeliveryWritesThisAccountsLogs",
            actions=["s3:PutObject"],
            principals=[iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com")],
            resources=[this_account_logs],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": stack.format_arn(
                    service="elasticloadbalancing", resource="loadbalancer", resource_name="*"
                )},
            },
        )
    )
    reason = ("this bucket is the access-log destination itself; logging its own accesses "
              "into another bucket would only move the question")
    acknowledge.nag(bucket, "AwsSolutions-S1", reason)
    acknowledge.checkov(bucket, "CKV_AWS_18", reason)
    acknowledge.checkov(
        bucket, "CKV_AWS_145",
        "classic ELB access log delivery supports SSE-S3 only, not SSE-KMS",
    )
    return bucket
