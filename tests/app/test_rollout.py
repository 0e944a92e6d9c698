"""Rolling out a new image is one change, and it touches nothing but that service's task."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.conftest import ROOT, build_stack, template_of


def _by_family(template: dict[str, Any]) -> dict[str, str]:
    """Logical IDs of the task definitions, by family (what they are, not what they are called)."""
    return {r["Properties"]["Family"]: i for i, r in template["Resources"].items()
            if r["Type"] == "AWS::ECS::TaskDefinition"}


def _service_of(template: dict[str, Any], task_id: str) -> str:
    """The logical ID of the ECS service that runs a task definition."""
    (service,) = (i for i, r in template["Resources"].items()
                  if r["Type"] == "AWS::ECS::Service"
                  and r["Properties"]["TaskDefinition"] == {"Ref": task_id})
    return service


def changed_resources(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    ids = set(before["Resources"]) | set(after["Resources"])
    return {i for i in ids if before["Resources"].get(i) != after["Resources"].get(i)}


def image_of(template: dict[str, Any], service: str) -> Any:
    task = template["Resources"][_by_family(template)[service]]
    return task["Properties"]["ContainerDefinitions"][0]["Image"]


@pytest.mark.parametrize("service", ["location", "user"])
def test_new_registry_tag_replaces_only_that_task_definition(service: str) -> None:
    # given a platform running a published image, when `-c <service>.image=REPO:NEWTAG`
    before = template_of(build_stack(**{f"{service}.image": f"srirajan/{service}:10"})).to_json()
    after = template_of(build_stack(**{f"{service}.image": f"srirajan/{service}:11"})).to_json()
    # then only that service's task definition changes (a task definition is immutable: a new
    # revision), and its service follows it by reference: nothing else, nothing stateful
    task = _by_family(after)[service]
    assert changed_resources(before, after) == {task}
    assert image_of(after, service) == f"srirajan/{service}:11"
    assert _service_of(after, task) == _service_of(before, task)
    assert before["Outputs"] == after["Outputs"]


def test_changed_service_source_rebuilds_only_that_service(
    tmp_path: Path, tutorial_template: Template
) -> None:
    # given a copy of the image sources where only the location service's folder changed
    images = tmp_path / "docker"
    shutil.copytree(ROOT / "docker", images, ignore=shutil.ignore_patterns("__pycache__"))
    definition = images / "location" / "service.json"
    definition.write_text(definition.read_text().replace('"max_length": 35', '"max_length": 40'))
    # when the app is synthesized from it
    after = template_of(build_stack(imagesDirectory=str(images))).to_json()
    before = tutorial_template.to_json()
    # then the location image (asset hash) and task definition change; the user image does not
    assert changed_resources(before, after) == {_by_family(before)["location"]}
    assert image_of(after, "location") != image_of(before, "location")
    assert image_of(after, "user") == image_of(before, "user")


def test_shared_code_change_rebuilds_every_service(
    tmp_path: Path, tutorial_template: Template
) -> None:
    images = tmp_path / "docker"
    shutil.copytree(ROOT / "docker", images, ignore=shutil.ignore_patterns("__pycache__"))
    with (images / "common" / "ecs_service" / "__init__.py").open("a") as f:
        f.write("\n# changed\n")
    after = template_of(build_stack(imagesDirectory=str(images))).to_json()
    before = tutorial_template.to_json()
    assert changed_resources(before, after) == set(_by_family(before).values())
