"""The props of `ClassicLoadBalancedService` and their checks: what a service behind a classic
ELB needs, validated before anything is created."""

from __future__ import annotations

import ipaddress
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jsii
from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from .alarms import alarms_switch, threshold
from .capacity import ServiceDemand
from .props import doc, documented, setting
from .rules import secret_in
from .service_cluster import IServiceCluster
from .validation import (
    Checker,
    image_problems,
    is_token,
    known,
    subnet_problems,
    validator,
)

INSIGHTS = "ECS/ContainerInsights"
NAME_PATTERN = r"[a-z][a-z0-9-]{0,31}"
ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
HEALTH_PATH_PATTERN = r"/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*"
HOSTNAME_PATTERN = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?"
# Classic ELB front-end ports: 25, 80, 443, 465, 587 and 1024-65535 only.
ELB_LOW_PORTS = (25, 80, 443, 465, 587)
# An ACM certificate; the ELB must be in the certificate's region.
CERTIFICATE_ARN_PATTERN = r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]{1,128}"
# Predefined classic-ELB security policies that negotiate TLS 1.2 or better with clients, newest
# first; the older predefined ones (ELBSecurityPolicy-2016-08 and before) still accept TLS 1.0.
SSL_POLICIES = ("ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-1-2017-01")
SSL_POLICY_NAME = "TlsNegotiation"
HTTP, HTTPS = "HTTP", "HTTPS"
# cdk-nag's compliance packs that gates.register adds on request (nag.compliancePacks).
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5")
# Host ports the ECS agent reserves on every container instance.
ECS_RESERVED_HOST_PORTS = (22, 2375, 2376, 51678, 51679, 51680)
# CloudWatch Logs retention values, in the order of aws_logs.RetentionDays (INFINITE excluded).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)
_RETENTION = dict(zip(LOG_RETENTION_DAYS, (r for r in logs.RetentionDays if r.name != "INFINITE"),
                      strict=True))


@documented
@dataclass(frozen=True, kw_only=True)
class ClassicLoadBalancedServiceProps:
    """What a service behind a classic ELB needs: an ECS task and service definition as props."""

    name: str = field(metadata=doc(
        "Service name (1-32 of a-z, 0-9, '-'): the container name, the log stream and "
        "access-log prefix, and the name in messages. Not a physical name: see "
        "`service_name` and `family`."))
    cluster: ecs.ICluster | IServiceCluster = field(metadata=doc(
        "Cluster to run on. Pass a cluster that admits services (`IServiceCluster`, e.g. a "
        "ContainerCluster itself) to get its capacity check and capacity provider; any other "
        "`ecs.ICluster` with EC2 capacity works with the EC2 launch type and no capacity "
        "check."))
    image: ecs.ContainerImage = field(metadata=doc(
        "Container image, e.g. `ecs.ContainerImage.from_registry('nginx:1.27')`."))
    container_port: int = field(metadata=setting(
        "Port the container listens on."))
    service_name: str | None = field(default=None, metadata=setting(
        "Physical ECS service name (unique per cluster). Default: CloudFormation generates one, "
        "so the construct can be used twice on one cluster."))
    family: str | None = field(default=None, metadata=setting(
        "Task definition family (1-255 letters, digits, '-', '_'). Default: generated from the "
        "construct path, unique per stack."))
    host_port: int | None = field(default=None, metadata=setting(
        "Static port on the instance. Default: container_port. Classic ELBs send traffic to "
        "one fixed port on every instance, so dynamic host ports (0) are not possible."))
    listener_port: int | None = field(default=None, metadata=setting(
        "Port the ELB listens on. Default: container_port."))
    cpu: int = field(default=512, metadata=setting(
        "CPU units reserved for the container (1024 = one vCPU)."))
    memory_limit_mib: int = field(default=1024, metadata=setting(
        "Hard memory limit; the container is killed above it."))
    container_health_check: ecs.HealthCheck | None = field(default=None, metadata=doc(
        "Health check Docker runs inside the container; ECS replaces tasks that fail it, and "
        "the deployment circuit breaker counts it. Default: none (the image must ship the "
        "command)."))
    environment: Mapping[str, str] = field(default_factory=dict, metadata=setting(
        "Plain environment variables. Never put credentials here: use `secrets`."))
    secrets: Mapping[str, ecs.Secret] = field(default_factory=dict, metadata=doc(
        "Environment variables that ECS fills from Secrets Manager or SSM at task start."))
    extra_hosts: Mapping[str, str] = field(default_factory=dict, metadata=setting(
        "/etc/hosts entries, hostname -> IP address (e.g. googledns -> 8.8.8.8)."))
    desired_count: int = field(default=2, metadata=setting(
        "Tasks to keep running (0-1000). With a static host port at most one task runs per "
        "instance. Default 2: one per instance of a default ContainerCluster."))
    min_healthy_percent: int = field(default=50, metadata=setting(
        "Share of desired_count that must stay running during a deployment (0-100)."))
    max_healthy_percent: int = field(default=200, metadata=setting(
        "Upper bound of running tasks during a deployment, in % of desired_count (100-2000)."))
    circuit_breaker: bool = field(default=True, metadata=setting(
        "Deployment circuit breaker with automatic rollback. Caveat: older ECS API references "
        "said the breaker could not be used behind a classic ELB; current ones no longer say "
        "so. Where ECS does not count classic-ELB health failures, a task that runs but fails "
        "the ELB check will not trip the breaker: give the container a health check too. Set "
        "False to opt out."))
    health_check_grace_period_seconds: int = field(default=60, metadata=setting(
        "Seconds ECS ignores ELB health after a task starts (0-2147483647)."))
    health_check_path: str | None = field(default=None, metadata=setting(
        "HTTP path the ELB checks on the host port (target e.g. HTTP:8080/health for host port "
        "8080; only a 200 OK within the timeout counts as healthy). Must start with '/'. "
        "Default: none, the ELB opens a TCP connection to the host port (target e.g. TCP:8080), "
        "so a task is healthy once its container accepts connections, whatever paths its image "
        "serves (an nginx image has no '/health'). Set it, e.g. '/health', when the image has a "
        "health endpoint: an HTTP check also catches a process that accepts connections but "
        "cannot serve."))
    health_check_interval_seconds: int = field(default=30, metadata=setting(
        "Seconds between ELB health checks (5-300)."))
    health_check_timeout_seconds: int = field(default=5, metadata=setting(
        "Seconds before a health check fails (2-60, below the interval)."))
    healthy_threshold: int = field(default=2, metadata=setting(
        "Consecutive successes before an instance is in service (2-10)."))
    unhealthy_threshold: int = field(default=5, metadata=setting(
        "Consecutive failures before an instance is out of service (2-10)."))
    connection_draining_seconds: int = field(default=30, metadata=setting(
        "Seconds the ELB keeps serving in-flight requests of a deregistering instance "
        "(1-3600)."))
    log_retention_days: int = field(default=30, metadata=setting(
        "CloudWatch Logs retention for the container logs; the log group is retained on "
        "delete."))
    log_encryption_key: kms.IKey | None = field(default=None, metadata=doc(
        "Customer managed KMS key for the container log group (its key policy must let "
        "CloudWatch Logs use it). Default: CloudWatch Logs' own encryption at rest."))
    access_logs_bucket: s3.IBucket | None = field(default=None, metadata=doc(
        "Bucket for the ELB's access logs (prefix: the service name). Default: a bucket of "
        "the service's own (private, SSL-only, SSE-S3, versioned, 90-day expiry, retained)."))
    internet_facing: bool = field(default=True, metadata=setting(
        "Public ELB in public subnets; False: internal ELB in private subnets."))
    allowed_cidrs: Sequence[str] = field(default=("0.0.0.0/0",), metadata=setting(
        "IPv4 CIDRs that may reach the ELB listener (the instances are never reachable "
        "directly)."))
    certificate_arn: str | None = field(default=None, metadata=setting(
        "ARN of an ACM certificate in the stack's region "
        "(arn:aws:acm:<region>:<account>:certificate/<id>). With it, the ELB listens with "
        "HTTPS on `https_listener_port`, terminates TLS with `ssl_policy` and forwards HTTP to "
        "the host port inside the VPC, and the plain-HTTP listener is closed (a classic ELB "
        "cannot redirect HTTP to HTTPS; see `keep_http_listener`). Default: none, the ELB "
        "listens with plain HTTP on `listener_port`."))
    https_listener_port: int = field(default=443, metadata=setting(
        "Port of the HTTPS listener (with certificate_arn). Default 443."))
    keep_http_listener: bool = field(default=False, metadata=setting(
        "With certificate_arn, keep the plain-HTTP listener on `listener_port` too, e.g. for a "
        "service that answers plain HTTP with its own redirect to HTTPS (the ELB tells it the "
        "client's protocol in X-Forwarded-Proto). Default False: HTTPS only."))
    ssl_policy: str = field(default=SSL_POLICIES[0], metadata=setting(
        "Predefined classic-ELB security policy of the HTTPS listener: "
        f"{' or '.join(SSL_POLICIES)}. Default {SSL_POLICIES[0]}: TLS 1.2 only."))

    min_task_count: int | None = field(default=None, metadata=setting(
        "Fewest tasks task autoscaling keeps (0-1000). Default: desired_count. Only with "
        "max_task_count."))
    max_task_count: int | None = field(default=None, metadata=setting(
        "Most tasks task autoscaling may run (1-1000; with a static host port at most the "
        "cluster's max capacity). Setting it turns autoscaling on: target tracking on CPU (and "
        "memory) between min_task_count and this, and the service's DesiredCount is left out "
        "of the template, so a deployment keeps the count autoscaling set (aws-cdk issue "
        "3919); CloudFormation starts a new service at 1 task and autoscaling raises it to "
        "min_task_count at once. Default: none, the service keeps desired_count."))
    scale_cpu_percent: int = field(default=70, metadata=setting(
        "Average CPU utilization (of the reserved CPU units, 10-100 %) that autoscaling keeps "
        "the service at. Default 70."))
    scale_memory_percent: int | None = field(default=80, metadata=setting(
        "Average memory utilization (of memory_limit_mib, 10-100 %) that autoscaling keeps "
        "the service at; None scales on CPU only. Default 80."))
    scale_in_cooldown_seconds: int = field(default=300, metadata=setting(
        "Seconds after a scale-in before the next one (0-3600). Default 300: remove tasks "
        "slowly."))
    scale_out_cooldown_seconds: int = field(default=60, metadata=setting(
        "Seconds after a scale-out before the next one (0-3600). Default 60: add tasks fast."))
    discovery_name: str | None = field(default=None, metadata=setting(
        "Name the service registers under in the cluster's Cloud Map namespace (SRV record "
        "'<discovery_name>.<namespace>' with the host port), when the cluster is a "
        "ContainerCluster with `discovery_namespace`. Default: `name`."))
    alarms: bool = alarms_switch(
        "service", "unhealthy hosts, backend 5XX rate and p99 latency on the ELB; CPU and memory "
        "utilization; running tasks below desired (Container Insights; skipped on a cluster "
        "without it)", off="none, and no deployment alarms")
    deployment_alarms: bool = field(default=True, metadata=setting(
        "Use the service's own unhealthy-hosts and 5XX-rate alarms as ECS deployment alarms "
        "with rollback: a deployment whose tasks run but fail the ELB check or answer with "
        "errors is rolled back, also where the circuit breaker does not see it. Needs alarms."))
    alarm_unhealthy_host_minutes: int = threshold(3, 60,
        "Minutes the ELB must report an unhealthy instance (UnHealthyHostCount > 0) before it "
        "alarms (1-60). Default 3.")
    alarm_5xx_percent: int = threshold(5, 100,
        "Share of requests answered with a backend 5XX (HTTPCode_Backend_5XX / RequestCount, "
        "1-100 %) above which it alarms. Default 5.")
    alarm_5xx_minutes: int = threshold(3, 60,
        "Minutes the 5XX rate must stay above the threshold (1-60). Default 3.")
    alarm_latency_p99_ms: int = threshold(2000, 60000,
        "p99 of the ELB's Latency (request sent to the instance until its response headers, in "
        "ms, 1-60000) above which it alarms. Default 2000.")
    alarm_latency_minutes: int = threshold(5, 60,
        "Minutes the p99 latency must stay above the threshold (1-60). Default 5.")
    alarm_cpu_percent: int = threshold(90, 1000,
        "Service CPU utilization (of the reserved CPU units, 1-1000 %: a task may use idle CPU "
        "beyond its reservation) above which it alarms. Default 90.")
    alarm_memory_percent: int = threshold(90, 100,
        "Service memory utilization (of memory_limit_mib, 1-100 %) above which it alarms: "
        "close to the limit, a task is killed. Default 90.")
    alarm_utilization_minutes: int = threshold(10, 1440,
        "Minutes CPU or memory utilization must stay above its threshold (1-1440). "
        "Default 10.")
    alarm_running_below_desired_minutes: int = threshold(10, 1440,
        "Minutes running tasks must stay below desired before it alarms (1-1440). Default 10: "
        "longer than a rolling deployment, which runs fewer tasks on purpose.")

    @property
    def ecs_cluster(self) -> ecs.ICluster:
        """The ECS cluster the service runs on: `cluster` itself, or the one of a cluster that
        admits services."""
        if isinstance(self.cluster, IServiceCluster):
            return self.cluster.ecs_cluster
        return self.cluster

    @property
    def autoscaling(self) -> bool:
        """Whether task autoscaling is on."""
        return self.max_task_count is not None

    @property
    def effective_min_task_count(self) -> int:
        """Fewest tasks: min_task_count, else desired_count."""
        return self.desired_count if self.min_task_count is None else self.min_task_count

    @property
    def effective_host_port(self) -> int:
        """Host port after defaults."""
        return self.container_port if self.host_port is None else self.host_port

    @property
    def effective_listener_port(self) -> int:
        """Listener port after defaults."""
        return self.container_port if self.listener_port is None else self.listener_port

    @property
    def listeners(self) -> tuple[tuple[int, str], ...]:
        """The ELB's listeners as (port, protocol), HTTPS first: HTTPS with a certificate, plain
        HTTP without one (or when kept by `keep_http_listener`)."""
        found = []
        if self.certificate_arn is not None:
            found.append((self.https_listener_port, HTTPS))
        if self.certificate_arn is None or self.keep_http_listener:
            found.append((self.effective_listener_port, HTTP))
        return tuple(found)

    @validator
    def validate(self, check: Checker) -> None:
        check.pattern(
            "name", self.name, NAME_PATTERN, "1-32 of a-z, 0-9, '-', starting with a letter",
            "use a short lower-case name such as 'location'",
        )
        check.physical_name(
            "service_name", self.service_name,
            "rename the service, or leave service_name unset for a generated name",
        )
        check.physical_name(
            "family", self.family, "rename the family, or leave family unset for a generated one"
        )
        self._check_cluster(check)
        name = registry_image_name(self.image, self.ecs_cluster)
        if name is not None:
            check.problems += image_problems("image", name)
        self._check_ports(check)
        check.int_range("cpu", self.cpu, 128, 10240)
        check.int_range("memory_limit_mib", self.memory_limit_mib, 128, 122880)
        check.int_range("desired_count", self.desired_count, 0, 1000)
        check.int_range("min_healthy_percent", self.min_healthy_percent, 0, 100)
        check.int_range("max_healthy_percent", self.max_healthy_percent, 100, 2000)
        check.int_range(
            "health_check_grace_period_seconds", self.health_check_grace_period_seconds,
            0, 2147483647,
        )
        self._check_health_check(check)
        check.int_range("connection_draining_seconds", self.connection_draining_seconds, 1, 3600)
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            check.add(
                "log_retention_days", self.log_retention_days,
                f"one of {list(LOG_RETENTION_DAYS)}", "pick the nearest CloudWatch Logs value",
            )
        self._check_container_settings(check)
        self._check_scaling(check)
        check.bounds(self)

    def _check_scaling(self, check: Checker) -> None:
        if self.min_task_count is not None:
            check.int_range("min_task_count", self.min_task_count, 0, 1000)
            if self.max_task_count is None:
                check.add(
                    "min_task_count", self.min_task_count, "only together with max_task_count",
                    "set max_task_count to turn task autoscaling on, or use desired_count",
                )
        if self.max_task_count is not None and check.int_range(
            "max_task_count", self.max_task_count, 1, 1000
        ):
            low = self.effective_min_task_count
            if known(low, self.max_task_count) and low > self.max_task_count:
                check.add(
                    "max_task_count", self.max_task_count,
                    f">= min_task_count (or desired_count) ({low})",
                    "raise max_task_count or lower min_task_count",
                )
        check.int_range("scale_cpu_percent", self.scale_cpu_percent, 10, 100)
        if self.scale_memory_percent is not None:
            check.int_range("scale_memory_percent", self.scale_memory_percent, 10, 100)
        check.int_range("scale_in_cooldown_seconds", self.scale_in_cooldown_seconds, 0, 3600)
        check.int_range("scale_out_cooldown_seconds", self.scale_out_cooldown_seconds, 0, 3600)
        check.optional_pattern(
            "discovery_name", self.discovery_name, NAME_PATTERN,
            "1-32 of a-z, 0-9, '-', starting with a letter (one DNS label)",
            "use a short lower-case name such as 'location'",
        )

    def _check_cluster(self, check: Checker) -> None:
        cluster = self.cluster
        if not isinstance(cluster, IServiceCluster) and isinstance(
            cluster.node.scope, IServiceCluster
        ):
            check.add(
                "cluster", cluster.node.path,
                "a cluster that admits services itself (e.g. a ContainerCluster), or a cluster of "
                "your own",
                "pass the ContainerCluster (not its ecs_cluster), so the capacity check and the "
                "capacity provider apply",
            )
        vpc = cluster.vpc
        wanted = ([ec2.SubnetType.PUBLIC] if self.internet_facing
                  else [ec2.SubnetType.PRIVATE_WITH_EGRESS, ec2.SubnetType.PRIVATE_ISOLATED])
        check.problems += subnet_problems(
            "internet_facing", vpc, wanted,
            "an internet-facing ELB needs public subnets, an internal one private subnets: "
            "add them to the VPC or change internet_facing",
        )

    def _check_ports(self, check: Checker) -> None:
        check.port("container_port", self.container_port)
        host = self.effective_host_port
        if check.port("host_port", host) and known(host) and host in ECS_RESERVED_HOST_PORTS:
            check.add(
                "host_port", host, f"not one of the ECS agent's ports {ECS_RESERVED_HOST_PORTS}",
                "choose another host port",
            )
        _check_listener_port(check, "listener_port", self.effective_listener_port, "80 or 8081")
        self._check_https(check)

    def _check_https(self, check: Checker) -> None:
        if self.certificate_arn is not None:
            check.pattern(
                "certificate_arn", self.certificate_arn, CERTIFICATE_ARN_PATTERN,
                "an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>",
                "copy the certificate's ARN from ACM (in the stack's region), or leave it unset "
                "for plain HTTP",
            )
        elif self.keep_http_listener:
            check.add(
                "keep_http_listener", self.keep_http_listener, "only together with certificate_arn",
                "set certificate_arn for an HTTPS listener, or leave keep_http_listener unset "
                "(without a certificate the plain-HTTP listener is the only one)",
            )
        https = self.https_listener_port
        _check_listener_port(check, "https_listener_port", https, "443 or 8443")
        listener = self.effective_listener_port
        if (self.certificate_arn is not None and self.keep_http_listener
                and known(https, listener) and https == listener):
            check.add(
                "https_listener_port", https, f"not listener_port ({listener}), which stays "
                "plain HTTP (keep_http_listener)", "give the two listeners different ports, "
                "e.g. 443 and 80",
            )
        if self.ssl_policy not in SSL_POLICIES:
            check.add(
                "ssl_policy", self.ssl_policy, f"one of {list(SSL_POLICIES)}",
                f"use {SSL_POLICIES[0]} (TLS 1.2 only)",
            )

    def _check_health_check(self, check: Checker) -> None:
        check.optional_pattern(
            "health_check_path", self.health_check_path, HEALTH_PATH_PATTERN,
            "a URL path starting with '/'", "write it as an absolute path, e.g. '/health'",
        )
        interval = self.health_check_interval_seconds
        check.int_range("health_check_interval_seconds", interval, 5, 300)
        timeout = self.health_check_timeout_seconds
        if (check.int_range("health_check_timeout_seconds", timeout, 2, 60)
                and known(timeout, interval) and timeout >= interval):
            check.add(
                "health_check_timeout_seconds", self.health_check_timeout_seconds,
                f"less than health_check_interval_seconds ({interval})",
                "lower the timeout or raise the interval",
            )
        check.int_range("healthy_threshold", self.healthy_threshold, 2, 10)
        check.int_range("unhealthy_threshold", self.unhealthy_threshold, 2, 10)

    def _check_container_settings(self, check: Checker) -> None:
        for key in (*self.environment, *self.secrets):
            check.pattern(
                f"environment/secrets[{key!r}]", key, ENV_NAME_PATTERN,
                "letters, digits and '_', not starting with a digit", "rename the variable",
            )
        for key, value in self.environment.items():
            reason = secret_in(key, value)
            if reason:
                check.add(
                    f"environment[{key!r}]", "<hidden>",
                    "no credential in plain environment (it would be readable in the task "
                    f"definition); found {reason}",
                    f"pass {key} in secrets (ecs.Secret.from_secrets_manager(...)) instead",
                )
        for key in sorted(set(self.environment) & set(self.secrets)):
            check.add(
                f"environment[{key!r}]", self.environment[key], "a name not also in secrets",
                "define the variable once: as a secret if it is a credential",
            )
        for host, ip in self.extra_hosts.items():
            check.pattern(
                f"extra_hosts[{host!r}]", host, HOSTNAME_PATTERN, "a DNS host name",
                "use letters, digits, '.' and '-'",
            )
            if not is_token(ip) and not _is_ip(ip):
                check.add(
                    f"extra_hosts[{host!r}]", ip, "an IPv4 or IPv6 address",
                    "give the address, e.g. '8.8.8.8'",
                )
        if not self.allowed_cidrs:
            check.add(
                "allowed_cidrs", list(self.allowed_cidrs), "at least one IPv4 CIDR",
                "list who may reach the ELB, e.g. ['10.0.0.0/8']",
            )
        for cidr in self.allowed_cidrs:
            if not is_token(cidr) and not _is_ipv4_cidr(cidr):
                check.add(
                    "allowed_cidrs", cidr, "IPv4 CIDRs like 203.0.113.0/24",
                    "write the network address with a prefix length",
                )

    def demand(self) -> ServiceDemand:
        """What this service asks of its cluster, for the capacity check."""
        return ServiceDemand(
            name=self.name,
            host_port=self.effective_host_port,
            cpu=self.cpu,
            memory_mib=self.memory_limit_mib,
            desired_count=self.effective_min_task_count,
            min_healthy_percent=self.min_healthy_percent,
            max_healthy_percent=self.max_healthy_percent,
            max_count=self.max_task_count,
        )


def _check_listener_port(check: Checker, prop: str, port: int, example: str) -> None:
    """A port a classic ELB accepts as a listener's front-end port."""
    if check.port(prop, port) and known(port) and not (port in ELB_LOW_PORTS or port >= 1024):
        check.add(
            prop, port, f"{ELB_LOW_PORTS} or 1024-65535 (classic ELB rule)",
            f"choose a listener port a classic ELB accepts, e.g. {example}",
        )


def registry_image_name(image: ecs.ContainerImage, scope: IConstruct) -> str | None:
    """The reference a registry or ECR image pulls, e.g. 'nginx:1.27', for the image rule
    (`validation.image_problems`). None for an image that CDK builds (its tag is the content
    hash) and for a registry image with repository credentials, which aws-cdk-lib shows only
    once it is bound to a container."""
    if isinstance(image, ecs.EcrImage):
        return image.image_name
    if isinstance(image, ecs.RepositoryImage):
        known = _IMAGE_NAMES.get(image)
        if known is not None:
            return known
        try:  # the name is private in jsii; resolving the image reads it without binding it
            resolved = Stack.of(scope).resolve(image)
        except (jsii.errors.JSIIError, RuntimeError):  # credentials: a construct, circular
            return None
        name = resolved.get("imageName") if isinstance(resolved, dict) else None
        if isinstance(name, str):
            _IMAGE_NAMES[image] = name
            return name
    return None


_IMAGE_NAMES: weakref.WeakKeyDictionary[ecs.ContainerImage, str] = weakref.WeakKeyDictionary()
"""Registry names already read, by image: the stack validates a service's props and the
construct validates them again, and each reading costs two jsii round trips."""


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_ipv4_cidr(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return True

