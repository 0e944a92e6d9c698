"""CloudFormation resource types moto 5.2.5 does not know, registered as new models.

moto's CloudFormation engine silently skips a type it has no model for; each class
below gives it one that calls moto's own service backend, so the resource really
exists afterwards (``describe-stack-resources`` lists it and its service API shows it).
"""

from __future__ import annotations

import json
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.ecs.models import ecs_backends
from moto.rds.models import rds_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.utilities.utils import get_partition

from emulator.compat.model_base import EmulatedModel, get_att, register
from emulator.compat.util import camel_keys, physical_id


class CdkMetadata(EmulatedModel):
    """``AWS::CDK::Metadata``: CDK's analytics marker, a resource in CloudFormation."""

    cfn_type = "AWS::CDK::Metadata"


def _generate_secret_string(backend: Any, spec: dict[str, Any]) -> str:
    """Build the secret value from ``GenerateSecretString`` the way Secrets Manager does."""
    password = json.loads(
        backend.get_random_password(
            password_length=int(spec.get("PasswordLength", 32)),
            exclude_characters=spec.get("ExcludeCharacters", ""),
            exclude_numbers=bool(spec.get("ExcludeNumbers", False)),
            exclude_punctuation=bool(spec.get("ExcludePunctuation", False)),
            exclude_uppercase=bool(spec.get("ExcludeUppercase", False)),
            exclude_lowercase=bool(spec.get("ExcludeLowercase", False)),
            include_space=bool(spec.get("IncludeSpace", False)),
            require_each_included_type=bool(spec.get("RequireEachIncludedType", True)),
        )
    )["RandomPassword"]
    template = spec.get("SecretStringTemplate")
    if not template:
        return str(password)
    value = json.loads(template)
    value[spec["GenerateStringKey"]] = password
    return json.dumps(value)


class Secret(EmulatedModel):
    """``AWS::SecretsManager::Secret`` with ``SecretString`` or ``GenerateSecretString``; Ref is
    the ARN.
    """

    cfn_type = "AWS::SecretsManager::Secret"
    name_property = "Name"
    attributes = get_att(Id="arn")

    def __init__(
        self, arn: str, account_id: str, region_name: str, properties: dict[str, Any]
    ) -> None:
        super().__init__(arn, account_id, region_name, properties)
        self.arn = arn

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Secret:
        backend = secretsmanager_backends[account_id][region_name]
        value = properties.get("SecretString")
        if value is None:
            value = _generate_secret_string(backend, properties.get("GenerateSecretString", {}))
        created = json.loads(
            backend.create_secret(
                name=properties.get("Name", resource_name),
                secret_string=value,
                secret_binary=None,
                description=properties.get("Description"),
                tags=properties.get("Tags"),
                kms_key_id=properties.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        )
        return cls(created["ARN"], account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(
            self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )


def _rds_connection_fields(account_id: str, region_name: str, target_id: str) -> dict[str, Any]:
    """The keys CloudFormation adds to a secret attached to an RDS instance."""
    database = rds_backends[account_id][region_name].describe_db_instances(target_id)[0]
    return {
        "engine": database.engine,
        "host": database.address,
        "port": database.port,
        "dbInstanceIdentifier": database.db_instance_identifier,
    }


class SecretTargetAttachment(EmulatedModel):
    """``AWS::SecretsManager::SecretTargetAttachment``: writes engine/host/port into the secret
    JSON.
    """

    cfn_type = "AWS::SecretsManager::SecretTargetAttachment"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> SecretTargetAttachment:
        secret_id = physical_id(properties["SecretId"])
        if properties.get("TargetType") == "AWS::RDS::DBInstance":
            backend = secretsmanager_backends[account_id][region_name]
            current = json.loads(backend.get_secret_value(secret_id, None, None)["SecretString"])
            current.update(
                _rds_connection_fields(account_id, region_name, physical_id(properties["TargetId"]))
            )
            backend.put_secret_value(secret_id, json.dumps(current), None, None, ["AWSCURRENT"])
        return cls(secret_id, account_id, region_name, properties)


class _SecurityGroupRule(EmulatedModel):
    """One rule on an existing security group; the physical ID is the rule ID."""

    direction = ""
    peer_group_key = ""
    peer_prefix_key = ""

    def _rule_args(self) -> dict[str, Any]:
        properties = self.properties
        ranges = (
            [{"CidrIp": properties["CidrIp"], "Description": properties.get("Description")}]
            if "CidrIp" in properties
            else []
        )
        groups = (
            [{"GroupId": physical_id(properties[self.peer_group_key])}]
            if self.peer_group_key in properties
            else []
        )
        prefixes = (
            [{"PrefixListId": properties[self.peer_prefix_key]}]
            if self.peer_prefix_key in properties
            else []
        )
        protocol = str(properties["IpProtocol"])
        every = protocol == "-1"
        return {
            "group_name_or_id": physical_id(
                properties.get("GroupId") or properties.get("GroupName")
            ),
            "ip_protocol": protocol,
            "from_port": str(properties.get("FromPort", -1 if every else 0)),
            "to_port": str(properties.get("ToPort", -1 if every else 65535)),
            "ip_ranges": ranges,
            "source_groups": groups,
            "prefix_list_ids": prefixes,
        }

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> _SecurityGroupRule:
        rule = cls(resource_name, account_id, region_name, properties)
        backend = ec2_backends[account_id][region_name]
        authorize = getattr(backend, f"authorize_security_group_{cls.direction}")
        rules, _ = authorize(**rule._rule_args())
        rule.name = rules[0].id if rules else resource_name
        return rule

    def delete(self, account_id: str, region_name: str) -> None:
        backend = ec2_backends[account_id][region_name]
        args = self._rule_args()
        if backend.get_security_group_by_name_or_id(args["group_name_or_id"]) is not None:
            getattr(backend, f"revoke_security_group_{self.direction}")(**args)


class SecurityGroupEgress(_SecurityGroupRule):
    """``AWS::EC2::SecurityGroupEgress`` (moto lacked it)."""

    cfn_type = "AWS::EC2::SecurityGroupEgress"
    direction = "egress"
    peer_group_key = "DestinationSecurityGroupId"
    peer_prefix_key = "DestinationPrefixListId"


class SecurityGroupIngress(_SecurityGroupRule):
    """``AWS::EC2::SecurityGroupIngress``: replaces moto's (no physical ID, no delete)."""

    cfn_type = "AWS::EC2::SecurityGroupIngress"
    direction = "ingress"
    peer_group_key = "SourceSecurityGroupId"
    peer_prefix_key = "SourcePrefixListId"


class CapacityProvider(EmulatedModel):
    """``AWS::ECS::CapacityProvider`` backed by an Auto Scaling group; Ref is the name."""

    cfn_type = "AWS::ECS::CapacityProvider"
    name_property = "Name"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> CapacityProvider:
        name = properties.get("Name", resource_name)
        details = camel_keys(properties.get("AutoScalingGroupProvider", {}))
        asg = details.get("autoScalingGroupArn", "")
        if asg and not asg.startswith("arn:"):
            group = autoscaling_backends[account_id][region_name].describe_auto_scaling_groups(
                [asg]
            )
            details["autoScalingGroupArn"] = group[0].arn if group else asg
        ecs_backends[account_id][region_name].create_capacity_provider(
            name, details, properties.get("Tags")
        )
        return cls(name, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = ecs_backends[account_id][region_name]
        if backend._get_provider(self.name) is not None:
            backend.delete_capacity_provider(self.name)


class ClusterCapacityProviderAssociations(EmulatedModel):
    """``AWS::ECS::ClusterCapacityProviderAssociations``: sets a cluster's providers and default
    strategy.
    """

    cfn_type = "AWS::ECS::ClusterCapacityProviderAssociations"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ClusterCapacityProviderAssociations:
        cluster = physical_id(properties["Cluster"]).split("/")[-1]
        ecs_backends[account_id][region_name].put_cluster_capacity_providers(
            cluster,
            [physical_id(p) for p in properties.get("CapacityProviders", [])],
            camel_keys(properties.get("DefaultCapacityProviderStrategy", [])),
        )
        return cls(cluster, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = ecs_backends[account_id][region_name]
        if self.name in backend.clusters:
            backend.put_cluster_capacity_providers(self.name, [], [])


class LifecycleHook(EmulatedModel):
    """``AWS::AutoScaling::LifecycleHook`` on an Auto Scaling group."""

    cfn_type = "AWS::AutoScaling::LifecycleHook"
    name_property = "LifecycleHookName"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> LifecycleHook:
        name = properties.get("LifecycleHookName", resource_name)
        hook = cls(name, account_id, region_name, properties)
        autoscaling_backends[account_id][region_name].create_lifecycle_hook(
            name=name,
            as_name=hook.group,
            transition=properties["LifecycleTransition"],
            timeout=properties.get("HeartbeatTimeout"),
            result=properties.get("DefaultResult", "ABANDON"),
        )
        return hook

    @property
    def group(self) -> str:
        """The hooked Auto Scaling group's name."""
        return physical_id(self.properties["AutoScalingGroupName"])

    def delete(self, account_id: str, region_name: str) -> None:
        autoscaling_backends[account_id][region_name].delete_lifecycle_hook(self.group, self.name)


class Subscription(EmulatedModel):
    """``AWS::SNS::Subscription``; Ref is the subscription ARN."""

    cfn_type = "AWS::SNS::Subscription"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Subscription:
        subscription = sns_backends[account_id][region_name].subscribe(
            physical_id(properties["TopicArn"]),
            physical_id(properties["Endpoint"]),
            properties["Protocol"],
        )
        return cls(subscription.arn, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.name)


class BucketPolicy(EmulatedModel):
    """``AWS::S3::BucketPolicy``: puts the policy document on the bucket."""

    cfn_type = "AWS::S3::BucketPolicy"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> BucketPolicy:
        bucket = physical_id(properties["Bucket"])
        s3_backends[account_id][get_partition(region_name)].put_bucket_policy(
            bucket, json.dumps(properties["PolicyDocument"]).encode("utf-8")
        )
        return cls(bucket, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        if self.name in backend.buckets:
            backend.delete_bucket_policy(self.name)


class TopicPolicy(EmulatedModel):
    """``AWS::SNS::TopicPolicy``: sets the policy of each listed topic; deleting it restores
    their default policies. The physical ID lists the topic ARNs (comma-separated)."""

    cfn_type = "AWS::SNS::TopicPolicy"

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> TopicPolicy:
        backend = sns_backends[account_id][region_name]
        document = json.dumps(properties["PolicyDocument"])
        topics = [physical_id(topic) for topic in properties["Topics"]]
        for topic in topics:
            backend.set_topic_attribute(topic, "policy", document)
        return cls(",".join(topics), account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = sns_backends[account_id][region_name]
        for arn in self.name.split(","):
            topic = backend.topics.get(arn)
            if topic is not None:
                topic.policy = json.dumps(
                    topic._create_default_topic_policy(region_name, account_id, topic.name)
                )


NEW_MODELS: tuple[type[EmulatedModel], ...] = (
    CdkMetadata,
    Secret,
    SecretTargetAttachment,
    SecurityGroupEgress,
    SecurityGroupIngress,
    CapacityProvider,
    ClusterCapacityProviderAssociations,
    LifecycleHook,
    Subscription,
    BucketPolicy,
    TopicPolicy,
)


def apply() -> None:
    """Make moto's engine see the new models."""
    register(*NEW_MODELS)
