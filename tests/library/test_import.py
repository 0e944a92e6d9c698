"""Other CDK apps import the constructs and pass their own VPC and cluster."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Match, Template

import ecs_playground
from ecs_playground import ClassicLoadBalancedService, ClassicLoadBalancedServiceProps
from tests.conftest import Gated
from tests.scenarios import ENV, existing_vpc


@pytest.fixture(scope="module")
def minimal(gated: dict[str, Gated]) -> Template:
    return Template.from_stack(gated["minimal_constructs"].stack)


def test_package_exports_the_public_constructs() -> None:
    for name in ("ContainerCluster", "ContainerClusterProps", "MySqlDatabase",
                 "MySqlDatabaseProps", "ClassicLoadBalancedService",
                 "ClassicLoadBalancedServiceProps", "EcsPlaygroundRules"):
        assert name in ecs_playground.__all__ and hasattr(ecs_playground, name)
    # the app layer is not part of the library's public surface
    assert "EcsPlaygroundStack" not in ecs_playground.__all__


def test_an_existing_vpc_is_used_not_created(minimal: Template) -> None:
    minimal.resource_count_is("AWS::EC2::VPC", 0)
    minimal.resource_count_is("AWS::EC2::Subnet", 0)
    minimal.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup",
        {"VPCZoneIdentifier": ["subnet-0bbb00000000000b1", "subnet-0bbb00000000000b2"]},
    )
    minimal.has_resource_properties(
        "AWS::RDS::DBSubnetGroup",
        {"SubnetIds": ["subnet-0ccc00000000000c1", "subnet-0ccc00000000000c2"]},
    )
    minimal.has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        {"Subnets": ["subnet-0aaa00000000000a1", "subnet-0aaa00000000000a2"]},
    )


def test_minimal_use_gets_neutral_defaults_without_physical_names(minimal: Template) -> None:
    cluster = minimal.find_resources("AWS::ECS::Cluster")
    assert [r["Properties"].get("ClusterName") for r in cluster.values()] == [None]
    minimal.has_resource_properties(
        "AWS::ECS::Service", {"DesiredCount": 2, "ServiceName": Match.absent()}
    )
    (task,) = minimal.find_resources("AWS::ECS::TaskDefinition").values()
    assert task["Properties"]["Family"].startswith("MinimalWebTaskDefinition")  # per stack
    minimal.has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup", {"MinSize": "2", "MaxSize": "2"}
    )
    minimal.has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        # nginx serves no /health: without a path, the ELB checks that the host port accepts TCP
        {"HealthCheck": Match.object_like({"Target": "TCP:8080"})},
    )
    minimal.has_resource_properties(
        "AWS::RDS::DBInstance", {"StorageEncrypted": True, "PubliclyAccessible": False}
    )


def test_all_props_reach_the_template(gated: dict[str, Gated]) -> None:
    template = Template.from_stack(gated["all_props"].stack)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        {"Scheme": "internal",
         "Listeners": [{"LoadBalancerPort": "8443", "Protocol": "HTTPS", "InstancePort": "8443",
                        "InstanceProtocol": "HTTP", "PolicyNames": ["TlsNegotiation"],
                        "SSLCertificateId": Match.string_like_regexp("^arn:aws:acm:")},
                       {"LoadBalancerPort": "80", "Protocol": "HTTP", "InstancePort": "8443",
                        "InstanceProtocol": "HTTP"}],
         "Policies": [Match.object_like({"Attributes": [{
             "Name": "Reference-Security-Policy", "Value": "ELBSecurityPolicy-TLS-1-1-2017-01"}]})],
         "HealthCheck": {"Target": "HTTP:8443/ready", "Interval": "10", "Timeout": "4",
                         "HealthyThreshold": "3", "UnhealthyThreshold": "4"},
         "ConnectionDrainingPolicy": {"Enabled": True, "Timeout": 120}},
    )
    template.has_resource_properties(
        "AWS::ECS::CapacityProvider",
        {"AutoScalingGroupProvider": Match.object_like(
            {"ManagedTerminationProtection": "ENABLED"})},
    )
    template.has_resource_properties(
        "AWS::ECS::Service",
        {"DeploymentConfiguration": {"MaximumPercent": 150, "MinimumHealthyPercent": 100}},
    )
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {"MultiAZ": True, "DeletionProtection": False, "EngineVersion": "8.0.43",
         "DBInstanceClass": "db.m6i.large", "EnableIAMDatabaseAuthentication": True},
    )


def test_a_cluster_of_your_own_runs_the_service_with_the_ec2_launch_type() -> None:
    # given an ECS cluster the app made itself (no ContainerCluster: no capacity check)
    stack = cdk.Stack(cdk.App(), "OwnCluster", env=ENV)
    cluster = ecs.Cluster(stack, "Cluster", vpc=existing_vpc(stack))
    cluster.add_capacity("Capacity", instance_type=ec2.InstanceType("t3.large"), min_capacity=2)
    # when a service is added with more tasks than instances
    ClassicLoadBalancedService(
        stack, "Svc",
        ClassicLoadBalancedServiceProps(
            name="svc", cluster=cluster,
            image=ecs.ContainerImage.from_registry("example/svc:1"), container_port=8080,
        ),
    )
    # then it synthesizes with the EC2 launch type and the ELB can reach the instances
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ECS::Service", {"LaunchType": "EC2"})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress", {"FromPort": 8080, "ToPort": 8080,
                                           "Description": "Port 8080 LB to fleet"}
    )


def test_listeners_added_later_are_rendered_in_upper_case() -> None:
    # given the service's ELB, when a caller adds a second listener through the escape hatch
    stack = cdk.Stack(cdk.App(), "ExtraListener", env=ENV)
    cluster = ecs.Cluster(stack, "Cluster", vpc=existing_vpc(stack))
    cluster.add_capacity("Capacity", instance_type=ec2.InstanceType("t3.large"))
    service = ClassicLoadBalancedService(
        stack, "Svc",
        ClassicLoadBalancedServiceProps(
            name="svc", cluster=cluster,
            image=ecs.ContainerImage.from_registry("example/svc:1"), container_port=8080,
        ),
    )
    service.load_balancer.add_listener(external_port=80, internal_port=8080)
    # then both listeners are kept, with the upper-case protocols CloudFormation documents
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        {"Listeners": [
            {"LoadBalancerPort": "8080", "Protocol": "HTTP", "InstancePort": "8080",
             "InstanceProtocol": "HTTP"},
            {"LoadBalancerPort": "80", "Protocol": "HTTP", "InstancePort": "8080",
             "InstanceProtocol": "HTTP"},
        ]},
    )
