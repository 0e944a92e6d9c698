"""Operations resource types moto 5.2.5's CloudFormation engine skips: CloudWatch alarms, Cloud Map
namespaces and services, Application Auto Scaling targets and policies.

moto has each service (``put_metric_alarm``, ``create_private_dns_namespace``,
``register_scalable_target``, ...) but no CloudFormation model for these types, so a template
using them deployed "CREATE_COMPLETE" with nothing created. Each class below creates, updates
and deletes the resource in moto's own backend, so the service APIs show it.
"""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.ecs.models import ecs_backends
from moto.route53.models import route53_backends
from moto.servicediscovery.models import servicediscovery_backends
from moto.utilities.utils import get_partition

from emulator.compat import ecs
from emulator.compat.model_base import EmulatedModel, get_att, register
from emulator.compat.util import physical_id

# ---------------------------------------------------------------- CloudWatch


def _query(spec: dict[str, Any]) -> MetricDataQuery:
    """One entry of an alarm's ``Metrics`` (a metric or a math expression) as moto stores it."""
    stat = spec.get("MetricStat")
    metric_stat = None
    if stat:
        metric = stat["Metric"]
        metric_stat = MetricStat(
            metric=Metric(
                metric_name=metric["MetricName"],
                namespace=metric.get("Namespace"),  # type: ignore[arg-type]
                dimensions=[
                    Dimension(d.get("Name"), d.get("Value")) for d in metric.get("Dimensions", [])
                ],
            ),
            period=str(stat["Period"]),
            stat=stat["Stat"],
            unit=stat.get("Unit"),  # type: ignore[arg-type]
        )
    return MetricDataQuery(
        query_id=spec["Id"],
        label=spec.get("Label"),  # type: ignore[arg-type]
        period=spec.get("Period"),  # type: ignore[arg-type]
        return_data=str(spec.get("ReturnData", True)).lower(),
        expression=spec.get("Expression"),
        metric_stat=metric_stat,
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class Alarm(EmulatedModel):
    """``AWS::CloudWatch::Alarm`` (single metric or ``Metrics`` with math expressions); Ref is the
    name, ``Arn`` its ARN. An update puts the alarm again under its name (in place)."""

    cfn_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = get_att(Arn="arn")

    @property
    def arn(self) -> str:
        alarm = cloudwatch_backends[self.account_id][self.region_name].alarms[self.name]
        return str(alarm.alarm_arn)

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> Alarm:
        name = properties.get("AlarmName", resource_name)
        metrics = properties.get("Metrics")
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=properties.get("Namespace"),  # type: ignore[arg-type]
            metric_name=properties.get("MetricName"),  # type: ignore[arg-type]
            comparison_operator=properties["ComparisonOperator"],
            evaluation_periods=int(properties["EvaluationPeriods"]),
            period=_int(properties.get("Period")),  # type: ignore[arg-type]
            threshold=float(properties["Threshold"]) if "Threshold" in properties else None,  # type: ignore[arg-type]
            statistic=properties.get("Statistic"),  # type: ignore[arg-type]
            description=properties.get("AlarmDescription"),  # type: ignore[arg-type]
            dimensions=list(properties.get("Dimensions", [])),
            alarm_actions=[physical_id(a) for a in properties.get("AlarmActions", [])],
            metric_data_queries=[_query(m) for m in metrics] if metrics else None,
            datapoints_to_alarm=_int(properties.get("DatapointsToAlarm")),
            extended_statistic=properties.get("ExtendedStatistic"),
            ok_actions=[physical_id(a) for a in properties.get("OKActions", [])],
            insufficient_data_actions=[
                physical_id(a) for a in properties.get("InsufficientDataActions", [])
            ],
            unit=properties.get("Unit"),
            actions_enabled=str(properties.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=properties.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=properties.get(
                "EvaluateLowSampleCountPercentile"
            ),
            threshold_metric_id=properties.get("ThresholdMetricId"),
            tags=properties.get("Tags"),
        )
        return cls(name, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

    def replaced_by(self, name: str, properties: dict[str, Any]) -> bool:
        """A new ``AlarmName`` replaces the alarm; anything else puts it again under its name."""
        return name != self.name


# ---------------------------------------------------------------- Cloud Map


class PrivateDnsNamespace(EmulatedModel):
    """``AWS::ServiceDiscovery::PrivateDnsNamespace`` with its private hosted zone; Ref is the
    namespace ID (``Id``, ``Arn``, ``HostedZoneId`` attributes). Deleting it deletes the zone."""

    cfn_type = "AWS::ServiceDiscovery::PrivateDnsNamespace"
    attributes = get_att(
        Id="namespace.id", Arn="namespace.arn", HostedZoneId="namespace.dns_properties.HostedZoneId"
    )
    replace_on = ("Name", "Vpc")

    @property
    def namespace(self) -> Any:
        """The namespace in moto's Cloud Map backend."""
        return servicediscovery_backends[self.account_id][self.region_name].get_namespace(
            self.name
        )

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> PrivateDnsNamespace:
        backend = servicediscovery_backends[account_id][region_name]
        operation = backend.get_operation(
            backend.create_private_dns_namespace(
                name=properties["Name"],
                creator_request_id=resource_name,
                description=properties.get("Description"),  # type: ignore[arg-type]
                vpc=physical_id(properties["Vpc"]),
                tags=properties.get("Tags", []),
                properties=dict(properties.get("Properties") or {}),
            )
        )
        return cls(operation.targets["NAMESPACE"], account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = servicediscovery_backends[account_id][region_name]
        if self.name not in backend.namespaces:
            return
        zone = backend.namespaces[self.name].dns_properties.get("HostedZoneId")
        backend.delete_namespace(self.name)
        zones = route53_backends[account_id][get_partition(region_name)]
        if zone and zone in zones.zones:
            zones.delete_hosted_zone(zone)

    def update_in_place(
        self, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> PrivateDnsNamespace:
        """Description and SOA TTL change in place (a new name or VPC replaces the namespace)."""
        namespace = self.namespace
        namespace.description = properties.get("Description")
        soa = (properties.get("Properties") or {}).get("DnsProperties", {}).get("SOA")
        if soa:
            namespace.dns_properties["SOA"] = soa
        self.properties = properties
        return self


class DiscoveryService(EmulatedModel):
    """``AWS::ServiceDiscovery::Service``; Ref is the service ID (``Id``, ``Arn``, ``Name``).
    DNS records, description and health check change in place."""

    cfn_type = "AWS::ServiceDiscovery::Service"
    name_property = "Name"
    attributes = get_att(Id="service.id", Arn="service.arn", Name="service.name")
    replace_on = (
        "Name", "NamespaceId", "HealthCheckCustomConfig", "Type", "DnsConfig.RoutingPolicy"
    )

    @property
    def service(self) -> Any:
        """The service in moto's Cloud Map backend."""
        return servicediscovery_backends[self.account_id][self.region_name].get_service(self.name)

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> DiscoveryService:
        dns = dict(properties.get("DnsConfig") or {})
        namespace = properties.get("NamespaceId") or dns.get("NamespaceId")
        service = servicediscovery_backends[account_id][region_name].create_service(
            name=properties.get("Name", resource_name),
            namespace_id=physical_id(namespace),
            creator_request_id=resource_name,
            description=properties.get("Description"),  # type: ignore[arg-type]
            dns_config=dns or None,  # type: ignore[arg-type]
            health_check_config=properties.get("HealthCheckConfig"),  # type: ignore[arg-type]
            health_check_custom_config=properties.get("HealthCheckCustomConfig"),  # type: ignore[arg-type]
            tags=properties.get("Tags", []),
            service_type=properties.get("Type"),  # type: ignore[arg-type]
        )
        return cls(service.id, account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        servicediscovery_backends[account_id][region_name].delete_service(self.name)

    def update_in_place(
        self, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> DiscoveryService:
        """``UpdateService`` (same ID); a new name, namespace or routing policy replaces it."""
        updatable = ("Description", "DnsConfig", "HealthCheckConfig")
        details = {k: properties[k] for k in updatable if k in properties}
        servicediscovery_backends[account_id][region_name].update_service(self.name, details)
        self.properties = properties
        return self


# ---------------------------------------------------------------- Application Auto Scaling


def _clamp_ecs_service(
    account_id: str, region_name: str, resource_id: str, low: int, high: int
) -> None:
    """What Application Auto Scaling does on registration: an ECS service whose desired count
    lies outside [min, max] is scaled into it (a service created without ``DesiredCount`` starts
    at 1 and rises to the minimum). The new count's tasks are shown running (a simulated
    state, counted like every steady state)."""
    _, cluster, name = resource_id.split("/")
    backend = ecs_backends[account_id][region_name]
    found, _ = backend.describe_services(cluster, [name])
    if not found:
        return
    service = found[0]
    wanted = min(max(service.desired_count, low), high)
    if wanted != service.desired_count:
        service.desired_count = wanted
        why = f"Application Auto Scaling set the desired count to {wanted} (min {low}, max {high})"
        ecs.steady_state(service, reason=why)


class ScalableTarget(EmulatedModel):
    """``AWS::ApplicationAutoScaling::ScalableTarget``; Ref is CloudFormation's
    ``resourceId|dimension|namespace``. Registering an ECS service's count brings it into
    [min, max], as on AWS. Min, max, role and suspension change in place (registered again);
    another resource, dimension or namespace replaces the target."""

    cfn_type = "AWS::ApplicationAutoScaling::ScalableTarget"
    attributes = get_att(Id="name")
    replace_on = ("ResourceId", "ScalableDimension", "ServiceNamespace")

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ScalableTarget:
        namespace = properties["ServiceNamespace"]
        resource_id = physical_id(properties["ResourceId"])
        dimension = properties["ScalableDimension"]
        low, high = int(properties["MinCapacity"]), int(properties["MaxCapacity"])
        applicationautoscaling_backends[account_id][region_name].register_scalable_target(
            namespace=namespace,
            r_id=resource_id,
            dimension=dimension,
            min_capacity=low,
            max_capacity=high,
            role_arn=physical_id(properties.get("RoleARN", "")),
            suspended_state=properties.get("SuspendedState"),  # type: ignore[arg-type]
        )
        if namespace == "ecs" and dimension == "ecs:service:DesiredCount":
            _clamp_ecs_service(account_id, region_name, resource_id, low, high)
        return cls(f"{resource_id}|{dimension}|{namespace}", account_id, region_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        resource_id, dimension, namespace = self.name.split("|")
        backend = applicationautoscaling_backends[account_id][region_name]
        for policy in list(backend.policies.values()):
            if (policy.resource_id, policy.scalable_dimension) == (resource_id, dimension):
                backend.delete_scaling_policy(policy.policy_name, namespace, resource_id, dimension)
        if backend._scalable_target_exists(resource_id, dimension):
            backend.deregister_scalable_target(namespace, resource_id, dimension)



class ScalingPolicy(EmulatedModel):
    """``AWS::ApplicationAutoScaling::ScalingPolicy`` (target tracking or step); Ref is the
    policy ARN, kept through an in-place update."""

    cfn_type = "AWS::ApplicationAutoScaling::ScalingPolicy"
    attributes = get_att(Arn="name")

    def _key(self) -> tuple[str, str, str, str]:
        """(policy name, namespace, resource ID, dimension)."""
        properties = self.properties
        target = properties.get("ScalingTargetId")
        if target:
            resource_id, dimension, namespace = physical_id(target).split("|")
        else:
            resource_id = physical_id(properties["ResourceId"])
            dimension = properties["ScalableDimension"]
            namespace = properties["ServiceNamespace"]
        return properties["PolicyName"], namespace, resource_id, dimension

    @classmethod
    def create(
        cls, resource_name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ScalingPolicy:
        policy = cls("", account_id, region_name, properties)
        name, namespace, resource_id, dimension = policy._key()
        kind = policy.properties["PolicyType"]
        body_key = (
            "TargetTrackingScalingPolicyConfiguration"
            if kind == "TargetTrackingScaling"
            else "StepScalingPolicyConfiguration"
        )
        backend = applicationautoscaling_backends[account_id][region_name]
        if not backend._scalable_target_exists(resource_id, dimension):
            raise ValueError(
                f"No scalable target registered for service namespace: {namespace}, resource ID: "
                f"{resource_id}, scalable dimension: {dimension}"
            )
        created = backend.put_scaling_policy(
            policy_name=name,
            service_namespace=namespace,
            resource_id=resource_id,
            scalable_dimension=dimension,
            policy_body=policy.properties.get(body_key, {}),
            policy_type=kind,
        )
        policy.name = created.policy_arn
        return policy

    def delete(self, account_id: str, region_name: str) -> None:
        name, namespace, resource_id, dimension = self._key()
        backend = applicationautoscaling_backends[account_id][region_name]
        if any(p.policy_arn == self.name for p in backend.policies.values()):
            backend.delete_scaling_policy(name, namespace, resource_id, dimension)

    def replaced_by(self, name: str, properties: dict[str, Any]) -> bool:
        """Another policy name or target replaces the policy."""
        return type(self)("", self.account_id, self.region_name, properties)._key() != self._key()

    def update_in_place(
        self, name: str, properties: dict[str, Any], account_id: str, region_name: str
    ) -> ScalingPolicy:
        """Put again; the same name on the same target keeps its ARN."""
        updated = type(self).create(name, properties, account_id, region_name)
        backend = applicationautoscaling_backends[account_id][region_name]
        for stored in backend.policies.values():
            if stored.policy_arn == updated.name:
                stored.policy_arn = self.name
        updated.name = self.name
        return updated


MODELS: tuple[type[EmulatedModel], ...] = (
    Alarm,
    PrivateDnsNamespace,
    DiscoveryService,
    ScalableTarget,
    ScalingPolicy,
)


def apply() -> None:
    """Make moto's engine see the operations models."""
    register(*MODELS)
