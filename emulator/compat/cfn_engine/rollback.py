"""The end of a change set whose resources stabilize in the background (ECS services rolling
out): the stack completes once they are stable, or those that failed get their ``*_FAILED`` event
and the stack rolls back, as on AWS (an update: the previous resources restored, the stack
UPDATE_ROLLBACK_COMPLETE; a creation: everything deleted, ROLLBACK_COMPLETE).

What each type waits for, and how long, is :mod:`emulator.compat.cfn_stabilize`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from emulator.compat.cfn_engine.deletion import delete_resources
from emulator.compat.cfn_engine.graph import dependencies, dependency_order
from emulator.compat.cfn_engine.stacks import logger
from emulator.compat.cfn_engine.updates import create_one, normalized, update_one
from emulator.compat.cfn_stabilize import RESTORERS, Checkpoint, Probe, probes, wait


def finish_in_background(
    stack: Any,
    kind: str,
    found: dict[str, Probe],
    checkpoint: Checkpoint | None,
    complete: Callable[[], None],
) -> None:
    """Wait for ``found`` in a thread; then ``complete()``, or fail the resources and roll back."""

    def run() -> None:
        try:
            failed = wait(found)
            if not failed:
                _completed(stack.resource_map, found, kind)
                complete()
                return
            roll_back(stack, kind, failed, checkpoint)
        except Exception as error:
            logger.exception("stabilizing stack %s failed", stack.name)
            stack.status = f"{kind}_FAILED"
            stack.stack_status_reason = f"emulator: {type(error).__name__}: {error}"
            stack._add_stack_event(stack.status, resource_status_reason=stack.stack_status_reason)

    threading.Thread(target=run, daemon=True, name=f"stabilize-{stack.name}").start()


def _completed(resource_map: Any, names: dict[str, Probe], kind: str) -> None:
    for name in names:
        resource_map._add_event(name, resource_map._resource_json_map[name]["Type"],
                                f"{kind}_COMPLETE")


def roll_back(stack: Any, kind: str, failed: dict[str, str], checkpoint: Checkpoint | None) -> None:
    """The resources that failed get their ``*_FAILED`` event; then the stack rolls back."""
    resource_map = stack.resource_map
    for name, why in failed.items():
        resource_map._add_event(name, resource_map._resource_json_map[name]["Type"],
                                f"{kind}_FAILED", why)
    verb = "create" if kind == "CREATE" else "update"
    reason = f"The following resource(s) failed to {verb}: [{', '.join(sorted(failed))}]. "
    stack.stack_status_reason = reason
    if kind == "CREATE" or checkpoint is None:
        stack.status = "ROLLBACK_IN_PROGRESS"
        stack._add_stack_event(stack.status, resource_status_reason=reason)
        left = delete_resources(resource_map, list(resource_map._resource_json_map))
        stack.status = "ROLLBACK_FAILED" if left else "ROLLBACK_COMPLETE"
        stack._add_stack_event(stack.status)
        return
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(stack.status, resource_status_reason=reason)
    _restore(stack, checkpoint)
    found = probes(resource_map)
    left = wait(found)
    _completed(resource_map, {n: p for n, p in found.items() if n not in left}, "UPDATE")
    for name, why in left.items():
        resource_map._add_event(name, resource_map._resource_json_map[name]["Type"],
                                "UPDATE_FAILED", why)
    stack.status = "UPDATE_ROLLBACK_FAILED" if left else "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event(stack.status)


def _restore(stack: Any, checkpoint: Checkpoint) -> None:
    """Back to the checkpoint: resources the update added are deleted, replaced ones get their
    previous physical resource back (the new one deleted), in-place updates are updated again
    with the previous properties, removed ones are created again."""
    resource_map = stack.resource_map
    current_map = dict(resource_map._resource_json_map)
    parsed = resource_map._parsed_resources
    added = [n for n in current_map if n not in checkpoint.json_map]
    delete_resources(resource_map, added)
    # _parsed_resources also holds the template's mappings, parameters and conditions: only the
    # resources of the checkpoint's template can have been replaced
    replaced = {
        n: parsed[n]
        for n, old in checkpoint.parsed.items()
        if n in checkpoint.json_map
        and old is not None and parsed.get(n) is not None and parsed[n] is not old
    }
    stack.template = checkpoint.template
    stack._parse_template()
    resource_map._template = stack.template_dict
    resource_map.input_parameters = checkpoint.parameters
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    resource_map._resource_json_map = checkpoint.json_map
    for name in replaced:
        old = checkpoint.parsed[name]
        parsed[name] = old
        resource_type = str(checkpoint.json_map[name]["Type"])
        if resource_type in RESTORERS:
            RESTORERS[resource_type](old)
        resource_map._add_event(name, resource_type, "UPDATE_COMPLETE")
    needs = dependencies(checkpoint.json_map)
    for name in dependency_order(checkpoint.json_map):
        if name not in current_map:
            create_one(resource_map, name)
        elif name not in replaced and (
            normalized(current_map[name])
            != normalized(checkpoint.json_map[name])
            or needs[name] & set(replaced)
        ):
            update_one(resource_map, name, current_map[name])
    for name, new in replaced.items():
        try:
            resource_map._delete_resource(new, current_map[name])
        except Exception:
            logger.exception("rollback: deleting the replacement of %s failed", name)
            continue
        resource_map._add_event(name, current_map[name]["Type"], "DELETE_COMPLETE")
