"""What every area of the engine shares: finding a stack, its resource events and resource list,
how an error reads in an event, and the hooks run after each change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing

logger = logging.getLogger("emulator.compat")

# Run after every change set execution and stack deletion, with (account_id, region):
# the place for emulated agents that react to what a deployment created.
AFTER_CHANGE: list[Callable[[str, str], None]] = []


def after_change(account_id: str, region: str) -> None:
    """Run every :data:`AFTER_CHANGE` hook; a failing hook is logged, never raised."""
    for hook in AFTER_CHANGE:
        try:
            hook(account_id, region)
        except Exception:
            logger.exception("after-change hook %s failed", getattr(hook, "__name__", hook))


def find_stack(backend: Any, name_or_stack_id: str) -> Any:
    """A live stack by ID or name (None if there is none)."""
    if name_or_stack_id in backend.stacks:
        return backend.stacks[name_or_stack_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_stack_id), None)


def physical_id_or_none(resource: Any) -> Any:
    """A parsed resource's physical ID (None for no resource, or one without an ID)."""
    return getattr(resource, "physical_resource_id", None)


def reason(error: BaseException) -> str:
    """An error as CloudFormation shows it in an event: the service's message, not its repr."""
    message = getattr(error, "message", None)
    return str(message) if message else f"{type(error).__name__}: {error}"


def add_event(
    self: Any, name: str, resource_type: str, status: str, status_reason: str | None = None
) -> None:
    """``ResourceMap._add_event``: record a resource event on the owning stack, so ``cdk deploy``
    can show progress."""
    backend = cfn_models.cloudformation_backends[self._account_id][self._region_name]
    stack = backend.stacks.get(self.stack_id)
    if stack is None:
        return
    resource = self._parsed_resources.get(name)
    event = cfn_models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=name,
        physical_resource_id=str(physical_id_or_none(resource) or ""),
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=status_reason,
        resource_properties=None,
    )
    stack.events.append(event)


def stack_resources(self: Any) -> list[Any]:
    """Created resources only: moto listed a resource whose ``Condition`` is false as an empty
    entry, and its lazy map created any resource not created yet while listing (so describing a
    stack whose creation failed retried the failed resource).
    """
    resource_map = self.resource_map
    parsed = resource_map._parsed_resources
    return [parsed[n] for n in resource_map._resource_json_map if parsed.get(n) is not None]


def apply() -> None:
    """Resource events on the resource map; ``Stack.stack_resources`` lists created ones only."""
    parsing.ResourceMap._add_event = add_event  # type: ignore[attr-defined]
    cfn_models.Stack.stack_resources = property(stack_resources)  # type: ignore[assignment]
