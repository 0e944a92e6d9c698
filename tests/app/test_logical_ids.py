"""Logical IDs of stateful resources are public contract.

Renaming or re-parenting one of these constructs makes CloudFormation replace the resource: a new
database, a new secret (new password), lost logs, a new ELB DNS name. Changing this list is a
breaking change and must be called out as one.
"""

from __future__ import annotations

from aws_cdk.assertions import Template

STATEFUL = {
    "Vpc8378EB38": "AWS::EC2::VPC",
    "EncryptionKey1B843E66": "AWS::KMS::Key",
    "ElbAccessLogs6C980B06": "AWS::S3::Bucket",
    "VpcFlowLogGroup86559C69": "AWS::Logs::LogGroup",
    "ClusterC2E21B66": "AWS::ECS::Cluster",
    "ClusterAutoScalingGroupASG8FBA5099": "AWS::AutoScaling::AutoScalingGroup",
    "ClusterLaunchTemplateD946544B": "AWS::EC2::LaunchTemplate",
    "ClusterCapacityProvider431BD7BE": "AWS::ECS::CapacityProvider",
    "DatabaseInstanceAA8A5FDE": "AWS::RDS::DBInstance",
    "DatabaseInstanceSubnetGroupDE121BB6": "AWS::RDS::DBSubnetGroup",
    "DatabaseSecret3B817195": "AWS::SecretsManager::Secret",
    "DatabaseSecretAttachmentE5D1B020": "AWS::SecretsManager::SecretTargetAttachment",
    "DatabaseUsersSecretsLocation428BEC75": "AWS::SecretsManager::Secret",
    "DatabaseUsersSecretsUserCAA60BEC": "AWS::SecretsManager::Secret",
    "DatabaseUsersFunctionLogs395B079E": "AWS::Logs::LogGroup",
    "DatabaseUsersProviderLogsB7ED3C8A": "AWS::Logs::LogGroup",
    "ServicesLocationLogGroup61AAB5AF": "AWS::Logs::LogGroup",
    "ServicesLocationLoadBalancer2ECC3FDD": "AWS::ElasticLoadBalancing::LoadBalancer",
    "ServicesLocationService4D45543D": "AWS::ECS::Service",
    "ServicesUserLogGroup72115680": "AWS::Logs::LogGroup",
    "ServicesUserLoadBalancerF1E9343A": "AWS::ElasticLoadBalancing::LoadBalancer",
    "ServicesUserService8C9A362B": "AWS::ECS::Service",
    # a replaced topic loses its confirmed subscriptions (every subscriber confirms again)
    "MonitoringAlarmTopicAF62D4F1": "AWS::SNS::Topic",
    "ClusterScalingNotifications671F474C": "AWS::SNS::Topic",
    # a replaced namespace is a new private zone: every registration and name moves
    "ClusterDefaultServiceDiscoveryNamespaceD29986FD": "AWS::ServiceDiscovery::PrivateDnsNamespace",
}
STATEFUL_TYPES = set(STATEFUL.values())


def test_stateful_resources_keep_their_logical_ids(tutorial_template: Template) -> None:
    resources = tutorial_template.to_json()["Resources"]
    missing = {i: t for i, t in STATEFUL.items() if resources.get(i, {}).get("Type") != t}
    assert not missing, f"renamed or removed (CloudFormation would replace them): {missing}"


def test_every_stateful_resource_is_pinned(tutorial_template: Template) -> None:
    resources = tutorial_template.to_json()["Resources"]
    unpinned = {i for i, r in resources.items() if r["Type"] in STATEFUL_TYPES} - set(STATEFUL)
    assert not unpinned, f"new stateful resources: pin their logical IDs here: {unpinned}"
