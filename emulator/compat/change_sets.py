"""Change sets as a deploy that prepares, checks, then executes them needs (moto 5.2.5 lacks both).

``DeleteChangeSet`` of a change set that does not exist, on a stack that does, succeeds as on
CloudFormation (``cfn_engine.execution`` answered ``ChangeSetNotFound``): the CDK CLI deletes the
change set name it is about to create first, so ``cdk deploy --change-set-name NEW`` failed on an
existing stack.

``DescribeChangeSet`` says whether each modified resource is replaced.

CloudFormation's ``ResourceChange.Replacement`` is ``True`` when a create-only property changes
(or the type), ``Conditional`` when a conditionally create-only one does, else ``False``; and its
``Scope`` says what changed (``Properties``). moto gave only the action, so a deploy
that checks the change set before executing it (``make deploy PLAN=...``) saw no replacement.

The rules come from the resource provider schemas the pinned cfn-lint bundles (the ones
CloudFormation publishes); a type without a schema is ``False``, as for a custom resource. Only
the template's literal values are compared: CloudFormation also says ``Conditional`` for values
that depend on another resource's new attributes, which this does not.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from moto.cloudformation import models as cfn_models

from emulator.compat.cfn_engine import execution

_MISSING = object()


@functools.cache
def _schema(resource_type: str, region: str) -> tuple[tuple[tuple[str, ...], ...],
                                                      tuple[tuple[str, ...], ...]]:
    """(create-only, conditionally create-only) property pointers of a type."""
    root = resources.files("cfnlint") / "data" / "schemas"
    index = root / "providers" / f"{region}.json"
    if not index.is_file():
        index = root / "providers" / "us-east-1.json"
    digest = json.loads(index.read_text()).get(resource_type)
    if digest is None:
        return (), ()
    schema = json.loads((root / "resources" / f"{digest}.json").read_text())

    def pointers(key: str) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(p.split("/")[2:]) for p in schema.get(key, [])
                     if p.startswith("/properties/"))

    return pointers("createOnlyProperties"), pointers("conditionalCreateOnlyProperties")


def _at(value: Any, pointer: tuple[str, ...]) -> Any:
    for part in pointer:
        if part == "*":
            return value  # a list item pointer: the whole list decides
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def replacement(region: str, before: Mapping[str, Any], after: Mapping[str, Any]
                ) -> tuple[str, list[str]]:
    """('True' | 'Conditional' | 'False', the changed properties) of one modified resource."""
    old, new = before.get("Properties", {}) or {}, after.get("Properties", {}) or {}
    changed = sorted(k for k in set(old) | set(new) if old.get(k, _MISSING) != new.get(k, _MISSING))
    if before.get("Type") != after.get("Type"):
        return "True", changed
    create_only, conditional = _schema(str(after.get("Type")), region)
    if any(_at(old, p) != _at(new, p) for p in create_only):
        return "True", changed
    if any(_at(old, p) != _at(new, p) for p in conditional):
        return "Conditional", changed
    return "False", changed


_original_diff = cfn_models.ChangeSet.diff


def diff(self: Any) -> list[Any]:
    """moto's changes, each modified resource with ``Replacement`` and ``Scope``."""
    changes = _original_diff(self)
    current = self.stack.template_dict.get("Resources", {}) if self.stack.template_dict else {}
    wanted = self.template_dict.get("Resources", {})
    for change in changes:
        change.scope = []
        if change.action != "Modify":
            continue
        name = change.logical_resource_id
        change.replacement, changed = replacement(self.stack.region_name, current.get(name, {}),
                                                  wanted.get(name, {}))
        change.scope = ["Properties"] if changed else []
    return changes


_engine_delete = execution.delete_change_set


def delete_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """``DeleteChangeSet``: a change set that is not there is already deleted (the stack must
    exist: ``find_change_set`` looks it up among live stacks)."""
    try:
        _engine_delete(self, change_set_name, stack_name)
    except execution.ChangeSetNotFound:
        if stack_name is None or not any(stack_name in (s.name, s.stack_id)
                                         for s in self.stacks.values()):
            raise


def apply() -> None:
    """Install the shims (after cfn_engine's)."""
    cfn_models.ChangeSet.diff = diff  # type: ignore[method-assign]
    cfn_models.CloudFormationBackend.delete_change_set = (  # type: ignore[method-assign]
        delete_change_set)
