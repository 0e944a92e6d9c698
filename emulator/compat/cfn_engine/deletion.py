"""Deleting resources and stacks as CloudFormation does: dependants first, deletion policies
(``Retain``, ``RetainExceptOnCreate``, ``Snapshot``) honoured, a resource that cannot be deleted
failing the stack instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing

from emulator.compat.cfn_engine.graph import dependencies, dependency_order
from emulator.compat.cfn_engine.stacks import after_change, find_stack, reason


class DeleteFailed(RuntimeError):
    """Some resources could not be deleted; the message is CloudFormation's stack status reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(
            f"The following resource(s) failed to delete: [{', '.join(sorted(failures))}]. "
        )
        self.failures = failures


def retained(body: dict[str, Any]) -> bool:
    """True if the resource's ``DeletionPolicy`` keeps it when it leaves the stack."""
    return body.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")


def delete_resources(self: Any, names: Iterable[str]) -> dict[str, str]:
    """Delete ``names`` as CloudFormation does: dependants first; a resource whose deletion
    fails stays, and so does everything it needs (never attempted). A retained resource is
    skipped (``DELETE_SKIPPED``) and leaves the stack. Failures are retried while others make
    progress (moto has dependencies the template does not state). Returns name -> reason of
    what failed.
    """
    wanted = set(names)
    order = [n for n in reversed(dependency_order(self._resource_json_map)) if n in wanted]
    needs = dependencies(self._resource_json_map)
    gone: set[str] = set()
    failed: dict[str, str] = {}
    for _ in range(parsing.MAX_UPDATE_ATTEMPTS):
        progress = False
        for name in order:
            if name in gone or any(name in needs[o] and o not in gone for o in order):
                continue
            body = self._resource_json_map[name]
            resource = self._parsed_resources.get(name)
            if resource is not None and retained(body):
                self._add_event(name, body["Type"], "DELETE_SKIPPED")
            elif resource is not None:
                try:
                    self._delete_resource(resource, body)
                except Exception as error:
                    failed[name] = reason(error)
                    continue
                self._add_event(name, body["Type"], "DELETE_COMPLETE")
            self._parsed_resources.pop(name, None)
            failed.pop(name, None)
            gone.add(name)
            progress = True
        if not progress or len(gone) == len(order):
            break
    for name, why in failed.items():
        self._add_event(name, self._resource_json_map[name]["Type"], "DELETE_FAILED", why)
    return failed


_original_delete_resource = parsing.ResourceMap._delete_resource


def _delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
    """Honour ``DeletionPolicy: Snapshot`` on RDS instances (moto only knew Retain)."""
    if (
        resource_json.get("DeletionPolicy") == "Snapshot"
        and resource_json.get("Type") == "AWS::RDS::DBInstance"
    ):
        from moto.rds.models import rds_backends

        identifier = parsed_resource.db_instance_identifier
        rds_backends[self._account_id][self._region_name].delete_db_instance(
            identifier, final_db_snapshot_identifier=f"{identifier}-final-snapshot"
        )
        return
    _original_delete_resource(self, parsed_resource, resource_json)


def delete(self: Any) -> None:
    """``ResourceMap.delete``: dependency order, retained resources kept (``RetainExceptOnCreate``
    too), and a resource that cannot be deleted (a protected database) fails the stack delete
    with its service's message instead of vanishing or escaping as HTTP 500.
    """
    remove(self, list(self._resource_json_map))


def remove(self: Any, names: Iterable[str]) -> None:
    """Delete ``names`` (:func:`delete_resources`); :class:`DeleteFailed` if any stays."""
    failed = delete_resources(self, names)
    if failed:
        raise DeleteFailed(failed)


def delete_stack(self: Any, name_or_stack_id: str) -> None:
    """``DeleteStack``: a failed resource leaves the stack ``DELETE_FAILED`` with what remains
    (moto dropped the stack and answered HTTP 500); then the emulated agents see what is gone.
    """
    stack = find_stack(self, name_or_stack_id)
    if stack is None:
        return
    export_names = [export.name for export in stack.exports]
    try:
        stack.delete()
    except DeleteFailed as failure:
        stack.status = "DELETE_FAILED"
        stack.stack_status_reason = str(failure)
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=str(failure))
    else:
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for key in [k for k, c in self.change_sets.items() if c.stack_id == stack.stack_id]:
            del self.change_sets[key]
        for name in export_names:
            self.exports.pop(name, None)
    finally:
        after_change(self.account_id, self.region_name)


def apply() -> None:
    """Resource deletion with its policies, stack deletion that can fail."""
    parsing.ResourceMap._delete_resource = _delete_resource  # type: ignore[method-assign]
    parsing.ResourceMap.delete = delete  # type: ignore[method-assign]
    cfn_models.CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]
