"""An ECS service on EC2 behind a classic ELB: the L3 that aws-cdk-lib's ecs-patterns lacks.

The construct lives here; its props and their checks in `classic_service_props`, its metrics and
alarms in `classic_service_alarms` (both re-exported here, so `from
ecs_playground.classic_service import ClassicLoadBalancedServiceProps` keeps working).
"""

from __future__ import annotations

import functools
from typing import overload

import jsii
from aws_cdk import Duration, IResolvable, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancing as elb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from . import acknowledge
from ._lazy import lazy_any, lazy_string
from .access_logs import elb_access_logs_bucket
from .classic_service_alarms import INSIGHTS, ServiceMetrics, service_alarms
from .classic_service_props import (
    CERTIFICATE_ARN_PATTERN,
    COMPLIANCE_PACKS,
    ECS_RESERVED_HOST_PORTS,
    ELB_LOW_PORTS,
    HTTP,
    HTTPS,
    LOG_RETENTION_DAYS,
    NAME_PATTERN,
    SSL_POLICIES,
    SSL_POLICY_NAME,
    ClassicLoadBalancedServiceProps,
    registry_image_name,
)
from .keywords import keywords_of, props_or_keywords
from .service_cluster import IServiceCluster
from .validation import image_problems, raise_if_invalid

__all__ = [
    "CERTIFICATE_ARN_PATTERN", "ECS_RESERVED_HOST_PORTS", "ELB_LOW_PORTS", "HTTP", "HTTPS",
    "INSIGHTS", "LOG_RETENTION_DAYS", "NAME_PATTERN", "SSL_POLICIES", "ClassicLoadBalancedService",
    "ClassicLoadBalancedServiceProps", "registry_image_name",
]

_RETENTION = dict(zip(LOG_RETENTION_DAYS, (r for r in logs.RetentionDays if r.name != "INFINITE"),
                      strict=True))


@jsii.implements(ec2.IConnectable)
class ClassicLoadBalancedService(ServiceMetrics, Construct):
    """EC2 task definition (bridge mode, static host port) + EC2 service + classic ELB.

    The ELB accepts its listener ports from `allowed_cidrs` only and health-checks the host port
    (TCP/HTTP); it may send to the instances on the host port only. It listens with plain HTTP
    on `listener_port` (the classic setup), or, given `certificate_arn`, with HTTPS on
    `https_listener_port` and the plain-HTTP listener closed unless `keep_http_listener`.
    On a cluster that admits services (`IServiceCluster`, e.g. a ContainerCluster) the ELB
    also joins the cluster's load balancer security group, from which the instances accept the
    host ports of all its services (one rule, however many services); on any other cluster the
    instances accept the host port from this ELB's security group. A listener added later through
    `load_balancer.add_listener()` must forward to the host port. With a static host port at
    most one task of the service runs per instance (placement constraint).

    Subnets: an internet-facing ELB goes into the VPC's public subnets, an internal one into its
    private subnets; the tasks run wherever the cluster's instances are.

    Attributes: `load_balancer`, `service`, `task_definition`, `container`, `log_group`,
    `access_logs_bucket`, `alarms` (by name, without actions), `scalable_target`,
    `discovery_name`, `listeners`, `connections`, and the effective `container_port`,
    `host_port`, `listener_port`; the `metric_*()` methods (`ServiceMetrics`).
    """

    @overload
    def __init__(
        self, scope: Construct, id: str, props: ClassicLoadBalancedServiceProps
    ) -> None: ...
    @overload
    @keywords_of(ClassicLoadBalancedServiceProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(ClassicLoadBalancedServiceProps)
    def __init__(self, scope: Construct, id: str, props: ClassicLoadBalancedServiceProps) -> None:
        container_cluster = props.cluster if isinstance(props.cluster, IServiceCluster) else None
        if container_cluster is not None:
            container_cluster.register_service(props.demand())
        ecs_cluster = props.ecs_cluster
        super().__init__(scope, id)
        self.name = props.name
        """The service's name (container name, log prefix)."""
        self.container_port = props.container_port
        """Port the container listens on."""
        self.host_port = props.effective_host_port
        """Static port on the instances (the ELB's instance port)."""
        self.listener_port = props.listeners[0][0]
        """Port clients use: the HTTPS listener's with a certificate, else the HTTP one's."""
        self.listeners = props.listeners
        """The ELB's listeners as (port, 'HTTPS' or 'HTTP'), HTTPS first."""
        host_port = self.host_port

        self.log_group = logs.LogGroup(
            self, "LogGroup",
            retention=_RETENTION[props.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN,
            encryption_key=props.log_encryption_key,
        )
        if props.log_encryption_key is None:
            acknowledge.checkov(
                self.log_group, "CKV_AWS_158",
                "encrypted at rest by CloudWatch Logs; pass log_encryption_key for a customer "
                "managed key",
            )
        self.task_definition = ecs.Ec2TaskDefinition(
            self, "TaskDefinition", family=props.family, network_mode=ecs.NetworkMode.BRIDGE
        )
        self.container = self.task_definition.add_container(
            props.name,
            container_name=props.name,
            image=props.image,
            cpu=props.cpu,
            memory_limit_mib=props.memory_limit_mib,
            essential=True,  # the task's one container: ECS needs an essential one
            health_check=props.container_health_check,
            environment=dict(props.environment),
            secrets=dict(props.secrets),
            extra_hosts=dict(props.extra_hosts),
            port_mappings=[
                ecs.PortMapping(
                    container_port=props.container_port, host_port=host_port,
                    protocol=ecs.Protocol.TCP,
                )
            ],
            logging=ecs.LogDrivers.aws_logs(stream_prefix=props.name, log_group=self.log_group),
        )
        if (isinstance(props.image, ecs.RepositoryImage)
                and registry_image_name(props.image, self) is None):
            # Repository credentials hide the reference until the image is bound: check it now.
            raise_if_invalid("ClassicLoadBalancedService", id,
                             image_problems("image", self.container.image_name))
        self.service = ecs.Ec2Service(
            self, "Service",
            cluster=ecs_cluster,
            task_definition=self.task_definition,
            service_name=props.service_name,
            # With autoscaling, no DesiredCount: an update then keeps the running count.
            desired_count=None if props.autoscaling else props.desired_count,
            min_healthy_percent=props.min_healthy_percent,
            max_healthy_percent=props.max_healthy_percent,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True)
            if props.circuit_breaker
            else None,
            health_check_grace_period=_seconds(props.health_check_grace_period_seconds),
            placement_constraints=[ecs.PlacementConstraint.distinct_instances()],
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(
                    capacity_provider=container_cluster.capacity_provider_name, weight=1
                )
            ]
            if container_cluster is not None
            else None,
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            cloud_map_options=self._cloud_map_options(props, container_cluster),
            # The alarms (made below) name the ELB, not the service, so they form no cycle;
            # given here, lazily, not by enable_deployment_alarms(), which notes on every synth
            # that each token name "may cause a circular dependency".
            deployment_alarms=ecs.DeploymentAlarmConfig(
                alarm_names=[
                    lazy_string(lambda: self.alarms["UnhealthyHosts"].alarm_name),
                    lazy_string(lambda: self.alarms["Backend5xxRate"].alarm_name),
                ],
                behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
            ) if props.alarms and props.deployment_alarms else None,
        )
        self.access_logs_bucket = props.access_logs_bucket or elb_access_logs_bucket(
            self, "AccessLogs"
        )
        self.load_balancer = self._load_balancer(props, ecs_cluster.vpc, host_port)
        self._acknowledge(props)
        if container_cluster is not None:
            self._join_cluster_load_balancers(container_cluster, host_port)
        else:
            # Registers the service with the ELB and, in bridge mode, opens the host port on
            # the cluster's instances to this ELB's security group only (and the ELB's egress).
            self.load_balancer.add_target(self.service)
        self.discovery_name = self._discovery_name(props, container_cluster)
        """DNS name of the service's SRV record in the cluster's namespace (None without)."""
        self._connections = ec2.Connections(security_groups=(
            [container_cluster.security_group] if container_cluster is not None
            else list(ecs_cluster.connections.security_groups)
        ))
        self.alarms: dict[str, cw.Alarm] = {}
        """The service's alarms by name (empty when `alarms` is off), without actions."""
        if props.alarms:
            self.alarms = service_alarms(
                Construct(self, "Alarms"), self, props, host_port=host_port,
                container_insights=container_cluster is None
                or container_cluster.container_insights,
            )
        self.scalable_target: ecs.ScalableTaskCount | None = None
        """Task autoscaling (None when max_task_count is unset)."""
        if props.max_task_count is not None:
            self.scalable_target = self._autoscaling(props, props.max_task_count)

    @property
    def connections(self) -> ec2.Connections:
        """Where the service's traffic comes from, for a database or another peer to allow
        (`database.connections.allow_default_port_from(service)`): in bridge mode the tasks send
        from their instances, so this is the instances' security group, which every service of
        the cluster shares. It has no default port: clients reach the service through its load
        balancer (`load_balancer.connections`), never the instances directly."""
        return self._connections

    def _join_cluster_load_balancers(self, cluster: IServiceCluster, host_port: int) -> None:
        """Register the service with its ELB, as `add_target` does, but open the host port
        through the cluster's load balancer security group, which the ELB joins: the instances
        then hold one rule for all services instead of one per service. The ELB's own group
        keeps its listener ingress and gets the one egress rule to the instances, on this
        host port: it cannot reach another service's port."""
        self.service.attach_to_classic_lb(self.load_balancer)
        shared = cluster.admit_load_balancer(host_port)
        own = self._load_balancer_security_group
        own.add_egress_rule(
            cluster.security_group, ec2.Port.tcp(host_port), f"Port {host_port} LB to fleet"
        )
        self._load_balancer_cfn.security_groups = [own.security_group_id,
                                                   shared.security_group_id]

    @staticmethod
    def _cloud_map_options(
        props: ClassicLoadBalancedServiceProps, cluster: IServiceCluster | None
    ) -> ecs.CloudMapOptions | None:
        if cluster is None or cluster.namespace is None:
            return None
        # Bridge mode: SRV records only, with the task's host port.
        return ecs.CloudMapOptions(
            name=props.discovery_name or props.name,
            dns_record_type=servicediscovery.DnsRecordType.SRV,
            dns_ttl=_seconds(10),
            container_port=props.container_port,
        )

    @staticmethod
    def _discovery_name(
        props: ClassicLoadBalancedServiceProps, cluster: IServiceCluster | None
    ) -> str | None:
        if cluster is None or cluster.namespace is None:
            return None
        return f"{props.discovery_name or props.name}.{cluster.namespace.namespace_name}"

    def _autoscaling(
        self, props: ClassicLoadBalancedServiceProps, max_count: int
    ) -> ecs.ScalableTaskCount:
        scaling = self.service.auto_scale_task_count(
            min_capacity=props.effective_min_task_count, max_capacity=max_count
        )
        scale_in = Duration.seconds(props.scale_in_cooldown_seconds)
        scale_out = Duration.seconds(props.scale_out_cooldown_seconds)
        scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=props.scale_cpu_percent,
            scale_in_cooldown=scale_in, scale_out_cooldown=scale_out,
        )
        if props.scale_memory_percent is not None:
            scaling.scale_on_memory_utilization(
                "Memory", target_utilization_percent=props.scale_memory_percent,
                scale_in_cooldown=scale_in, scale_out_cooldown=scale_out,
            )
        return scaling

    def _load_balancer(
        self, props: ClassicLoadBalancedServiceProps, vpc: ec2.IVpc, host_port: int
    ) -> elb.LoadBalancer:
        lb = elb.LoadBalancer(
            self, "LoadBalancer",
            vpc=vpc,
            internet_facing=props.internet_facing,
            cross_zone=True,
            health_check=elb.HealthCheck(
                port=host_port,
                # Without a path, a TCP connect to the host port (derived from the port given).
                protocol=elb.LoadBalancingProtocol.TCP if props.health_check_path is None
                else elb.LoadBalancingProtocol.HTTP,
                path=props.health_check_path,
                interval=_seconds(props.health_check_interval_seconds),
                timeout=_seconds(props.health_check_timeout_seconds),
                healthy_threshold=props.healthy_threshold,
                unhealthy_threshold=props.unhealthy_threshold,
            ),
        )
        node = lb.node
        cfn = node.default_child
        assert isinstance(cfn, elb.CfnLoadBalancer)
        self._load_balancer_cfn = cfn
        for port, protocol in props.listeners:
            # TLS ends at the ELB: it sends plain HTTP to the host port, inside the VPC, and
            # only to the instances (its security group's one egress rule).
            lb.add_listener(
                external_port=port,
                external_protocol=elb.LoadBalancingProtocol(protocol),
                internal_port=host_port,
                internal_protocol=elb.LoadBalancingProtocol.HTTP,
                ssl_certificate_arn=props.certificate_arn if protocol == HTTPS else None,
                policy_names=[SSL_POLICY_NAME] if protocol == HTTPS else None,
                allow_connections_from=[_ipv4(cidr) for cidr in props.allowed_cidrs],
            )
        if props.certificate_arn is not None:
            cfn.policies = [elb.CfnLoadBalancer.PoliciesProperty(
                policy_name=SSL_POLICY_NAME, policy_type="SSLNegotiationPolicyType",
                attributes=[{"Name": "Reference-Security-Policy", "Value": props.ssl_policy}],
            )]
        cfn.listeners = _upper_case_protocols(lb, cfn.listeners)
        cfn.connection_draining_policy = elb.CfnLoadBalancer.ConnectionDrainingPolicyProperty(
            enabled=True, timeout=props.connection_draining_seconds
        )
        cfn.access_logging_policy = elb.CfnLoadBalancer.AccessLoggingPolicyProperty(
            enabled=True, s3_bucket_name=self.access_logs_bucket.bucket_name,
            s3_bucket_prefix=props.name, emit_interval=5,
        )
        if self.access_logs_bucket.policy is not None:
            # The ELB checks at creation that it may write to the bucket.
            node.add_dependency(self.access_logs_bucket.policy)
        return lb

    @functools.cached_property
    def _load_balancer_security_group(self) -> ec2.ISecurityGroup:
        """The ELB's own security group (read from CDK once: two jsii round trips)."""
        return self.load_balancer.connections.security_groups[0]

    def _acknowledge(self, props: ClassicLoadBalancedServiceProps) -> None:
        """The findings this construct accepts, on purpose; those on one scope in one call."""
        lb = self.load_balancer
        acknowledge.nags(lb, {
            "AwsSolutions-ELB1":
            "a classic ELB is this construct's purpose: one static host port per service behind "
            "a classic load balancer, as in the classic ECS-on-EC2 setup",
            **self._listener_findings(props),
        })
        listeners = " and ".join(f"{protocol} on {port}" for port, protocol in props.listeners)
        if any(cidr in ("0.0.0.0/0",) for cidr in props.allowed_cidrs):
            acknowledge.nag(
                self._load_balancer_security_group, "AwsSolutions-EC23",
                f"the ELB serves the public '{props.name}' endpoint on its listener ports only "
                f"({listeners}, from allowed_cidrs); the instances behind it accept traffic from "
                "this ELB alone",
            )
        if (props.certificate_arn is None or props.keep_http_listener) and (
            props.effective_listener_port == 80 and "0.0.0.0/0" in props.allowed_cidrs
        ):
            acknowledge.checkov(self._load_balancer_security_group, "CKV_AWS_260",
                                _plain_http_reason(props))
        acknowledge.nag(
            self.task_definition, "AwsSolutions-ECS2",
            "environment variables are checked when the props are validated and again by the "
            "EcsPlayground-PlaintextSecret rule on the template: a literal in a variable named "
            "like a credential, a URL with a password, a secret's dynamic reference, a private "
            "key or a known token format is refused; credentials come as ECS secrets. Other "
            "secret shapes (e.g. a random string in a neutrally named variable) are not "
            "detectable",
        )
        execution_policy = self.task_definition.obtain_execution_role().node.try_find_child(
            "DefaultPolicy"
        )
        if execution_policy is not None:
            acknowledge.nag(
                execution_policy, "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken has no resource-level permissions; image pulls and "
                "log writes are scoped to the asset repository and this service's log group",
            )

    @staticmethod
    def _listener_findings(props: ClassicLoadBalancedServiceProps) -> dict[str, str]:
        """The ELB's findings on the listeners the caller chose: plain HTTP, or TLS that ends
        at the ELB."""
        findings = {}
        if props.certificate_arn is not None:
            findings["AwsSolutions-ELB5"] = (
                f"TLS ends at the ELB (HTTPS on {props.https_listener_port}, {props.ssl_policy}); "
                "it forwards plain HTTP to the host port inside the VPC, to the cluster's "
                "instances only (its security group's one egress rule): the containers serve "
                "no TLS"
            )
        if props.certificate_arn is None or props.keep_http_listener:
            reason = _plain_http_reason(props)
            for pack in COMPLIANCE_PACKS:
                findings[f"{pack}-ELBACMCertificateRequired"] = reason
        return findings


def _plain_http_reason(props: ClassicLoadBalancedServiceProps) -> str:
    port = props.effective_listener_port
    if props.certificate_arn is None:
        why = (f"plain HTTP on port {port} is this service's choice: no certificate_arn "
               "was given")
    else:
        why = (f"the plain-HTTP listener on port {port} is kept on purpose (keep_http_listener) "
               f"beside HTTPS on {props.https_listener_port}, for a service that redirects "
               "plain HTTP to HTTPS itself")
    where = ("reachable from the internet" if props.internet_facing
             else "inside the VPC (an internal ELB)")
    return f"{why}; {where}, from allowed_cidrs only; give a certificate ARN for HTTPS"


def _upper_case_protocols(scope: Construct, listeners: object) -> IResolvable:
    """The L2's listeners with upper-case protocols, resolved lazily.

    aws-cdk-lib writes "http"/"tcp"; CloudFormation documents HTTP, HTTPS, TCP and SSL, and cfn-lint
    rejects the lower-case form. Resolving at synth keeps listeners that callers add later through
    `load_balancer.add_listener()`.
    """

    def produce() -> object:
        resolved = Stack.of(scope).resolve(listeners) or []
        return [
            {
                **listener,
                "protocol": str(listener["protocol"]).upper(),
                "instanceProtocol": str(listener["instanceProtocol"]).upper(),
            }
            for listener in resolved
        ]

    return lazy_any(produce)


@functools.cache
def _ipv4(cidr: str) -> ec2.IPeer:
    """`ec2.Peer.ipv4`, one object per CIDR: peers are immutable, and each new one is a jsii
    round trip (every service's listener allows its CIDRs)."""
    return ec2.Peer.ipv4(cidr)


@functools.cache
def _seconds(seconds: int) -> Duration:
    """`Duration.seconds`, one object per value: durations are immutable, and each new one is a
    jsii round trip (four per service)."""
    return Duration.seconds(seconds)
