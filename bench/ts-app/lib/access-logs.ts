// ecs_playground/access_logs.py: the bucket classic ELBs write access logs to.
import * as cdk from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { FactName } from 'aws-cdk-lib/region-info';
import type { Construct } from 'constructs';
import * as acknowledge from './acknowledge.ts';

export function elbAccessLogsBucket(scope: Construct, id: string, retentionDays = 90): s3.Bucket {
  const bucket = new s3.Bucket(scope, id, {
    // Classic ELB access logs support SSE-S3 only (not SSE-KMS).
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    removalPolicy: cdk.RemovalPolicy.RETAIN,
    lifecycleRules: [
      { expiration: cdk.Duration.days(retentionDays), noncurrentVersionExpiration: cdk.Duration.days(7) },
    ],
  });
  const stack = cdk.Stack.of(scope);
  const thisAccountLogs = bucket.arnForObjects(`*/AWSLogs/${stack.account}/*`);
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'ElbAccountWritesThisAccountsLogs',
      actions: ['s3:PutObject'],
      principals: [new iam.AccountPrincipal(stack.regionalFact(FactName.ELBV2_ACCOUNT))],
      resources: [thisAccountLogs],
    }),
  );
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'LogDeliveryWritesThisAccountsLogs',
      actions: ['s3:PutObject'],
      principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
      resources: [thisAccountLogs],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'elasticloadbalancing',
            resource: 'loadbalancer',
            resourceName: '*',
          }),
        },
      },
    }),
  );
  const reason =
    'this bucket is the access-log destination itself; logging its own accesses ' +
    'into another bucket would only move the question';
  acknowledge.nag(bucket, 'AwsSolutions-S1', reason);
  acknowledge.checkov(bucket, 'CKV_AWS_18', reason);
  acknowledge.checkov(bucket, 'CKV_AWS_145', 'classic ELB access log delivery supports SSE-S3 only, not SSE-KMS');
  return bucket;
}
