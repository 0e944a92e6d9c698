"""Operating a platform built with the library alone (issue 12): alarms switched off, a dashboard
that does not grow with the services, the capacity check of autoscaling maxima, AMI pinning and
its rollouts, registry credentials on the image; small library stacks. What the app configures
(the tutorial's platform, the 'everything on' scenario) is in tests/app/test_stack_operations.py.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Template

from ecs_playground import (
    CapacityError,
    ClassicLoadBalancedService,
    ContainerClusterProps,
    Monitoring,
    MonitoringProps,
    PropsValidationError,
)
from ecs_playground.capacity import INSTANCE_TYPES, CapacityPlan, ServiceDemand
from tests.factories import ENV, existing_vpc, new_cluster, new_stack, service_props


def resources(template: Template, type_: str) -> dict[str, Any]:
    return dict(template.find_resources(type_))


# --- alarms ---------------------------------------------------------------------------------------


def test_alarms_can_be_switched_off_per_group() -> None:
    cluster = new_cluster(alarms=False)
    service = ClassicLoadBalancedService(
        Stack.of(cluster), "Svc", service_props(cluster, alarms=False))
    assert cluster.alarms == {} and service.alarms == {}
    template = Template.from_stack(Stack.of(cluster))
    template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    service_cfn = next(iter(resources(template, "AWS::ECS::Service").values()))
    deployment = service_cfn["Properties"]["DeploymentConfiguration"]
    assert deployment.get("Alarms", {}).get("Enable") is not True


# --- dashboard ------------------------------------------------------------------------------------


def test_dashboard_widgets_do_not_grow_with_the_services() -> None:
    """A service adds lines to the grouped widgets, not widgets: 200 services fit one body."""
    def dashboard(services: int) -> tuple[int, int]:
        cluster = new_cluster()
        monitoring = Monitoring(Stack.of(cluster), "Monitoring", MonitoringProps())
        monitoring.add_cluster(cluster)
        for n in range(services):
            monitoring.add_service(ClassicLoadBalancedService(
                Stack.of(cluster), f"Svc{n}", service_props(
                    cluster, name=f"svc{n}", container_port=8000 + n, desired_count=1)))
        (board,) = resources(Template.from_stack(Stack.of(cluster)),
                             "AWS::CloudWatch::Dashboard").values()
        body = json.dumps(board["Properties"]["DashboardBody"])
        return body.count('\\"type\\":'), body.count("LoadBalancerName")

    (widgets_1, lines_1), (widgets_2, lines_2) = dashboard(1), dashboard(2)
    assert widgets_1 == widgets_2 and widgets_1 > 10
    assert lines_2 == 2 * lines_1  # one more line per ELB widget


# --- autoscaling ----------------------------------------------------------------------------------


def _plan(*services: ServiceDemand, instances: int = 3, most: int = 6) -> CapacityPlan:
    return CapacityPlan(cluster="c", instance_type="t2.medium",
                        resources=INSTANCE_TYPES["t2.medium"], instances=instances,
                        reserved_memory_mib=256, services=services, max_instances=most)


def _scaled(max_count: int, min_healthy: int = 50) -> ServiceDemand:
    return ServiceDemand(name="web", host_port=8080, cpu=256, memory_mib=512, desired_count=2,
                         min_healthy_percent=min_healthy, max_healthy_percent=200,
                         max_count=max_count)


def test_max_tasks_above_max_instances_fails_with_the_numbers() -> None:
    with pytest.raises(CapacityError) as err:
        _plan(_scaled(7)).check()
    assert "max task count 7 is larger than the cluster's max capacity of 6 instances" in str(
        err.value)


def test_a_rolling_deployment_at_max_scale_must_progress() -> None:
    _plan(_scaled(6, min_healthy=50)).check()  # ECS may stop 3 of 6 first: it progresses
    with pytest.raises(CapacityError) as err:
        _plan(_scaled(6, min_healthy=100)).check()
    assert ("at its max task count 6 on the cluster's max capacity of 6 instances a rolling "
            "deployment can never progress") in str(err.value)
    _plan(_scaled(5, min_healthy=100)).check()  # one free instance: it starts a task there


def test_the_capacity_check_on_maxima_runs_at_synth() -> None:
    cluster = new_cluster(min_capacity=2, max_capacity=3)
    with pytest.raises(CapacityError, match="max task count 4 is larger"):
        ClassicLoadBalancedService(Stack.of(cluster), "Svc", service_props(
            cluster, desired_count=2, max_task_count=4))


def test_autoscaling_props_are_validated() -> None:
    cluster = new_cluster()
    with pytest.raises(PropsValidationError) as err:
        ClassicLoadBalancedService(Stack.of(cluster), "Svc", service_props(
            cluster, min_task_count=3, max_task_count=2, scale_cpu_percent=5))
    text = str(err.value)
    assert "max_task_count = 2" in text and "scale_cpu_percent = 5" in text


# --- AMI rollout ----------------------------------------------------------------------------------


def test_changing_the_pinned_ami_changes_only_the_launch_template() -> None:
    def template(ami: str) -> dict[str, Any]:
        cluster = new_cluster(machine_image_id=ami)
        return Template.from_stack(Stack.of(cluster)).to_json()["Resources"]  # type: ignore[no-any-return]

    before, after = template("ami-0123456789abcdef0"), template("ami-0fedcba9876543210")
    changed = {i for i in before if before[i] != after.get(i)}
    assert {before[i]["Type"] for i in changed} == {"AWS::EC2::LaunchTemplate"}


def test_changing_the_pinned_release_changes_only_the_image_parameter() -> None:
    def template(release: str) -> dict[str, Any]:
        cluster = new_cluster(machine_image_release=release)
        return Template.from_stack(Stack.of(cluster)).to_json()  # type: ignore[no-any-return]

    before = template("al2023-ami-ecs-hvm-2023.0.20260916-kernel-6.1-x86_64")
    after = template("al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64")
    changed = {i for i in before["Resources"] if before["Resources"][i] != after["Resources"][i]}
    assert {before["Resources"][i]["Type"] for i in changed} == {"AWS::EC2::LaunchTemplate"}
    (image,) = [p["Default"] for p in after["Parameters"].values()
                if str(p.get("Default", "")).startswith("/aws/service/ecs/")]
    assert image.endswith("/al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64/image_id")


@pytest.mark.parametrize(("pins", "prop"), [
    ({"machine_image_release": "al2023-ami-ecs-hvm-latest"}, "machine_image_release"),
    ({"machine_image_release": "al2023-ami-ecs-hvm-2023.0.20260922-kernel-6.1-x86_64",
      "machine_image_id": "ami-0123456789abcdef0"}, "machine_image_release"),
    ({"machine_image_id": "ami-0123456789abcdef0", "machine_image_cached_in_context": True},
     "machine_image_cached_in_context"),
])
def test_the_ami_is_pinned_one_valid_way(pins: dict[str, Any], prop: str) -> None:
    problems = ContainerClusterProps(vpc=existing_vpc(new_stack()), **pins).validate()
    assert [p.prop for p in problems] == [prop], problems


def test_the_ami_is_resolved_at_synth_into_the_context_when_asked() -> None:
    parameter = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    key = f"ssm:account=111111111111:parameterName={parameter}:region=eu-west-1"
    # given the lookup's answer in cdk.context.json (the CLI writes it on the first synth)
    stack = cdk.Stack(cdk.App(context={key: "ami-0aaaabbbbccccdddd"}), "Test", env=ENV)
    cluster = new_cluster(stack, machine_image_cached_in_context=True)
    template = Template.from_stack(Stack.of(cluster)).to_json()
    # then the launch template has that ID, and no deploy-time SSM parameter remains
    (launch,) = [r for r in template["Resources"].values()
                 if r["Type"] == "AWS::EC2::LaunchTemplate"]
    assert launch["Properties"]["LaunchTemplateData"]["ImageId"] == "ami-0aaaabbbbccccdddd"
    assert parameter not in json.dumps(template.get("Parameters", {}))


# --- private registries ---------------------------------------------------------------------------


def test_library_takes_registry_credentials_on_the_image() -> None:
    from aws_cdk import aws_secretsmanager as secretsmanager

    cluster = new_cluster()
    secret = secretsmanager.Secret.from_secret_name_v2(Stack.of(cluster), "Reg", "team/registry")
    ClassicLoadBalancedService(Stack.of(cluster), "Svc", service_props(
        cluster, image=ecs.ContainerImage.from_registry("example.org/app:1",
                                                        credentials=secret)))
    assert ':secret:team/registry"' in json.dumps(
        Template.from_stack(Stack.of(cluster)).find_resources("AWS::ECS::TaskDefinition"))
