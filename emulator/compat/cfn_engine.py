"""Fixes to moto 5.2.5's CloudFormation engine (not tied to one resource type).

Each ``_fix_*`` function patches one behaviour; :func:`apply` installs them all.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation import utils as cfn_utils
from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.s3.models import s3_backends

from emulator import MOTO_VERSION
from emulator.compat import cfn_stabilize, notes

logger = logging.getLogger("emulator.compat")

# Run after every change set execution and stack deletion, with (account_id, region):
# the place for emulated agents that react to what a deployment created.
AFTER_CHANGE: list[Callable[[str, str], None]] = []


def _after_change(account_id: str, region: str) -> None:
    for hook in AFTER_CHANGE:
        try:
            hook(account_id, region)
        except Exception:
            logger.exception("after-change hook %s failed", getattr(hook, "__name__", hook))


# ---------------------------------------------------------------- template URL


def _is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_original_stack_from_s3_url = cfn_utils.get_stack_from_s3_url


def stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    """Read a template from moto's S3; a loopback URL is path-style (``http://127.0.0.1:P/bucket/key``).

    moto only treats ``localhost`` as path-style, so the CDK CLI's
    ``http://127.0.0.1:PORT/bucket/key`` was read as bucket ``127``.
    """
    url = urlparse(template_url)
    if not _is_loopback(url.hostname or ""):
        return _original_stack_from_s3_url(template_url, account_id, partition)
    bucket, key = url.path.lstrip("/").split("/", 1)
    obj = s3_backends[account_id][partition].get_object(bucket, key)
    return obj.value.decode("utf-8")  # type: ignore[union-attr]


def _fix_template_url() -> None:
    cfn_utils.get_stack_from_s3_url = stack_from_s3_url
    cfn_models.get_stack_from_s3_url = stack_from_s3_url
    cfn_responses.get_stack_from_s3_url = stack_from_s3_url


# ---------------------------------------------------------------- change sets


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
    _after_change(self.account_id, self.region_name)
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
        cfn_stabilize.finish_in_background(stack, kind, waiting, checkpoint, complete)
    else:
        complete()


_original_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``CreateChangeSet``, refusing an update of a stack whose deletion failed, as
    CloudFormation does (moto updated it): such a stack can only be deleted again.
    """
    if kwargs.get("change_set_type") == "UPDATE":
        stack = _find_stack(self, kwargs["stack_name"])
        if stack is not None and stack.status == "DELETE_FAILED":
            raise ValidationError(
                message=f"Stack:{stack.stack_id} is in DELETE_FAILED state and can not be updated."
            )
    return _original_create_change_set(self, *args, **kwargs)


def _stack_resources(self: Any) -> list[Any]:
    """Created resources only: moto listed a resource whose ``Condition`` is false as an empty
    entry, and its lazy map created any resource not created yet while listing (so describing a
    stack whose creation failed retried the failed resource).
    """
    resource_map = self.resource_map
    parsed = resource_map._parsed_resources
    return [parsed[n] for n in resource_map._resource_json_map if parsed.get(n) is not None]


def _fix_change_sets() -> None:
    cfn_models.Stack.stack_resources = property(_stack_resources)  # type: ignore[assignment]
    backend = cfn_models.CloudFormationBackend
    backend.describe_change_set = describe_change_set  # type: ignore[method-assign]
    backend.delete_change_set = delete_change_set  # type: ignore[method-assign]
    backend.execute_change_set = execute_change_set  # type: ignore[method-assign]
    backend.create_change_set = create_change_set  # type: ignore[method-assign]
    cfn_models.Stack.stack_parameters = property(_stack_parameters)  # type: ignore[assignment]
    responses = cfn_responses.CloudFormationResponse
    responses.describe_change_set = _response_describe_change_set  # type: ignore[method-assign]
    responses.delete_change_set = _response_delete_change_set  # type: ignore[method-assign]


# ---------------------------------------------------------------- dynamic references

_DYNAMIC_REF = re.compile(r"\{\{resolve:(secretsmanager|ssm|ssm-secure):([^}]*)\}\}")


def _resolve_secret(account_id: str, region: str, spec: str) -> str:
    """``secret-id:SecretString:json-key:version-stage:version-id`` (an ARN holds colons itself)."""
    from moto.secretsmanager.models import secretsmanager_backends

    match = re.match(r"^(arn:[^:]*:secretsmanager:[^:]*:[^:]*:secret:[^:]*|[^:]*)(?::(.*))?$", spec)
    secret_id, rest = (match.group(1), match.group(2) or "") if match else (spec, "")
    fields = [*rest.split(":"), "", "", "", ""][:4]
    _, json_key, stage, version = fields
    value = secretsmanager_backends[account_id][region].get_secret_value(
        secret_id, version or None, stage or None
    )["SecretString"]
    return str(json.loads(value)[json_key]) if json_key else str(value)


def _resolve_ssm(account_id: str, region: str, spec: str) -> str:
    from moto.ssm.models import ssm_backends

    name, _, version = spec.partition(":")
    parameter = ssm_backends[account_id][region].get_parameter(
        f"{name}:{version}" if version else name
    )
    return str(parameter.value)  # type: ignore[union-attr]


def resolve_dynamic_references(value: str, account_id: str, region: str) -> str:
    """Replace ``{{resolve:secretsmanager:...}}`` and ``{{resolve:ssm:...}}`` as CloudFormation
    does.
    """

    def _one(match: re.Match[str]) -> str:
        service, spec = match.group(1), match.group(2)
        if service == "secretsmanager":
            return _resolve_secret(account_id, region, spec)
        return _resolve_ssm(account_id, region, spec)

    return _DYNAMIC_REF.sub(_one, value)


_original_clean_json = parsing.clean_json


_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


def get_stack_output(spec: Any, resources_map: Any) -> Any:
    """``Fn::GetStackOutput`` (CDK's weak cross-stack references, ``defaultCrossStackReferences:
    weak``): the current value of another stack's output, read at create/update time, as
    CloudFormation reads it. ``Region`` defaults to the stack's own; ``RoleArn`` names the
    account (IAM is not enforced here, as nowhere in moto). moto 5.2.5 does not know the function:
    the unresolved object reached the resource (a service's cluster was a dict).
    """
    if not isinstance(spec, dict) or not {"StackName", "OutputName"} <= set(spec):
        raise ValidationError(
            message=f"Template error: Fn::GetStackOutput needs StackName and OutputName: {spec}"
        )
    resolved = {key: parsing.clean_json(value, resources_map) for key, value in spec.items()}
    region = resolved.get("Region") or resources_map._region_name
    role = _ROLE_ACCOUNT.match(str(resolved.get("RoleArn") or ""))
    account = role.group(1) if role else resources_map._account_id
    backend = cfn_models.cloudformation_backends[account][region]
    stack_name, output_name = str(resolved["StackName"]), str(resolved["OutputName"])
    stack = _find_stack(backend, stack_name)
    if stack is None:
        raise ValidationError(
            message=f"Fn::GetStackOutput: stack {stack_name} does not exist in {account}/{region}"
        )
    outputs = stack.output_map
    output = outputs[output_name] if output_name in outputs.outputs else None
    if output is None:
        raise ValidationError(
            message=f"Fn::GetStackOutput: stack {stack_name} has no output {output_name}"
        )
    return output.value


def clean_json(resource_json: Any, resources_map: Any) -> Any:
    """moto's intrinsic-function resolution, plus ``Fn::GetStackOutput`` and dynamic references in
    the resulting strings."""
    if isinstance(resource_json, dict) and "Fn::GetStackOutput" in resource_json:
        return get_stack_output(resource_json["Fn::GetStackOutput"], resources_map)
    result = _original_clean_json(resource_json, resources_map)
    if isinstance(result, str) and "{{resolve:" in result:
        return resolve_dynamic_references(
            result, resources_map._account_id, resources_map._region_name
        )
    return result


def _fix_dynamic_references() -> None:
    parsing.clean_json = clean_json


# ---------------------------------------------------------------- updates


def references(node: Any) -> set[str]:
    """Logical IDs a template fragment points at (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".")[0] if isinstance(value, str) else value[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text))}
                found |= references(value[1] if isinstance(value, list) else {})
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    """For each resource, the other resources it needs (references and DependsOn)."""
    graph: dict[str, set[str]] = {}
    for name, body in resources.items():
        depends = body.get("DependsOn", [])
        needed = references(body.get("Properties", {})) | set(
            [depends] if isinstance(depends, str) else depends
        )
        graph[name] = {d for d in needed if d in resources and d != name}
    return graph


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resource names, each after everything it depends on (ties keep template order)."""
    graph = dependencies(resources)
    ordered: list[str] = []
    placed: set[str] = set()

    def visit(name: str, trail: frozenset[str]) -> None:
        if name in placed or name in trail:
            return
        for needed in sorted(graph[name]):
            visit(needed, trail | {name})
        placed.add(name)
        ordered.append(name)

    for name in resources:
        visit(name, frozenset())
    return ordered


def _dependants(resources: dict[str, Any], changed: str) -> set[str]:
    return {name for name, needs in dependencies(resources).items() if changed in needs}


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


def _update_one(self: Any, name: str, previous: dict[str, Any] | None = None) -> None:
    """Update (or, if never created, create) one resource; keep it when moto has no updater,
    and record that as a note: the stack will say UPDATE_COMPLETE although nothing changed.
    """
    body = self._resource_json_map[name]
    old = self._parsed_resources.get(name)
    if old is None:
        _create_one(self, name)
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


def _create_one(self: Any, name: str) -> None:
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


def reason(error: BaseException) -> str:
    """An error as CloudFormation shows it in an event: the service's message, not its repr."""
    message = getattr(error, "message", None)
    return str(message) if message else f"{type(error).__name__}: {error}"


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
    return str(getattr(old, "name", None) or _physical(old))


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


def _physical(resource: Any) -> Any:
    return getattr(resource, "physical_resource_id", None)


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
        before = _physical(self._parsed_resources.get(name))
        _update_one(self, name, (previous or {}).get(name))
        if before is not None and _physical(self._parsed_resources.get(name)) != before:
            pending |= _dependants(self._resource_json_map, name)


class DeleteFailed(RuntimeError):
    """Some resources could not be deleted; the message is CloudFormation's stack status reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(
            f"The following resource(s) failed to delete: [{', '.join(sorted(failures))}]. "
        )
        self.failures = failures


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
            if resource is not None and _retained(body):
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


def _remove(self: Any, names: Iterable[str]) -> None:
    """Delete the resources an update removes; a failure fails the update."""
    failed = delete_resources(self, names)
    if failed:
        raise DeleteFailed(failed)


def update(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    """``ResourceMap.update`` replacement: remove, add, then update with reference propagation."""
    actions = self.build_resource_diff(template, parameters)
    _remove(self, actions["Remove"])
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
            _create_one(self, name)
    _run_updates(self, set(actions["Modify"]), previous)


def _condition_holds(self: Any, name: str) -> bool:
    condition = self._resource_json_map[name].get("Condition")
    return not condition or bool(self.lazy_condition_map[condition])


def _retained(body: dict[str, Any]) -> bool:
    return body.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")


def _add_event(
    self: Any, name: str, resource_type: str, status: str, status_reason: str | None = None
) -> None:
    """Record a resource event on the owning stack, so ``cdk deploy`` can show progress."""
    backend = cfn_models.cloudformation_backends[self._account_id][self._region_name]
    stack = backend.stacks.get(self.stack_id)
    if stack is None:
        return
    resource = self._parsed_resources.get(name)
    event = cfn_models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=name,
        physical_resource_id=str(_physical(resource) or ""),
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=status_reason,
        resource_properties=None,
    )
    stack.events.append(event)


def _fix_updates() -> None:
    parsing.ResourceMap.update = update  # type: ignore[method-assign]
    parsing.ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]
    parsing.ResourceMap._add_event = _add_event  # type: ignore[attr-defined]


# ---------------------------------------------------------------- deletion policies

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
    failed = delete_resources(self, list(self._resource_json_map))
    if failed:
        raise DeleteFailed(failed)


def _find_stack(backend: Any, name_or_stack_id: str) -> Any:
    if name_or_stack_id in backend.stacks:
        return backend.stacks[name_or_stack_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_stack_id), None)


def delete_stack(self: Any, name_or_stack_id: str) -> None:
    """``DeleteStack``: a failed resource leaves the stack ``DELETE_FAILED`` with what remains
    (moto dropped the stack and answered HTTP 500); then the emulated agents see what is gone.
    """
    stack = _find_stack(self, name_or_stack_id)
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
        _after_change(self.account_id, self.region_name)


def _fix_deletion() -> None:
    parsing.ResourceMap._delete_resource = _delete_resource  # type: ignore[method-assign]
    parsing.ResourceMap.delete = delete  # type: ignore[method-assign]
    cfn_models.CloudFormationBackend.delete_stack = delete_stack  # type: ignore[method-assign]


def apply() -> None:
    """Install every engine fix."""
    _fix_template_url()
    _fix_change_sets()
    _fix_dynamic_references()
    _fix_updates()
    _fix_deletion()
