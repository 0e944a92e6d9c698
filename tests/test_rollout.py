"""Rolling out a new image is one context value, and it changes nothing but that service's task."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from .conftest import build_stack, template_of


def changed_resources(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    ids = set(before["Resources"]) | set(after["Resources"])
    return {i for i in ids if before["Resources"].get(i) != after["Resources"].get(i)}


@pytest.mark.parametrize(
    ("service", "task_id", "service_id"),
    [
        ("location", "ServicesLocationTaskDefinition30809362", "ServicesLocationService4D45543D"),
        ("user", "ServicesUserTaskDefinitionC74D7F47", "ServicesUserService8C9A362B"),
    ],
)
def test_image_override_replaces_only_that_task_definition(
    default_template: Template, service: str, task_id: str, service_id: str
) -> None:
    # given the default app, when the image is overridden as `cdk deploy -c KEY=VALUE` does
    new_image = f"srirajan/{service}:11"
    after = template_of(build_stack(**{f"{service}.image": new_image})).to_json()
    before = default_template.to_json()
    # then only that service's task definition changes (a task definition is immutable: a new
    # revision), and its service follows it by reference: nothing else, nothing stateful
    assert changed_resources(before, after) == {task_id}
    container = after["Resources"][task_id]["Properties"]["ContainerDefinitions"][0]
    assert container["Image"] == new_image
    assert after["Resources"][service_id]["Properties"]["TaskDefinition"] == {"Ref": task_id}
    assert before["Outputs"] == after["Outputs"]
