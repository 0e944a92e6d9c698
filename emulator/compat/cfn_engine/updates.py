"""Stack updates: the diff without false changes, resources created, updated (or kept, with a
note, when moto cannot update their type) and removed in dependency order, and a new physical ID
updating every resource that refers to it.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing

from emulator import MOTO_VERSION
from emulator.compat import cfn_stabilize, notes
from emulator.compat.cfn_engine.deletion import remove
from emulator.compat.cfn_engine.graph import dependants, dependency_order, references
from emulator.compat.cfn_engine.stacks import logger, physical_id_or_none, reason


def _has_updater(resource_class: Any) -> bool:
    return not hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__")


def changed_properties(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Top-level properties whose template text differs (none: only a reference's target
    changed)."""
    before = (old or {}).get("Properties") or {}
    after = new.get("Properties") or {}
    return sorted(k for k in {*before, *after} if before.get(k) != after.get(k))


def _describe_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    changed = changed_properties(old, new)
    if changed:
        return f"properties changed: {', '.join(changed)}"
    return "a resource it refers to has a new physical ID"


def update_one(self: Any, name: str, previous: dict[str, Any] | None = None) -> None:
    """Update (or, if never created, create) one resource; keep it when moto has no updater,
    and record that as a note: the stack will say UPDATE_COMPLETE although nothing changed.
    """
    body = self._resource_json_map[name]
    old = self._parsed_resources.get(name)
    if old is None:
        create_one(self, name)
        return
    resource_class = parsing.resource_class_from_type(body["Type"])
    if resource_class is None or not _has_updater(resource_class):
        change = _describe_change(previous, body)
        logger.warning("%s (%s): no update support in moto, kept as it was", name, body["Type"])
        notes.record(
            notes.NOT_APPLIED,
            body["Type"],
            f"{name} ({body['Type']})",
            f"{change}; moto cannot update this type, so the old resource was kept",
        )
        self._add_event(
            name,
            body["Type"],
            "UPDATE_COMPLETE",
            f"emulator: update not applied ({change}); the old resource was kept",
        )
        return
    resolved = parsing.clean_json({**body, "Properties": body.get("Properties") or {}}, self)
    try:
        updated = resource_class.update_from_cloudformation_json(
            original_resource=old,
            new_resource_name=_kept_name(old, resolved, resource_class),
            cloudformation_json=resolved,
            account_id=self._account_id,
            region_name=self._region_name,
        )
    except Exception as error:
        self._add_event(name, body["Type"], "UPDATE_FAILED", reason(error))
        raise
    if updated is not None:
        updated.cf_resource_type = body["Type"]
        updated.logical_resource_id = name
        self._parsed_resources[name] = updated
    stabilizing = cfn_stabilize.waits(self._parsed_resources.get(name), body["Type"])
    self._add_event(name, body["Type"], "UPDATE_IN_PROGRESS" if stabilizing else "UPDATE_COMPLETE")


def create_one(self: Any, name: str) -> None:
    """Create one resource; a failure is a ``CREATE_FAILED`` event with the reason, then raised."""
    resource_type = self._resource_json_map[name]["Type"]
    try:
        created = self[name]
    except Exception as error:
        self._add_event(name, resource_type, "CREATE_FAILED", reason(error))
        raise
    if created is None:
        # moto's engine answers an unknown type with None and goes on: say so, never
        # "CREATE_COMPLETE" for a resource that does not exist.
        detail = f"type {resource_type} is unknown to moto {MOTO_VERSION} and the shims"
        subject = f"{name} ({resource_type})"
        notes.record(notes.SKIPPED, resource_type, subject, f"not created: {detail}")
        self._add_event(name, resource_type, "CREATE_SKIPPED", f"emulator: skipped ({detail})")
        return
    stabilizing = cfn_stabilize.waits(created, resource_type)
    self._add_event(name, resource_type, "CREATE_IN_PROGRESS" if stabilizing else "CREATE_COMPLETE")


def _kept_name(old: Any, resolved: dict[str, Any], resource_class: Any) -> str:
    """The name to update under: the template's, else the one generated at creation.

    moto generated a fresh random name for every update, so an update of a
    resource with a generated name (an SNS topic, say) replaced it and
    changed its physical ID.
    """
    name_property = resource_class.cloudformation_name_type()
    given = resolved["Properties"].get(name_property) if name_property else None
    if given:
        return str(given)
    return str(getattr(old, "name", None) or physical_id_or_none(old))


def normalized(body: dict[str, Any]) -> dict[str, Any]:
    """A resource body as compared for changes (an absent ``Properties`` is ``{}``)."""
    return {**body, "Properties": body.get("Properties") or {}}


def resource_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    """Added, modified and removed logical IDs between two ``Resources`` sections."""
    return {
        "Add": [n for n in new if n not in old],
        "Modify": [n for n in new if n in old and normalized(new[n]) != normalized(old[n])],
        "Remove": [n for n in old if n not in new],
    }


def build_resource_diff(
    self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> Any:
    """moto's diff, minus false changes: a resource without ``Properties``, a parameter left at its
    default.
    """
    actions = resource_diff(self._resource_json_map, other_template["Resources"])
    declared = (self._template or {}).get("Parameters", {})
    previous = {k: self.input_parameters.get(k, v.get("Default")) for k, v in declared.items()}
    changed = [p for p, value in (parameters or {}).items() if previous.get(p) != value]
    for name, body in other_template["Resources"].items():
        if (
            name not in actions["Add"]
            and name not in actions["Modify"]
            and references(body) & set(changed)
        ):
            actions["Modify"].append(name)
    return actions


def _run_updates(
    self: Any, to_modify: set[str], previous: dict[str, Any] | None = None
) -> None:
    """Update in dependency order; a new physical ID also updates every resource that refers to it.

    moto compared raw template JSON only, so a service whose ``TaskDefinition``
    Ref now resolves to revision N+1 was never updated.
    """
    pending = set(to_modify)
    for name in dependency_order(self._resource_json_map):
        if name not in pending:
            continue
        before = physical_id_or_none(self._parsed_resources.get(name))
        update_one(self, name, (previous or {}).get(name))
        if before is not None and physical_id_or_none(self._parsed_resources.get(name)) != before:
            pending |= dependants(self._resource_json_map, name)


def update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    """``ResourceMap.update`` replacement: remove, add, then update with reference propagation."""
    actions = self.build_resource_diff(template, parameters)
    remove(self, actions["Remove"])  # a resource that cannot be deleted fails the update
    previous = self._resource_json_map
    self._template = template
    if parameters:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]
    added = set(actions["Add"])
    for name in dependency_order(self._resource_json_map):
        if name in added and _condition_holds(self, name):
            create_one(self, name)
    _run_updates(self, set(actions["Modify"]), previous)


def _condition_holds(self: Any, name: str) -> bool:
    condition = self._resource_json_map[name].get("Condition")
    return not condition or bool(self.lazy_condition_map[condition])


def apply() -> None:
    """moto's resource map updates and diffs through this module."""
    parsing.ResourceMap.update = update  # type: ignore[method-assign]
    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]
