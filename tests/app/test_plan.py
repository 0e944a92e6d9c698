"""The platform's plan (ecs_playground_app/plan.py): configuration in, settings, layout and
problems out, without a CDK app. Each test reads a context and plans it: no construct, no jsii
object, a few milliseconds."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ecs_playground_app import config, layout
from ecs_playground_app.images import SERVICE_IMAGE_HEALTH_PATH
from ecs_playground_app.plan import PlatformPlan, plan
from tests.tutorial import TUTORIAL_CONTEXT


def plan_of(overrides: Mapping[str, Any] | None = None, *, zones: tuple[str, ...] = (),
            region: str = "") -> PlatformPlan:
    """The plan of the tutorial's context with `-c KEY=VALUE` overrides (None removes a key);
    with `zones`, as the stack of an environment whose region has those AZs."""
    context = {k: v for k, v in {**TUTORIAL_CONTEXT, **(overrides or {})}.items()
               if v is not None}
    return plan(config.load(context, environment_specific=bool(zones)),
                availability_zones=zones, region=region)


def port_of(name: str) -> int:
    """The port a tutorial service's source declares (docker/<name>/service.json)."""
    images = Path(TUTORIAL_CONTEXT["imagesDirectory"])
    port: int = json.loads((images / name / "service.json").read_text())["port"]
    return port


def test_the_tutorials_plan_has_no_problem_and_every_service_on_the_platform_stack() -> None:
    # given the tutorial's configuration, when it is planned
    tutorial = plan_of()
    # then nothing is wrong, and both services are planned in the platform stack
    assert tutorial.problems == ()
    assert tutorial.complete
    assert list(tutorial.services) == ["location", "user"]
    assert dict(tutorial.layout) == {"location": layout.PLATFORM, "user": layout.PLATFORM}
    assert tutorial.service_stacks == ()
    assert tutorial.users == {layout.PLATFORM: {"location": "location", "user": "user"}}
    assert (tutorial.vpc.cidr, tutorial.vpc.max_azs) == ("10.0.0.0/16", 2)


def test_a_service_built_from_source_takes_its_port_and_health_path_from_the_source() -> None:
    location = plan_of().services["location"]
    assert location.built and location.image is None
    assert location.settings["container_port"] == port_of("location")
    assert location.settings["health_check_path"] == SERVICE_IMAGE_HEALTH_PATH


def test_a_registry_image_is_planned_as_configured() -> None:
    location = plan_of({"location.image": "nginx:1.27", "location.containerPort": 80,
                       "location.environment": "MODE=demo"}).services["location"]
    assert (location.image, location.settings["container_port"]) == ("nginx:1.27", 80)
    assert location.settings.get("health_check_path") == TUTORIAL_CONTEXT.get(
        "location.healthCheckPath")  # only what is configured: the images' /health is not nginx's
    assert location.environment == {"MODE": "demo"}


def test_a_plan_names_every_problem_at_once() -> None:
    # given four mistakes in four places: an unknown key, a registry image without its port,
    # a port that contradicts the service's source and more AZs than the region has
    planned = plan_of(
        {"locaton.cpu": 256, "location.image": "nginx:1.27", "location.containerPort": None,
         "user.containerPort": 1234, "vpc.maxAzs": 3},
        zones=("eu-west-3a", "eu-west-3b"), region="eu-west-3",
    )
    # then the plan lists all of them, configuration and AZs first, then the images
    assert len(planned.config_problems) == 2, planned.config_problems
    assert "unknown key 'locaton.cpu'" in planned.config_problems[0]
    assert planned.config_problems[1].startswith("vpc.maxAzs = 3: the region eu-west-3 has 2")
    assert len(planned.image_problems) == 2, planned.image_problems
    assert planned.image_problems[0].startswith("location.containerPort is missing")
    assert planned.image_problems[1].startswith(
        f"user.containerPort = 1234 but the image built from {TUTORIAL_CONTEXT['imagesDirectory']}"
    )
    # and a service whose image is wrong is left out of the plan, so it is not checked further
    assert not planned.services and not planned.complete


def test_the_azs_are_checked_only_once_known() -> None:
    # CDK's dummy AZs stand in until cdk.context.json holds the region's
    assert plan_of({"vpc.maxAzs": 3}, zones=("dummy1a", "dummy1b")).problems == ()
    assert plan_of({"vpc.maxAzs": 3}, zones=("eu-west-3a", "eu-west-3b", "eu-west-3c")
                   ).problems == ()


def test_services_beyond_the_platform_stack_get_their_stacks_users() -> None:
    planned = plan_of({"user.stack": 3})
    key = planned.layout["user"]
    assert key != layout.PLATFORM
    assert planned.service_stacks == (key,)
    assert planned.users == {layout.PLATFORM: {"location": "location"}, key: {"user": "user"}}


def test_the_plan_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan_of().problems = ()  # type: ignore[misc]

