"""The platform stack: VPC, container cluster, MySQL and the services behind classic ELBs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import acknowledge
from .access_logs import elb_access_logs_bucket
from .classic_service import ClassicLoadBalancedService, ClassicLoadBalancedServiceProps
from .config import ConfigError, PlatformConfig, ServiceConfig
from .container_cluster import ContainerCluster, ContainerClusterProps
from .database import MySqlDatabase, MySqlDatabaseProps

# The images' own health check (docker/common/ecs_service/healthcheck.py): GET /health on the
# service's port from inside the container. ECS ignores a Dockerfile's HEALTHCHECK.
SERVICE_IMAGE_HEALTH_CHECK = ecs.HealthCheck(
    command=["CMD", "python", "-m", "ecs_service.healthcheck"],
    interval=Duration.seconds(30),
    timeout=Duration.seconds(5),
    retries=3,
    start_period=Duration.seconds(15),
)


def service_image(directory: Path, name: str, port: int) -> ecs.ContainerImage:
    """The image built from `directory` (one shared Dockerfile, build arg SERVICE) for a service.

    The other services' folders are excluded from the asset, so changing one service's code does
    not rebuild and redeploy another.
    """
    if not (directory / name).is_dir():
        raise ConfigError([
            f"no image source for service '{name}': {directory / name} does not exist; add it "
            f"or set '{name}.image' to a registry image"
        ])
    others = sorted(
        d.name for d in directory.iterdir()
        if d.is_dir() and (d / "service.json").exists() and d.name != name
    )
    return ecs.ContainerImage.from_asset(
        str(directory), build_args={"SERVICE": name, "PORT": str(port)}, exclude=others
    )


def construct_id(name: str) -> str:
    """'location' -> 'Location', 'order-api' -> 'OrderApi' (PascalCase construct IDs)."""
    return "".join(part.title() for part in name.split("-"))


class EcsPlaygroundStack(Stack):
    """The tutorial's platform as code: one VPC (public, private-with-egress and isolated subnets
    in 2 AZs), an ECS cluster on EC2, RDS MySQL, and one classic-ELB service per configured name.
    """

    def __init__(self, scope: Construct, id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.vpc = ec2.Vpc(
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
        self.cluster = ContainerCluster(
            self, "Cluster", ContainerClusterProps(vpc=self.vpc, **config.cluster)
        )
        self.database = MySqlDatabase(
            self, "Database",
            MySqlDatabaseProps(vpc=self.vpc, encryption_key=self.encryption_key, **config.database),
        )
        self.database.allow_from(self.cluster.security_group, "MySQL from the ECS instances")

        self._images_directory = Path(config.images_directory)
        self.access_logs_bucket = elb_access_logs_bucket(self, "ElbAccessLogs")
        services = Construct(self, "Services")
        self.services = {
            name: self._service(services, name, service)
            for name, service in config.services.items()
        }
        self._outputs()

    def _service(
        self, scope: Construct, name: str, service: ServiceConfig
    ) -> ClassicLoadBalancedService:
        settings = dict(service.props)
        image: ecs.ContainerImage
        if service.image:
            image = ecs.ContainerImage.from_registry(service.image)
        else:
            image = service_image(self._images_directory, name, settings["container_port"])
            settings["container_health_check"] = SERVICE_IMAGE_HEALTH_CHECK
        environment = {
            **self.database.container_environment(service.db_name),
            **settings.pop("environment", {}),
        }
        return ClassicLoadBalancedService(
            scope, construct_id(name),
            ClassicLoadBalancedServiceProps(
                name=name,
                cluster=self.cluster.cluster,
                image=image,
                environment=environment,
                secrets=self.database.container_secrets(),
                log_encryption_key=self.encryption_key,
                access_logs_bucket=self.access_logs_bucket,
                **settings,
            ),
        )

    def _encryption_key(self) -> kms.Key:
        """The platform's customer managed key: log groups and the database secret and storage."""
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
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
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
        CfnOutput(self, "ClusterName", value=self.cluster.cluster.cluster_name,
                  description="ECS cluster")
        CfnOutput(self, "DatabaseEndpoint", value=self.database.hostname,
                  description="RDS MySQL endpoint address")
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn,
                  description="Secrets Manager secret with the generated DB credentials")
        for name, service in self.services.items():
            CfnOutput(
                self, f"{construct_id(name)}LoadBalancerDnsName",
                value=service.load_balancer.load_balancer_dns_name,
                description=f"DNS name of the {name} service's classic ELB (port "
                f"{service.props.effective_listener_port})",
            )
