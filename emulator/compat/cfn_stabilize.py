"""What CloudFormation waits for after a create or update, as on AWS.

An ``AWS::ECS::Service`` whose tasks the scheduler runs is CREATE_/UPDATE_COMPLETE only once
its PRIMARY deployment is COMPLETED; when ECS's deployment circuit breaker fails it, the resource
is CREATE_/UPDATE_FAILED with ECS's reason and the stack rolls back (an update: the previous
resources restored, the stack UPDATE_ROLLBACK_COMPLETE; a creation: everything deleted,
ROLLBACK_COMPLETE). Every wait is bounded by :func:`emulator.rollout_timeout_seconds`.

``ExecuteChangeSet`` answers once the resources are applied; the wait and the rollback run in
the background with the stack ``*_IN_PROGRESS``, so the CLI polls as it does on AWS
(:mod:`emulator.compat.cfn_engine.rollback`). This module holds what each type waits for and how
long: the resource types register here, the engine reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator import ROLLOUT_TIMEOUT_VARIABLE, rollout_timeout_seconds

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
