"""Rolling out a new image is one change, and it touches nothing but that service's task."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from .conftest import ROOT, build_stack, template_of

TASKS = {"location": "ServicesLocationTaskDefinition30809362",
         "user": "ServicesUserTaskDefinitionC74D7F47"}
SERVICES = {"location": "ServicesLocationService4D45543D", "user": "ServicesUserService8C9A362B"}


def changed_resources(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    ids = set(before["Resources"]) | set(after["Resources"])
    return {i for i in ids if before["Resources"].get(i) != after["Resources"].get(i)}


def image_of(template: dict[str, Any], service: str) -> Any:
    return template["Resources"][TASKS[service]]["Properties"]["ContainerDefinitions"][0]["Image"]


@pytest.mark.parametrize("service", ["location", "user"])
def test_new_registry_tag_replaces_only_that_task_definition(service: str) -> None:
    # given a platform running a published image, when `-c <service>.image=REPO:NEWTAG`
    before = template_of(build_stack(**{f"{service}.image": f"srirajan/{service}:10"})).to_json()
    after = template_of(build_stack(**{f"{service}.image": f"srirajan/{service}:11"})).to_json()
    # then only that service's task definition changes (a task definition is immutable: a new
    # revision), and its service follows it by reference: nothing else, nothing stateful
    assert changed_resources(before, after) == {TASKS[service]}
    assert image_of(after, service) == f"srirajan/{service}:11"
    assert after["Resources"][SERVICES[service]]["Properties"]["TaskDefinition"] == {
        "Ref": TASKS[service]
    }
    assert before["Outputs"] == after["Outputs"]


def test_changed_service_source_rebuilds_only_that_service(
    tmp_path: Path, default_template: Template
) -> None:
    # given a copy of the image sources where only the location service's folder changed
    images = tmp_path / "docker"
    shutil.copytree(ROOT / "docker", images, ignore=shutil.ignore_patterns("__pycache__"))
    definition = images / "location" / "service.json"
    definition.write_text(definition.read_text().replace('"max_length": 35', '"max_length": 40'))
    # when the app is synthesized from it
    after = template_of(build_stack(imagesDirectory=str(images))).to_json()
    before = default_template.to_json()
    # then the location image (asset hash) and task definition change; the user image does not
    assert changed_resources(before, after) == {TASKS["location"]}
    assert image_of(after, "location") != image_of(before, "location")
    assert image_of(after, "user") == image_of(before, "user")


def test_shared_code_change_rebuilds_every_service(
    tmp_path: Path, default_template: Template
) -> None:
    images = tmp_path / "docker"
    shutil.copytree(ROOT / "docker", images, ignore=shutil.ignore_patterns("__pycache__"))
    with (images / "common" / "ecs_service" / "__init__.py").open("a") as f:
        f.write("\n# changed\n")
    after = template_of(build_stack(imagesDirectory=str(images))).to_json()
    assert changed_resources(default_template.to_json(), after) == set(TASKS.values())
