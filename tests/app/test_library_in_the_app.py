"""What the app makes of the library: a context parser for every configurable prop, the health
path of the images it builds from source, and the configuration table's wording for it."""

from __future__ import annotations

import typing

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from ecs_playground import (
    ClassicLoadBalancedServiceProps,
    ContainerClusterProps,
    MySqlDatabaseProps,
)
from ecs_playground.props import CONFIGURABLE
from ecs_playground_app import config
from ecs_playground_app.parsers import PARSERS
from ecs_playground_app.stack import EcsPlaygroundStack
from tests.tutorial import TUTORIAL_CONTEXT

PROPS = (ContainerClusterProps, MySqlDatabaseProps, ClassicLoadBalancedServiceProps)


@pytest.mark.parametrize("cls", PROPS, ids=lambda c: c.__name__)
def test_every_configurable_field_has_a_context_parser(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    configurable = [f for f in cls.__dataclass_fields__.values()  # type: ignore[attr-defined]
                    if f.metadata[CONFIGURABLE]]
    assert configurable, f"{cls.__name__} has no configurable field"
    for f in configurable:
        assert hints[f.name] in PARSERS, f"no context parser for {hints[f.name]}"


def test_services_built_from_source_keep_the_health_path_their_images_serve() -> None:
    # given the tutorial's platform without any healthCheckPath (images built from docker/)
    context = {k: v for k, v in TUTORIAL_CONTEXT.items() if not k.endswith(".healthCheckPath")}
    assert len(context) < len(TUTORIAL_CONTEXT)
    app = cdk.App(context=context)
    platform = config.load(app.node.get_all_context())
    stack = EcsPlaygroundStack(app, platform.stack_name, config=platform)
    # then each ELB checks the /health path the images serve, on the service's host port
    elbs = Template.from_stack(stack).find_resources("AWS::ElasticLoadBalancing::LoadBalancer")
    targets = sorted(r["Properties"]["HealthCheck"]["Target"] for r in elbs.values())
    assert targets == ["HTTP:8081/health", "HTTP:9091/health"]


def test_the_configuration_table_says_what_the_app_sets_for_an_unset_health_path() -> None:
    # the library's default (a TCP check) is not what this app gives a service built from source
    meaning = config.key_specs(["location"])["location.healthCheckPath"].meaning
    assert "Default: none" in meaning  # the library's own text stays
    assert "In this app, a service whose image is built from imagesDirectory/<service> gets " \
           "'/health' when the key is unset" in meaning

