"""The platform stack: VPC, container cluster, MySQL and the services behind classic ELBs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
from ecs_playground.database import MySqlDatabase, MySqlDatabaseProps
from ecs_playground.database_users import DatabaseUsers, DatabaseUsersProps
from ecs_playground.monitoring import Monitoring, MonitoringProps

from . import layout
from .config import PlatformConfig
from .images import SERVICE_IMAGE_HEALTH_CHECK, service_image
from .plan import DEMAND_FIELDS, PlatformPlan, ServicePlan, VpcPlan, plan, quota_counts
from .service_stack import ServiceStack, construct_id

__all__ = ["DEMAND_FIELDS", "EcsPlaygroundStack", "PlatformError", "ServiceStack",
           "construct_id"]


QUOTA_INCREASES_KEY = quotas.INCREASES_METADATA_KEY
"""Template metadata of the platform stack: the adjustable quotas the plan exceeds."""


class PlatformError(ValueError):
    """Every problem of a platform in one message: configuration, props and capacity."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"Invalid ecs-playground platform, {len(problems)} problem(s) "
            "(cdk.json context / -c KEY=VALUE):\n" + "\n".join(f"  - {p}" for p in problems)
        )


class EcsPlaygroundStack(Stack):
    """The tutorial's platform as code: one VPC (public, private-with-egress and isolated subnets
    in 2 AZs), an ECS cluster on EC2, RDS MySQL, and one classic-ELB service per configured name.

    The configuration's decisions come from a pure plan (plan.py); every prop of every construct,
    the capacity and the quotas are checked before the services are created (`_check`), and all
    problems are raised together as one PlatformError, in terms of the configuration keys; then
    the services, their users and the monitoring are built (`_build`).
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.plan = plan(
            config, region=self.region,
            availability_zones=[z for z in self.availability_zones if not Token.is_unresolved(z)],
        )
        """What the configuration decides (plan.py): settings, layout and its problems."""
        self.layout = self.plan.layout
        """Service name -> 'platform' or its service stack's key (e.g. 'Services07')."""
        self.service_stacks: dict[str, ServiceStack] = {
            key: ServiceStack(scope, f"{id}-{key}", env=kwargs.get("env"),
                              description=kwargs.get("description"))
            for key in self.plan.service_stacks
        }
        """The stacks of the services that do not live in this one, by key."""
        service_props = self._check(self.plan)
        self._build(self.plan, service_props)

    def _check(self, plan: PlatformPlan) -> dict[str, ClassicLoadBalancedServiceProps]:
        """Every construct's props from the plan, checked: every problem (the plan's, the
        props', capacity and quotas) in one PlatformError, before any service is created. The
        props reference the VPC and the key, created first; the cluster and the database are
        created when their props are valid (the services' props and the capacity check need
        them); a cluster whose props are invalid is replaced by a stand-in, so the services are
        still checked."""
        problems = list(plan.config_problems)
        self.vpc = self._vpc(plan.vpc, problems)
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
        cluster_props = ContainerClusterProps(vpc=self.vpc, **plan.cluster)
        database_props = MySqlDatabaseProps(
            vpc=self.vpc, encryption_key=self.encryption_key, **plan.database
        )
        self._monitoring_props = MonitoringProps(
            encryption_key=self.encryption_key, **plan.monitoring
        )
        cluster_problems = cluster_props.validate()
        database_problems = database_props.validate()
        problems += plan.in_config_terms("cluster", "ContainerCluster", cluster_problems)
        problems += plan.in_config_terms("db", "MySqlDatabase", database_problems)
        problems += plan.in_config_terms(
            "monitoring", "Monitoring", self._monitoring_props.validate()
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
                services=plan.users.get(layout.PLATFORM, {}),
                encryption_key=self.encryption_key,
            )
            if users_props.services:  # none valid: the configuration said why already
                users_problems = users_props.validate()
                problems += plan.in_config_terms("db", "DatabaseUsers", users_problems)
                if not users_problems:
                    self.database_users = DatabaseUsers(self, "DatabaseUsers", users_props)
                    """One MySQL user per service, limited to its own schema."""
                    users_ok = True
        problems += plan.image_problems
        service_props = {
            name: self._service_props(
                service, cluster=cluster,
                environment=(self.database.container_environment(
                    plan.config.services[name].db_name) if not database_problems else {}),
                secrets=(self.database_users.container_secrets(name)
                         if users_ok and service.stack == layout.PLATFORM
                         else {}),
                home=self._home(name),
            )
            for name, service in plan.services.items()
        }
        demands_known = plan.complete
        for name, props in service_props.items():
            service_problems = props.validate()
            problems += plan.in_config_terms(name, "ClassicLoadBalancedService", service_problems)
            # the capacity check needs valid demands, not every prop valid
            demands_known = demands_known and not any(
                p.prop in DEMAND_FIELDS for p in service_problems
            )
        if demands_known and not cluster_problems:
            demands = [p.demand() for p in service_props.values()]
            try:
                self.cluster.capacity_plan(*demands).check()
            except CapacityError as err:
                problems += [f"capacity: {reason}" for reason in err.reasons]
        self.quota_increases: list[quotas.Usage] = []
        """Adjustable AWS quotas this plan exceeds (listed by `make synth`)."""
        if not cluster_problems and plan.complete:
            try:
                self.quota_increases = quotas.check(quotas.plan_usages(
                    quota_counts(plan, list(service_props.values()))))
            except quotas.QuotaError as err:
                problems += [f"quota: {b.render()}" for b in err.breaches]
        if not database_problems:
            problems += self._check_service_stack_users(plan)
        if problems:
            raise PlatformError(problems)
        if self.quota_increases:
            self.template_options.metadata = {
                QUOTA_INCREASES_KEY: [u.render() for u in self.quota_increases]
            }
        return service_props

    def _build(self, plan: PlatformPlan,
               service_props: Mapping[str, ClassicLoadBalancedServiceProps]) -> None:
        """The services, their users, the monitoring and the outputs, from checked props."""
        self.access_logs_bucket = elb_access_logs_bucket(self, "ElbAccessLogs")
        services = Construct(self, "Services")
        discovery = self._discovery_environment()
        for key, stack in self.service_stacks.items():
            stack.add_database_users(self, plan.users.get(key, {}))
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
            for name, props in service_props.items()
        }
        for name, service in self.services.items():
            users = self._users_of(name)
            # a task starts only once its database user exists
            service.service.node.add_dependency(users.custom_resource)
            # and re-reads its own secret (only) after a rotation, with the task role
            users.grant_rotation_pickup(name, service.task_definition.task_role)
        self.monitoring = Monitoring(self, "Monitoring", self._monitoring_props)
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

    def _vpc(self, vpc: VpcPlan, problems: list[str]) -> ec2.Vpc:
        try:
            return ec2.Vpc(
                self, "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(vpc.cidr),
                max_azs=vpc.max_azs,
                nat_gateways=vpc.nat_gateways,
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
                f"vpc.cidr = {vpc.cidr!r}: the subnet layout (/24 public, /22 private, "
                f"/24 isolated in each of {vpc.max_azs} AZs) does not fit ({err}); use a "
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

    def _check_service_stack_users(self, plan: PlatformPlan) -> list[str]:
        """The DatabaseUsers props of each service stack, checked before anything is built."""
        problems = []
        for key in self.service_stacks:
            props = ServiceStack.database_users_props(self, plan.users.get(key, {}))
            problems += plan.in_config_terms("db", "DatabaseUsers", props.validate())
        return problems

    def _service_props(
        self, service: ServicePlan, *, cluster: ContainerCluster | ecs.ICluster,
        environment: Mapping[str, str], secrets: Mapping[str, ecs.Secret], home: Stack,
    ) -> ClassicLoadBalancedServiceProps:
        """The props of one planned service, with its cluster and image."""
        settings = dict(service.settings)
        image: ecs.ContainerImage
        if service.image is not None:
            image = ecs.ContainerImage.from_registry(
                service.image, credentials=self._registry_credentials(service, home)
            )
        else:
            image = service_image(self.plan.images_directory, service.name,
                                  settings["container_port"])
            settings["container_health_check"] = SERVICE_IMAGE_HEALTH_CHECK
        return ClassicLoadBalancedServiceProps(
            name=service.name,
            cluster=cluster,
            image=image,
            environment={**environment, **service.environment},
            secrets=secrets,
            log_encryption_key=self.encryption_key,
            **settings,
        )

    @staticmethod
    def _registry_credentials(
        service: ServicePlan, home: Stack
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
                scope, construct_id(service.name), reference
            )
        return secretsmanager.Secret.from_secret_name_v2(
            scope, construct_id(service.name), reference
        )

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
