"""The platform stack: VPC, container cluster, MySQL and the services behind classic ELBs."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from ecs_playground import acknowledge, quotas
from ecs_playground.access_logs import elb_access_logs_bucket
from ecs_playground.capacity import CapacityError
from ecs_playground.classic_service import (
    ClassicLoadBalancedService,
    ClassicLoadBalancedServiceProps,
)
from ecs_playground.container_cluster import ContainerCluster, ContainerClusterProps
from ecs_playground.database import ExistingMySqlDatabase, MySqlDatabase, MySqlDatabaseProps
from ecs_playground.database_users import DatabaseUsers, DatabaseUsersProps
from ecs_playground.monitoring import Monitoring, MonitoringProps, ServicesDashboard
from ecs_playground.validation import Problem

from . import layout
from .config import PlatformConfig, ServiceConfig
from .images import (
    SERVICE_IMAGE_HEALTH_CHECK,
    SERVICE_IMAGE_HEALTH_PATH,
    ImageSourceError,
    service_image,
    source_port,
)

# The props a service's capacity demand is made of (ClassicLoadBalancedServiceProps.demand()).
DEMAND_FIELDS = frozenset({
    "name", "container_port", "host_port", "cpu", "memory_limit_mib", "desired_count",
    "min_healthy_percent", "max_healthy_percent",
})


QUOTA_INCREASES_KEY = quotas.INCREASES_METADATA_KEY
"""Template metadata of the platform stack: the adjustable quotas the plan exceeds."""


class ServiceStack(Stack):
    """A stack of services on the platform stack's cluster: their ELBs, task definitions, ECS
    services, alarms, their database users (a provisioner of their own) and a dashboard.

    References go one way only: a service stack uses the platform's VPC, cluster, capacity
    provider, database, key, bucket and alarm topic; the platform stack never references a service
    stack (aws-cdk issue 35210 asks to keep the cluster and its ASG capacity provider together:
    both stay in the platform stack).
    """

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.services_scope = Construct(self, "Services")
        """Parent of the services (the same construct path as in the platform stack)."""
        self.services: dict[str, ClassicLoadBalancedService] = {}
        self.database_users: DatabaseUsers
        self.dashboard: ServicesDashboard | None = None

    @staticmethod
    def database_users_props(platform: EcsPlaygroundStack, services: Mapping[str, str],
                             scope: Construct | None = None) -> DatabaseUsersProps:
        """A provisioner on the platform's database. With a `scope` (the service stack), the
        master secret and the key are imported there: granting on the platform's own objects
        would write this stack's roles into the platform's key policy (a cycle)."""
        secret: secretsmanager.ISecret = platform.database.secret
        key: kms.IKey = platform.encryption_key
        if scope is not None:
            key = kms.Key.from_key_arn(scope, "PlatformKey", platform.encryption_key.key_arn)
            secret = secretsmanager.Secret.from_secret_attributes(
                scope, "MasterSecret", secret_complete_arn=platform.database.secret.secret_arn,
                encryption_key=key,
            )
        return DatabaseUsersProps(
            database=ExistingMySqlDatabase(
                vpc=platform.vpc, hostname=platform.database.hostname, secret=secret,
                security_groups=[platform.database.security_group],
            ) if scope is not None else platform.database,
            services=services,
            encryption_key=key,
        )

    def add_database_users(self, platform: EcsPlaygroundStack, services: Mapping[str, str]
                           ) -> None:
        """One MySQL user per service of this stack."""
        self.database_users = DatabaseUsers(
            self, "DatabaseUsers", self.database_users_props(platform, services, self)
        )

    def add_service(self, name: str, service: ClassicLoadBalancedService,
                    monitoring: Monitoring) -> None:
        """Alarms to the platform's topic, ELB lines on this stack's dashboard, an output."""
        self.services[name] = service
        monitoring.notify(service.alarms)
        if self.dashboard is None:
            self.dashboard = ServicesDashboard(self, "Monitoring", title=self.stack_name)
        self.dashboard.add_service(service)
        CfnOutput(
            self, f"{construct_id(name)}LoadBalancerDnsName",
            value=service.load_balancer.load_balancer_dns_name,
            description=f"DNS name of the {name} service's classic ELB (port "
            f"{service.listener_port})",
        )


class PlatformError(ValueError):
    """Every problem of a platform in one message: configuration, props and capacity."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"Invalid ecs-playground platform, {len(problems)} problem(s) "
            "(cdk.json context / -c KEY=VALUE):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def construct_id(name: str) -> str:
    """'location' -> 'Location', 'order-api' -> 'OrderApi' (PascalCase construct IDs)."""
    return "".join(part.title() for part in name.split("-"))


class EcsPlaygroundStack(Stack):
    """The tutorial's platform as code: one VPC (public, private-with-egress and isolated subnets
    in 2 AZs), an ECS cluster on EC2, RDS MySQL, and one classic-ELB service per configured name.

    Every prop of every construct and the capacity check are validated before the database and
    the services are created; all problems are raised together as one PlatformError, in terms of
    the configuration keys.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self._config = config
        problems: list[str] = list(config.problems)
        self.layout = layout.assign(
            {name: service.stack for name, service in config.services.items()},
            config.service_stacks,
        )
        """Service name -> 'platform' or its service stack's key (e.g. 'Services07')."""
        self.service_stacks: dict[str, ServiceStack] = {
            key: ServiceStack(scope, f"{id}-{key}", env=kwargs.get("env"),
                              description=kwargs.get("description"))
            for key in layout.by_stack(self.layout) if key != layout.PLATFORM
        }
        """The stacks of the services that do not live in this one, by key."""
        problems += self._zone_problems(config)
        self.vpc = self._vpc(config, problems)
        self._acknowledge_default_sg_restriction()
        self.encryption_key = self._encryption_key()
        flow_log_group = logs.LogGroup(
            self, "VpcFlowLogGroup",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.RETAIN,
            encryption_key=self.encryption_key,
        )
        self.vpc.add_flow_log(
            "FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group)
        )
        cluster_props = ContainerClusterProps(vpc=self.vpc, **config.cluster)
        database_props = MySqlDatabaseProps(
            vpc=self.vpc, encryption_key=self.encryption_key, **config.database
        )
        monitoring_props = MonitoringProps(
            encryption_key=self.encryption_key, **config.monitoring
        )
        # Every construct's props are checked before anything is built on them; a construct
        # whose props are invalid is replaced by a stand-in, so the others are still checked and
        # every problem is raised at once, before synthesis.
        cluster_problems = cluster_props.validate()
        database_problems = database_props.validate()
        problems += self._in_config_terms("cluster", "ContainerCluster", cluster_problems)
        problems += self._in_config_terms("db", "MySqlDatabase", database_problems)
        problems += self._in_config_terms(
            "monitoring", "Monitoring", monitoring_props.validate()
        )
        cluster: ContainerCluster | ecs.ICluster = ecs.Cluster.from_cluster_attributes(
            self, "UnbuiltCluster", cluster_name="unbuilt", vpc=self.vpc
        )
        if not cluster_problems:
            cluster = self.cluster = ContainerCluster(self, "Cluster", cluster_props)
        users_ok = False
        if not database_problems:
            self.database = MySqlDatabase(self, "Database", database_props)
            if not cluster_problems:
                self.database.allow_from(self.cluster.security_group,
                                         "MySQL from the ECS instances")
            users_props = DatabaseUsersProps(
                database=self.database,
                services={name: service.db_name for name, service in config.services.items()
                          if f"{name}.dbName" not in config.unparsed  # else reported already
                          and self.layout[name] == layout.PLATFORM},
                encryption_key=self.encryption_key,
            )
            if users_props.services:  # none valid: the configuration said why already
                users_problems = users_props.validate()
                problems += self._in_config_terms("db", "DatabaseUsers", users_problems)
                if not users_problems:
                    self.database_users = DatabaseUsers(self, "DatabaseUsers", users_props)
                    """One MySQL user per service, limited to its own schema."""
                    users_ok = True
        self._images_directory = Path(config.images_directory)
        service_props = {
            name: self._service_props(
                name, service, problems, cluster=cluster,
                environment=(self.database.container_environment(service.db_name)
                             if not database_problems else {}),
                secrets=(self.database_users.container_secrets(name)
                         if users_ok and f"{name}.dbName" not in config.unparsed
                         and self.layout[name] == layout.PLATFORM else {}),
                home=self._home(name),
            )
            for name, service in config.services.items()
        }
        demands_known = None not in service_props.values()
        for name, props in service_props.items():
            if props is not None:
                service_problems = props.validate()
                problems += self._in_config_terms(name, "ClassicLoadBalancedService",
                                                  service_problems)
                # the capacity check needs valid demands, not every prop valid
                demands_known = demands_known and not any(
                    p.prop in DEMAND_FIELDS for p in service_problems
                )
        if demands_known and not cluster_problems:
            demands = [p.demand() for p in service_props.values() if p is not None]
            try:
                self.cluster.capacity_plan(*demands).check()
            except CapacityError as err:
                problems += [f"capacity: {reason}" for reason in err.reasons]
        self.quota_increases: list[quotas.Usage] = []
        """Adjustable AWS quotas this plan exceeds (listed by `make synth`)."""
        if not cluster_problems and None not in service_props.values():
            try:
                self.quota_increases = quotas.check(quotas.plan_usages(self._plan_counts(
                    [p for p in service_props.values() if p is not None])))
            except quotas.QuotaError as err:
                problems += [f"quota: {b.render()}" for b in err.breaches]
        if not database_problems:
            problems += self._check_service_stack_users(config)
        if problems:
            raise PlatformError(problems)
        if self.quota_increases:
            self.template_options.metadata = {
                QUOTA_INCREASES_KEY: [u.render() for u in self.quota_increases]
            }

        self.access_logs_bucket = elb_access_logs_bucket(self, "ElbAccessLogs")
        services = Construct(self, "Services")
        discovery = self._discovery_environment()
        for key, stack in self.service_stacks.items():
            stack.add_database_users(self, {
                name: config.services[name].db_name
                for name, where in self.layout.items() if where == key
            })
        self.services = {
            name: ClassicLoadBalancedService(
                services if self.layout[name] == layout.PLATFORM
                else self.service_stacks[self.layout[name]].services_scope,
                construct_id(name),
                dataclasses.replace(
                    props, access_logs_bucket=self.access_logs_bucket,
                    secrets=props.secrets or self._service_stack_secrets(name),
                    environment={
                        **self._users_of(name).container_environment(name),
                        **props.environment, **discovery,
                    },
                ),
            )
            for name, props in service_props.items() if props is not None
        }
        for name, service in self.services.items():
            users = self._users_of(name)
            # a task starts only once its database user exists
            service.service.node.add_dependency(users.custom_resource)
            # and re-reads its own secret (only) after a rotation, with the task role
            users.grant_rotation_pickup(name, service.task_definition.task_role)
        self.monitoring = Monitoring(self, "Monitoring", monitoring_props)
        """The alarm topic and the dashboard."""
        for name, service in self.services.items():
            if self.layout[name] == layout.PLATFORM:
                self.monitoring.add_service(service)
            else:
                self.service_stacks[self.layout[name]].add_service(name, service, self.monitoring)
        self.monitoring.add_cluster(self.cluster)
        self.monitoring.add_database(self.database)
        self._outputs()

    def _discovery_environment(self) -> dict[str, str]:
        """DISCOVERY_NAMESPACE, when the cluster has a namespace: a service reaches another at
        '<its discoveryName>.<namespace>'. The same value for every service, so adding or
        removing one changes no other service's task definition (no rollout of the others),
        and a catalog's environment grows linearly, not with n x (n - 1) names."""
        namespace = self.cluster.namespace
        if namespace is None:
            return {}
        return {"DISCOVERY_NAMESPACE": namespace.namespace_name}

    def _zone_problems(self, config: PlatformConfig) -> list[str]:
        """vpc.maxAzs beyond the AZs of an environment's region (the VPC would silently use
        fewer). Skipped while the region's AZs are not looked up yet (CDK's dummy values)."""
        zones = [z for z in self.availability_zones if not Token.is_unresolved(z)]
        if (not zones or zones[0].startswith("dummy") or "vpc.maxAzs" in config.unparsed
                or config.vpc_max_azs <= len(zones)):
            return []
        return [f"vpc.maxAzs = {config.vpc_max_azs}: the region {self.region} has {len(zones)} "
                f"AZs in cdk.context.json ({', '.join(zones)}); allowed 2-{len(zones)}"]

    def _vpc(self, config: PlatformConfig, problems: list[str]) -> ec2.Vpc:
        try:
            return ec2.Vpc(
                self, "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
                max_azs=config.vpc_max_azs,
                nat_gateways=config.vpc_nat_gateways,
                subnet_configuration=[
                    ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC,
                                            cidr_mask=24),
                    ec2.SubnetConfiguration(name="Private",
                                            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                            cidr_mask=22),
                    ec2.SubnetConfiguration(name="Isolated",
                                            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                                            cidr_mask=24),
                ],
            )
        except (jsii.errors.JSIIError, RuntimeError) as err:
            problems.append(
                f"vpc.cidr = {config.vpc_cidr!r}: the subnet layout (/24 public, /22 private, "
                f"/24 isolated in each of {config.vpc_max_azs} AZs) does not fit ({err}); use a "
                "larger network, e.g. 10.0.0.0/16"
            )
            raise PlatformError(problems) from None

    def _home(self, name: str) -> Stack:
        """The stack a service lives in."""
        key = self.layout[name]
        return self if key == layout.PLATFORM else self.service_stacks[key]

    def _users_of(self, name: str) -> DatabaseUsers:
        """The DatabaseUsers that hold a service's user and secret."""
        key = self.layout[name]
        return (self.database_users if key == layout.PLATFORM
                else self.service_stacks[key].database_users)

    def _service_stack_secrets(self, name: str) -> dict[str, ecs.Secret]:
        stack = self.service_stacks.get(self.layout[name])
        return stack.database_users.container_secrets(name) if stack is not None else {}

    def _check_service_stack_users(self, config: PlatformConfig) -> list[str]:
        """The DatabaseUsers props of each service stack, checked before anything is built."""
        problems = []
        for key in self.service_stacks:
            names = {name: config.services[name].db_name for name, where in self.layout.items()
                     if where == key and f"{name}.dbName" not in config.unparsed}
            props = ServiceStack.database_users_props(self, names)
            problems += self._in_config_terms("db", "DatabaseUsers", props.validate())
        return problems

    def _plan_counts(self, props: list[ClassicLoadBalancedServiceProps]) -> quotas.PlanCounts:
        """What the plan creates, for the quota check. The instance security group holds one
        inbound rule whatever the number of services (from the cluster's load balancer group,
        over the host-port range); the database's grows by one per database users provisioner
        (the platform stack's, if it has services, and one per service stack). A load
        balancer's own group has one inbound rule per allowed CIDR and listener."""
        provisioners = len(self.service_stacks) + (layout.PLATFORM in self.layout.values())
        return quotas.PlanCounts(
            cluster=str(self._config.cluster.get("cluster_name") or "Cluster"),
            load_balancers=len(props),
            listeners_per_load_balancer=max((len(p.listeners) for p in props), default=0),
            services=len(props),
            most_tasks={p.name: p.max_task_count or p.desired_count for p in props},
            instance_sg_inbound_rules=1 if props else 0,
            instance_sg_outbound_rules=2 + len(self._config.cluster.get("instance_egress", ())),
            database_sg_inbound_rules=1 + provisioners,
            load_balancer_sg_inbound_rules=max(
                (len(p.allowed_cidrs) * len(p.listeners) for p in props), default=0
            ),
        )

    def _service_props(
        self, name: str, service: ServiceConfig, problems: list[str], *,
        cluster: ContainerCluster | ecs.ICluster, environment: Mapping[str, str],
        secrets: Mapping[str, ecs.Secret], home: Stack,
    ) -> ClassicLoadBalancedServiceProps | None:
        """The props of one service from its configuration (None when its image has a problem)."""
        settings = dict(service.props)
        image: ecs.ContainerImage
        if {f"{name}.containerPort", f"{name}.dbName", f"{name}.image"} & self._config.unparsed:
            return None  # reported by the configuration already
        if service.image:
            if "container_port" not in settings:
                problems.append(
                    f"{name}.containerPort is missing: a registry image ({service.image}) needs "
                    "the port its container listens on, e.g. -c "
                    f"{name}.containerPort=8080"
                )
                return None
            image = ecs.ContainerImage.from_registry(
                service.image, credentials=self._registry_credentials(name, service, home)
            )
        else:
            try:
                port = source_port(self._images_directory, name)
            except ImageSourceError as err:
                problems.append(str(err))
                return None
            configured = settings.setdefault("container_port", port)
            if configured != port:
                problems.append(
                    f"{name}.containerPort = {configured} but the image built from "
                    f"{self._images_directory / name / 'service.json'} listens on {port}; make "
                    "them equal (or leave containerPort unset: it is read from service.json)"
                )
                return None
            image = service_image(self._images_directory, name, port)
            settings["container_health_check"] = SERVICE_IMAGE_HEALTH_CHECK
            settings.setdefault("health_check_path", SERVICE_IMAGE_HEALTH_PATH)
        return ClassicLoadBalancedServiceProps(
            name=name,
            cluster=cluster,
            image=image,
            environment={**environment, **settings.pop("environment", {})},
            secrets=secrets,
            log_encryption_key=self.encryption_key,
            **settings,
        )

    @staticmethod
    def _registry_credentials(
        name: str, service: ServiceConfig, home: Stack
    ) -> secretsmanager.ISecret | None:
        """The secret named by `<service>.repositoryCredentials` (an ARN or a name), imported
        into the service's own stack."""
        reference = service.repository_credentials
        if reference is None:
            return None
        existing = home.node.try_find_child("RegistryCredentials")
        scope = existing if isinstance(existing, Construct) else Construct(
            home, "RegistryCredentials"
        )
        if reference.startswith("arn:"):
            return secretsmanager.Secret.from_secret_complete_arn(
                scope, construct_id(name), reference
            )
        return secretsmanager.Secret.from_secret_name_v2(scope, construct_id(name), reference)

    def _in_config_terms(
        self, prefix: str, construct: str, problems: list[Problem]
    ) -> list[str]:
        """Problems of one construct's props, named by the configuration keys that set them."""
        lines = []
        for problem in problems:
            match = re.match(r"\w+", problem.prop)
            field = match.group(0) if match else problem.prop
            key = self._config.key_of(prefix, field)
            if key is None:
                lines.append(f"{construct} '{prefix}': {problem.render()}")
                continue
            fix = problem.fix
            for word in set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\b", fix)):
                other = self._config.key_of(prefix, word)
                if other is not None:
                    fix = re.sub(rf"\b{word}\b", other, fix)
            lines.append(
                f"{key}{problem.prop[len(field):]} = {problem.value!r}: allowed "
                f"{problem.allowed}; {fix}"
            )
        return lines

    def _encryption_key(self) -> kms.Key:
        """The platform's customer managed key: log groups and the database secret and storage.

        CloudWatch Logs may use it only for this app's log groups: those whose ARN (the
        encryption context CloudWatch Logs sends) starts with this stack's name. None of them
        has a fixed name, and CloudFormation names a log group '<stack name>-<logical ID>-
        <random>': this stack's own, and those of its service stacks, named '<stack name>-
        ServicesNN'. Their exact ARNs cannot be listed here: each log group names the key, so
        the key policy naming them would be a circular dependency."""
        key = kms.Key(
            self, "EncryptionKey",
            description="ecs-playground: logs, database storage and credentials",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                         "kms:Describe*"],
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": (
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
                    f"{Aws.STACK_NAME}-*"
                )}},
            )
        )
        return key

    def _acknowledge_default_sg_restriction(self) -> None:
        """aws-cdk-lib's custom resource that empties the VPC's default security group (feature
        flag restrictDefaultSecurityGroup): a one-shot provider Lambda of aws-cdk-lib's."""
        provider = self.node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        if provider is None:
            return
        handler = provider.node.find_child("Handler")
        reason = ("aws-cdk-lib's provider for the VPC default security group lockdown runs once "
                  "per deployment, outside the VPC by design (it calls the EC2 API)")
        for check in ("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"):
            acknowledge.checkov(handler, check, reason)
        acknowledge.cfn_lint(
            handler, "W3005",
            "aws-cdk-lib writes both DependsOn and a GetAtt on this role; the duplicate is "
            "harmless",
        )

    def _outputs(self) -> None:
        CfnOutput(self, "ClusterName", value=self.cluster.ecs_cluster.cluster_name,
                  description="ECS cluster")
        CfnOutput(self, "DatabaseEndpoint", value=self.database.hostname,
                  description="RDS MySQL endpoint address")
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn,
                  description="Secrets Manager secret with the generated DB credentials")
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn,
                  description="SNS topic of every alarm (ALARM and OK); subscribe to it")
        CfnOutput(self, "DashboardUrl", value=self.monitoring.dashboard_url,
                  description="CloudWatch dashboard of the platform")
        for name, service in self.services.items():
            if self.layout[name] != layout.PLATFORM:
                continue  # in the service's own stack
            CfnOutput(
                self, f"{construct_id(name)}LoadBalancerDnsName",
                value=service.load_balancer.load_balancer_dns_name,
                description=f"DNS name of the {name} service's classic ELB (port "
                f"{service.listener_port})",
            )
