"""CloudFormation waits for the resources that stabilize after a create or update, and rolls the
stack back when one fails, as on AWS.

An ``AWS::ECS::Service`` whose tasks the scheduler runs is CREATE_/UPDATE_COMPLETE only once
its PRIMARY deployment is COMPLETED; when ECS's deployment circuit breaker fails it, the resource
is CREATE_/UPDATE_FAILED with ECS's reason and the stack rolls back (an update: the previous
resources restored, the stack UPDATE_ROLLBACK_COMPLETE; a creation: everything deleted,
ROLLBACK_COMPLETE). Every wait is bounded by :func:`emulator.rollout_timeout_seconds`.

``ExecuteChangeSet`` answers once the resources are applied; the wait and the rollback run in
the background with the stack ``*_IN_PROGRESS``, so the CLI polls as it does on AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator import ROLLOUT_TIMEOUT_VARIABLE, rollout_timeout_seconds

logger = logging.getLogger("emulator.compat")

Probe = Callable[[], "str | None"]
"""None while the resource stabilizes, "" once it is stable, else why it failed."""
STABILIZERS: dict[str, Callable[[Any], Probe | None]] = {}
"""Resource type -> what to wait for after a create or update (None: nothing)."""
RESTORERS: dict[str, Callable[[Any], None]] = {}
"""Resource type -> what makes a replaced resource current again on rollback (a task definition
revision back to ACTIVE)."""
POLL_SECONDS = 0.25


@dataclass
class Checkpoint:
    """The stack as it was before an update: what a rollback restores."""

    template: Any
    json_map: dict[str, Any]
    parsed: dict[str, Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def take(cls, stack: Any) -> Checkpoint:
        resource_map = stack.resource_map
        return cls(
            stack.template,
            dict(resource_map._resource_json_map),
            dict(resource_map._parsed_resources),
            dict(resource_map.input_parameters or {}),
        )


def probes(resource_map: Any) -> dict[str, Probe]:
    """Logical ID -> probe of each created resource that has yet to stabilize."""
    found = {}
    for name, body in resource_map._resource_json_map.items():
        resource = resource_map._parsed_resources.get(name)
        stabilizer = STABILIZERS.get(str(body.get("Type")))
        if resource is not None and stabilizer is not None:
            probe = stabilizer(resource)
            if probe is not None:
                found[name] = probe
    return found


def waits(resource: Any, resource_type: str) -> bool:
    """True if the resource is COMPLETE only after it stabilizes (its event is deferred)."""
    stabilizer = STABILIZERS.get(resource_type)
    return stabilizer is not None and resource is not None and stabilizer(resource) is not None


def wait(found: dict[str, Probe]) -> dict[str, str]:
    """Wait for every probe (bounded); logical ID -> why it failed (empty: all stable)."""
    deadline = time.monotonic() + rollout_timeout_seconds()
    pending = dict(found)
    failed: dict[str, str] = {}
    while pending:
        for name, probe in list(pending.items()):
            outcome = probe()
            if outcome is not None:
                pending.pop(name)
                if outcome:
                    failed[name] = outcome
        if pending and time.monotonic() >= deadline:
            for name in pending:
                failed[name] = (
                    f"emulator: did not stabilize within {rollout_timeout_seconds():.0f} s "
                    f"({ROLLOUT_TIMEOUT_VARIABLE}); see DescribeServices' events"
                )
            break
        if pending:
            time.sleep(POLL_SECONDS)
    return failed


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
    from emulator.compat import cfn_engine

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
        left = cfn_engine.delete_resources(resource_map, list(resource_map._resource_json_map))
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
    from emulator.compat import cfn_engine

    resource_map = stack.resource_map
    current_map = dict(resource_map._resource_json_map)
    parsed = resource_map._parsed_resources
    added = [n for n in current_map if n not in checkpoint.json_map]
    cfn_engine.delete_resources(resource_map, added)
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
    needs = cfn_engine.dependencies(checkpoint.json_map)
    for name in cfn_engine.dependency_order(checkpoint.json_map):
        if name not in current_map:
            cfn_engine._create_one(resource_map, name)
        elif name not in replaced and (
            cfn_engine.normalized(current_map[name])
            != cfn_engine.normalized(checkpoint.json_map[name])
            or needs[name] & set(replaced)
        ):
            cfn_engine._update_one(resource_map, name, current_map[name])
    for name, new in replaced.items():
        try:
            resource_map._delete_resource(new, current_map[name])
        except Exception:
            logger.exception("rollback: deleting the replacement of %s failed", name)
            continue
        resource_map._add_event(name, current_map[name]["Type"], "DELETE_COMPLETE")
