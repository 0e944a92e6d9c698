"""Change sets found within their own stack, and executed as CloudFormation does: exports
published, resource events, a failure marking the stack failed, an update of a ``DELETE_FAILED``
stack refused, SSM-typed parameters kept as given.

(What ``DescribeChangeSet`` says about replacements is :mod:`emulator.compat.change_sets`.)
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import CloudFormationError, ValidationError

from emulator.compat import cfn_stabilize
from emulator.compat.cfn_engine.rollback import finish_in_background
from emulator.compat.cfn_engine.stacks import after_change, find_stack, logger, reason


class ChangeSetNotFound(CloudFormationError):
    """What CloudFormation answers for an unknown change set (moto said "Stack with id X does not
    exist").
    """

    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def _matches_stack(change_set: Any, stack_name: str | None) -> bool:
    return not stack_name or stack_name in (change_set.stack_name, change_set.stack_id)


def find_change_set(backend: Any, name: str, stack_name: str | None = None) -> Any:
    """A change set by ARN, or by name within the given (live) stack.

    moto matched the name across all stacks, and the CDK CLI names every
    stack's change set ``cdk-deploy-change-set``: the second stack of a
    ``deploy --all`` executed the first stack's change set again, and a stack
    created again after a destroy found the deleted stack's change set.
    """
    if name in backend.change_sets:
        return backend.change_sets[name]
    found = [
        change_set
        for change_set in backend.change_sets.values()
        if change_set.change_set_name == name
        and _matches_stack(change_set, stack_name)
        and change_set.stack_id in backend.stacks
    ]
    if not found:
        raise ChangeSetNotFound(name)
    return found[-1]


def describe_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> Any:
    """``DescribeChangeSet`` scoped to the stack, with CloudFormation's ``ChangeSetNotFound``
    error.
    """
    return find_change_set(self, change_set_name, stack_name)


def delete_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """``DeleteChangeSet`` scoped to the stack, with ``ChangeSetNotFound`` (moto: NameError)."""
    change_set = find_change_set(self, change_set_name, stack_name)
    del self.change_sets[change_set.change_set_id]


def _response_describe_change_set(self: Any) -> Any:
    change_set = self.cloudformation_backend.describe_change_set(
        self._get_param("ChangeSetName"), self._get_param("StackName")
    )
    return cfn_responses.ActionResult(change_set)


def _response_delete_change_set(self: Any) -> Any:
    self.cloudformation_backend.delete_change_set(
        self._get_param("ChangeSetName"), self._get_param("StackName")
    )
    return cfn_responses.EmptyResult()


def _stack_parameters(self: Any) -> dict[str, Any]:
    """Parameter values as given, not as resolved: an SSM-typed parameter keeps its parameter
    *name*.

    moto returned the resolved value, so ``UsePreviousValue`` on an
    ``AWS::SSM::Parameter::Value<...>`` parameter re-resolved e.g. an AMI ID as
    a parameter name and failed.
    """
    resource_map = self.resource_map
    declared = (resource_map._template or {}).get("Parameters", {})
    values = dict(resource_map.resolved_parameters)
    for key, slot in declared.items():
        if str(slot.get("Type", "")).startswith("AWS::SSM::Parameter::"):
            values[key] = resource_map.input_parameters.get(key, slot.get("Default"))
    return values


def _link_exports(backend: Any, stack: Any) -> None:
    """Let a stack created through a change set see, and publish, cross-stack exports."""
    stack.cross_stack_resources = backend.exports
    stack.resource_map.cross_stack_resources = backend.exports


def _publish_exports(backend: Any, stack: Any) -> None:
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        backend.exports.pop(name)
    stack.output_map = stack._create_output_map()
    backend._validate_export_uniqueness(stack)
    for export in stack.exports:
        backend.exports[export.name] = export


def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    """``ExecuteChangeSet``: imports/exports wired, resource events, a failure marks the stack
    failed.

    moto never published the exports of a stack created by a change set (so the
    next stack's ``Fn::ImportValue`` failed) and let an exception escape as an
    HTTP 500 with the stack left ``*_IN_PROGRESS``.
    """
    change_set = find_change_set(self, change_set_name, stack_name)
    stack = self.stacks[change_set.stack_id]
    kind = change_set.change_set_type
    _link_exports(self, stack)
    checkpoint = cfn_stabilize.Checkpoint.take(stack) if kind == "UPDATE" else None
    stack.status = f"{kind}_IN_PROGRESS"
    stack._add_stack_event(stack.status, resource_status_reason="User Initiated")
    stack.template = change_set.template
    stack._parse_template()
    try:
        change_set.apply()
        _publish_exports(self, stack)
    except Exception as error:
        logger.exception("change set %s failed", change_set_name)
        stack.status = f"{kind}_FAILED"
        stack.stack_status_reason = reason(error)
        stack._add_stack_event(stack.status, resource_status_reason=reason(error))
        change_set.execution_status = "EXECUTE_FAILED"
        return
    after_change(self.account_id, self.region_name)
    if change_set.parameters:
        stack.parameters = change_set.parameters
    stack.description = stack.template_dict.get("Description")
    change_set.execution_status = "EXECUTE_COMPLETE"

    def complete() -> None:
        stack.status = f"{kind}_COMPLETE"
        stack._add_stack_event(stack.status)

    # ECS services roll out in the background: the stack completes (or rolls back) after them
    waiting = cfn_stabilize.probes(stack.resource_map)
    if waiting:
        finish_in_background(stack, kind, waiting, checkpoint, complete)
    else:
        complete()


_original_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``CreateChangeSet``, refusing an update of a stack whose deletion failed, as
    CloudFormation does (moto updated it): such a stack can only be deleted again.
    """
    if kwargs.get("change_set_type") == "UPDATE":
        stack = find_stack(self, kwargs["stack_name"])
        if stack is not None and stack.status == "DELETE_FAILED":
            raise ValidationError(
                message=f"Stack:{stack.stack_id} is in DELETE_FAILED state and can not be updated."
            )
    return _original_create_change_set(self, *args, **kwargs)


def apply() -> None:
    """Change sets looked up, described, deleted, created and executed as above."""
    backend = cfn_models.CloudFormationBackend
    backend.describe_change_set = describe_change_set  # type: ignore[method-assign]
    backend.delete_change_set = delete_change_set  # type: ignore[method-assign]
    backend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    backend.create_change_set = create_change_set  # type: ignore[method-assign]
    cfn_models.Stack.stack_parameters = property(_stack_parameters)  # type: ignore[assignment]
    responses = cfn_responses.CloudFormationResponse
    responses.describe_change_set = _response_describe_change_set  # type: ignore[method-assign]
    responses.delete_change_set = _response_delete_change_set  # type: ignore[method-assign]
