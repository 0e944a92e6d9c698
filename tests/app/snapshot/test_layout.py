"""Snapshot of the stack layout (stack -> services) of a 60-service catalog: a diff here is a
service moving to another stack, which replaces its ELB. Update on purpose only."""

from __future__ import annotations

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from ecs_playground_app import layout
from ecs_playground_app.catalog import generated_names


def test_layout_of_sixty_services(snapshot: SnapshotAssertion) -> None:
    pins: dict[str, str | None] = {"location": layout.PLATFORM, "user": layout.PLATFORM}
    pins.update(dict.fromkeys(generated_names(58)))
    assert layout.by_stack(layout.assign(pins, 24)) == snapshot.use_extension(
        JSONSnapshotExtension)
