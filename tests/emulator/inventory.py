"""Does a stack resource's physical ID resolve through its service API? One probe per type.

Independent of the emulator's shims: it asks the public APIs with boto3, as a
user of ``aws ... describe-*`` would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

Clients = Callable[[str], Any]
Probe = Callable[[Clients, str], bool]


def clients_for(endpoint: str, region: str = "us-east-1") -> Clients:
    """A cached boto3 client factory for the emulator endpoint."""
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return cache[service]

    return client


def _missing_is_false(call: Callable[[], Any]) -> bool:
    try:
        return bool(call())
    except ClientError:
        return False


def _route(c: Clients, pid: str) -> bool:
    table, _, destination = pid.partition("~")
    tables = c("ec2").describe_route_tables(
        Filters=[{"Name": "route-table-id", "Values": [table]}]
    )["RouteTables"]
    return any(r.get("DestinationCidrBlock") == destination for t in tables for r in t["Routes"])


def _association(c: Clients, pid: str) -> bool:
    tables = c("ec2").describe_route_tables()["RouteTables"]
    return any(a.get("RouteTableAssociationId") == pid for t in tables for a in t["Associations"])


def _inline_policy(c: Clients, name: str) -> bool:
    """Probed by the template's ``PolicyName``: the physical ID of an inline policy has no API."""
    iam = c("iam")
    return any(
        name in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
        for r in iam.list_roles()["Roles"]
    )


def _attachment(c: Clients, pid: str) -> bool:
    gateways = c("ec2").describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [pid]}]
    )
    return bool(gateways["InternetGateways"])


def _rule(c: Clients, pid: str) -> bool:
    rules = c("ec2").describe_security_group_rules(
        Filters=[{"Name": "security-group-rule-id", "Values": [pid]}]
    )
    return bool(rules["SecurityGroupRules"])


def _nat(c: Clients, pid: str) -> bool:
    gateways = c("ec2").describe_nat_gateways(NatGatewayIds=[pid])["NatGateways"]
    return any(g["State"] not in ("deleted", "deleting") for g in gateways)


def _ecs_active(items: list[dict[str, Any]]) -> bool:
    return any(i.get("status") == "ACTIVE" for i in items)


def _service(c: Clients, pid: str) -> bool:
    cluster = pid.split("/")[-2]
    return _missing_is_false(
        lambda: _ecs_active(c("ecs").describe_services(cluster=cluster, services=[pid])["services"])
    )


def _secret(c: Clients, pid: str) -> bool:
    return _missing_is_false(
        lambda: "DeletedDate" not in c("secretsmanager").describe_secret(SecretId=pid)
    )


def _bucket_policy(c: Clients, pid: str) -> bool:
    return _missing_is_false(lambda: c("s3").get_bucket_policy(Bucket=pid)["Policy"])


def _topic_policy(c: Clients, pid: str) -> bool:
    """A topic policy has no API of its own: its topics (the physical ID lists their ARNs) must
    carry a non-default document."""
    def custom(arn: str) -> bool:
        policy = c("sns").get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy", "")
        return "__default_policy_ID" not in policy

    return all(_missing_is_false(lambda arn=arn: custom(arn)) for arn in pid.split(","))


def _alarm(c: Clients, name: str) -> bool:
    return bool(c("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"])


def _scalable_target(c: Clients, pid: str) -> bool:
    """Physical ID as CloudFormation gives it: ``resourceId|dimension|namespace``."""
    resource_id, dimension, namespace = pid.split("|")
    return bool(
        c("application-autoscaling").describe_scalable_targets(
            ServiceNamespace=namespace, ResourceIds=[resource_id], ScalableDimension=dimension
        )["ScalableTargets"]
    )


def _scaling_policy(c: Clients, arn: str) -> bool:
    policies = c("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")
    return any(p["PolicyARN"] == arn for p in policies["ScalingPolicies"])


def _subscription(c: Clients, arn: str) -> bool:
    return _missing_is_false(lambda: c("sns").get_subscription_attributes(SubscriptionArn=arn))


PROBES: dict[str, Probe] = {
    "AWS::EC2::VPC": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_vpcs(VpcIds=[p])["Vpcs"]
    ),
    "AWS::EC2::Subnet": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_subnets(SubnetIds=[p])["Subnets"]
    ),
    "AWS::EC2::RouteTable": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_route_tables(RouteTableIds=[p])["RouteTables"]
    ),
    "AWS::EC2::Route": _route,
    "AWS::EC2::SubnetRouteTableAssociation": _association,
    "AWS::EC2::InternetGateway": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_internet_gateways(InternetGatewayIds=[p])["InternetGateways"]
    ),
    "AWS::EC2::VPCGatewayAttachment": _attachment,
    "AWS::EC2::EIP": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_addresses(PublicIps=[p])["Addresses"]
    ),
    "AWS::EC2::NatGateway": _nat,
    "AWS::EC2::FlowLog": lambda c, p: bool(c("ec2").describe_flow_logs(FlowLogIds=[p])["FlowLogs"]),
    "AWS::EC2::SecurityGroup": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_security_groups(GroupIds=[p])["SecurityGroups"]
    ),
    "AWS::EC2::SecurityGroupIngress": _rule,
    "AWS::EC2::SecurityGroupEgress": _rule,
    "AWS::EC2::LaunchTemplate": lambda c, p: _missing_is_false(
        lambda: c("ec2").describe_launch_templates(LaunchTemplateIds=[p])["LaunchTemplates"]
    ),
    "AWS::IAM::Role": lambda c, p: _missing_is_false(lambda: c("iam").get_role(RoleName=p)),
    "AWS::IAM::InstanceProfile": lambda c, p: _missing_is_false(
        lambda: c("iam").get_instance_profile(InstanceProfileName=p)
    ),
    "AWS::Logs::LogGroup": lambda c, p: any(
        g["logGroupName"] == p
        for g in c("logs").describe_log_groups(logGroupNamePrefix=p)["logGroups"]
    ),
    "AWS::AutoScaling::AutoScalingGroup": lambda c, p: bool(
        c("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[p])[
            "AutoScalingGroups"
        ]
    ),
    "AWS::SNS::Topic": lambda c, p: _missing_is_false(
        lambda: c("sns").get_topic_attributes(TopicArn=p)
    ),
    "AWS::ECS::Cluster": lambda c, p: _ecs_active(
        c("ecs").describe_clusters(clusters=[p])["clusters"]
    ),
    "AWS::ECS::ClusterCapacityProviderAssociations": lambda c, p: any(
        cl.get("capacityProviders") for cl in c("ecs").describe_clusters(clusters=[p])["clusters"]
    ),
    "AWS::ECS::CapacityProvider": lambda c, p: bool(
        c("ecs").describe_capacity_providers(capacityProviders=[p])["capacityProviders"]
    ),
    "AWS::ECS::TaskDefinition": lambda c, p: (
        c("ecs").describe_task_definition(taskDefinition=p)["taskDefinition"]["status"] == "ACTIVE"
    ),
    "AWS::ECS::Service": _service,
    "AWS::ElasticLoadBalancing::LoadBalancer": lambda c, p: _missing_is_false(
        lambda: c("elb").describe_load_balancers(LoadBalancerNames=[p])["LoadBalancerDescriptions"]
    ),
    "AWS::S3::Bucket": lambda c, p: _missing_is_false(lambda: c("s3").head_bucket(Bucket=p)),
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::RDS::DBInstance": lambda c, p: _missing_is_false(
        lambda: c("rds").describe_db_instances(DBInstanceIdentifier=p)["DBInstances"]
    ),
    "AWS::RDS::DBSubnetGroup": lambda c, p: _missing_is_false(
        lambda: c("rds").describe_db_subnet_groups(DBSubnetGroupName=p)["DBSubnetGroups"]
    ),
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SecretsManager::SecretTargetAttachment": lambda c, p: _missing_is_false(
        lambda: "host" in c("secretsmanager").get_secret_value(SecretId=p)["SecretString"]
    ),
    "AWS::Lambda::Function": lambda c, p: _missing_is_false(
        lambda: c("lambda").get_function(FunctionName=p)
    ),
    "AWS::SSM::Parameter": lambda c, p: _missing_is_false(lambda: c("ssm").get_parameter(Name=p)),
    "AWS::IAM::Policy": _inline_policy,
    "AWS::KMS::Key": lambda c, p: _missing_is_false(
        lambda: c("kms").describe_key(KeyId=p)["KeyMetadata"]["Enabled"]
    ),
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::SNS::Subscription": _subscription,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::Dashboard": lambda c, p: _missing_is_false(
        lambda: c("cloudwatch").get_dashboard(DashboardName=p)["DashboardBody"]
    ),
    "AWS::ServiceDiscovery::PrivateDnsNamespace": lambda c, p: _missing_is_false(
        lambda: c("servicediscovery").get_namespace(Id=p)["Namespace"]["Type"] == "DNS_PRIVATE"
    ),
    "AWS::ServiceDiscovery::Service": lambda c, p: _missing_is_false(
        lambda: c("servicediscovery").get_service(Id=p)["Service"]
    ),
    "AWS::ApplicationAutoScaling::ScalableTarget": _scalable_target,
    "AWS::ApplicationAutoScaling::ScalingPolicy": _scaling_policy,
}

# Not probed: a custom resource's effect lives on in the resource it changed, and
# AWS::CDK::Metadata exists in CloudFormation only.
UNPROBED_PREFIXES = ("Custom::",)


# Probed by a template property instead of the physical ID.
PROBE_BY_PROPERTY = {"AWS::IAM::Policy": "PolicyName"}


def _policy_on_its_roles(
    clients: Clients, properties: dict[str, Any], physical: Mapping[str, str]
) -> bool:
    """An inline policy on the roles its template names (two stacks of one app name their inline
    policies alike: probing every role would find the other stack's)."""
    iam = clients("iam")
    roles = [physical[r["Ref"]] for r in properties.get("Roles", []) if "Ref" in r]
    return any(
        _missing_is_false(
            lambda role=role: properties["PolicyName"]
            in iam.list_role_policies(RoleName=role)["PolicyNames"]
        )
        for role in roles
    )


def exists(
    clients: Clients,
    resource_type: str,
    physical_id: str,
    properties: dict[str, Any] | None = None,
    physical: Mapping[str, str] | None = None,
) -> bool:
    """True when the service API shows the resource; KeyError for a type with no probe.
    ``physical`` (logical -> physical ID of the stack) narrows probes by property to the
    resources the template points at."""
    if resource_type.startswith(UNPROBED_PREFIXES) or resource_type == "AWS::CDK::Metadata":
        return True
    if resource_type == "AWS::IAM::Policy" and physical is not None and properties:
        return _policy_on_its_roles(clients, properties, physical)
    key = PROBE_BY_PROPERTY.get(resource_type)
    return PROBES[resource_type](
        clients, str((properties or {}).get(key, physical_id)) if key else physical_id
    )
