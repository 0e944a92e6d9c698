"""The tutorial done literally, as a deliberately bad fixture that every gate must reject.

Plaintext DB password in the task's environment and in the template, a public and unencrypted
database without backups, SSH open to the world, a launch configuration, no container logs.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_rds as rds

LAUNCH_TEMPLATE_FLAG = "@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig"


def bad_tutorial_stack(app: cdk.App) -> cdk.Stack:
    """Build the bad stack in `app` (the app must not generate launch templates)."""
    stack = cdk.Stack(app, "BadTutorial")
    vpc = ec2.Vpc(
        stack, "Vpc", max_azs=2, nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="Public",
                                                      subnet_type=ec2.SubnetType.PUBLIC)],
    )
    instances = ec2.SecurityGroup(stack, "InstanceSg", vpc=vpc)
    instances.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22), "SSH from anywhere")
    autoscaling.AutoScalingGroup(
        stack, "Asg", vpc=vpc, instance_type=ec2.InstanceType("t2.medium"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2(), security_group=instances,
        min_capacity=4, max_capacity=4, associate_public_ip_address=True,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    )
    subnets = rds.CfnDBSubnetGroup(
        stack, "DbSubnets", db_subnet_group_description="public",
        subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PUBLIC).subnet_ids,
    )
    database = rds.CfnDBInstance(
        stack, "Db", engine="mysql", engine_version="8.4.10", db_instance_class="db.t2.micro",
        allocated_storage="20", master_username="admin", master_user_password="RDS_PWD",
        publicly_accessible=True, storage_encrypted=False, backup_retention_period=0,
        db_subnet_group_name=subnets.ref,
    )
    database.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
    ecs.CfnTaskDefinition(
        stack, "LocationTask", family="location",
        container_definitions=[ecs.CfnTaskDefinition.ContainerDefinitionProperty(
            name="location", image="srirajan/location:10", cpu=512, memory=1024, essential=True,
            port_mappings=[ecs.CfnTaskDefinition.PortMappingProperty(container_port=8081,
                                                                    host_port=8081)],
            environment=[
                ecs.CfnTaskDefinition.KeyValuePairProperty(name="DB_HOST",
                                                           value=database.attr_endpoint_address),
                ecs.CfnTaskDefinition.KeyValuePairProperty(name="DB_USER", value="location"),
                ecs.CfnTaskDefinition.KeyValuePairProperty(name="DB_PWD", value="RDS_PWD"),
            ],
        )],
    )
    return stack
