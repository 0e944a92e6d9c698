"""ECS resources through CloudFormation with every field kept, plus a stand-in for the ECS agent.

moto 5.2.5 created clusters with a name only, task definitions with family,
containers, volumes and memory only (and on update passed PascalCase keys
through unconverted), services without ``LoadBalancers``,
``DeploymentConfiguration``, placement and grace period, and never deleted
any of them. There are no instances running an ECS agent either, so an
instance launched with ``ECS_CLUSTER=...`` user data never joined its cluster.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs import models as ecs_models
from moto.ecs.models import ecs_backends
from moto.moto_api._internal import mock_random

from emulator.compat import cfn_stabilize, notes
from emulator.compat.ecs_state import new_deployment, recount
from emulator.compat.model_base import patch_model
from emulator.compat.util import camel, camel_keys, physical_id, props
from emulator.runtime import scheduler

# Keys whose dict values are user data (option names, labels): not case-converted.
_VERBATIM = {"Options", "DockerLabels", "SystemControls"}


def container_definitions(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudFormation ``ContainerDefinitions`` to API camelCase (``Options`` keys kept)."""
    return [_convert(definition) for definition in definitions]


def _convert(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            camel(k): (dict(v) if k in _VERBATIM and isinstance(v, dict) else _convert(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value


def _tags(properties: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])]


# ---------------------------------------------------------------- task definitions


def _register_task_definition(
    properties: dict[str, Any], account_id: str, region_name: str, family: str | None = None
) -> Any:
    """Register the next revision of the family (``Family``, else ``family``, else a new one)."""
    backend = ecs_backends[account_id][region_name]
    family = (
        properties.get("Family") or family or f"task-definition-{mock_random.randint(0, 10**6)}"
    )
    return backend.register_task_definition(
        family=family,
        container_definitions=container_definitions(properties.get("ContainerDefinitions", [])),
        volumes=camel_keys(properties.get("Volumes", [])),
        network_mode=properties.get("NetworkMode"),
        tags=_tags(properties),
        placement_constraints=camel_keys(properties.get("PlacementConstraints", [])),
        requires_compatibilities=properties.get("RequiresCompatibilities"),
        cpu=properties.get("Cpu"),
        memory=properties.get("Memory"),
        task_role_arn=properties.get("TaskRoleArn"),
        execution_role_arn=properties.get("ExecutionRoleArn"),
        proxy_configuration=camel_keys(properties.get("ProxyConfiguration")),
        inference_accelerators=camel_keys(properties.get("InferenceAccelerators")),
        runtime_platform=camel_keys(properties.get("RuntimePlatform")),
        ipc_mode=properties.get("IpcMode"),
        pid_mode=properties.get("PidMode"),
        ephemeral_storage=camel_keys(properties.get("EphemeralStorage")),
    )


def task_definition_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Register revision 1 (or the next one of the family) with every property."""
    return _register_task_definition(props(cloudformation_json), account_id, region_name)


def task_definition_update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """A task definition is immutable: register revision N+1 of the same family (the generated
    one too, when the template names none), deregister N (CloudFormation's replacement; a
    rollback makes N ACTIVE again, :func:`task_definition_restore`).
    """
    new = _register_task_definition(
        props(cloudformation_json), account_id, region_name, original_resource.family
    )
    ecs_backends[account_id][region_name].deregister_task_definition(original_resource.arn)
    return new


def task_definition_restore(self: Any) -> None:
    """A stack rollback made this revision current again: ACTIVE, as CloudFormation had not
    deregistered it yet (it does at the update's cleanup)."""
    self.status = "ACTIVE"


def task_definition_delete(self: Any, account_id: str, region_name: str) -> None:
    """Deregister (the revision stays discoverable as INACTIVE, as in ECS)."""
    if self.status == "ACTIVE":
        ecs_backends[account_id][region_name].deregister_task_definition(self.arn)


# ---------------------------------------------------------------- clusters


def cluster_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the cluster with its settings, configuration, providers and tags."""
    properties = props(cloudformation_json)
    return ecs_backends[account_id][region_name].create_cluster(
        cluster_name=properties.get("ClusterName", resource_name),
        tags=_tags(properties) or None,
        cluster_settings=camel_keys(properties.get("ClusterSettings")),
        configuration=camel_keys(properties.get("Configuration")),
        capacity_providers=properties.get("CapacityProviders"),
        default_capacity_provider_strategy=camel_keys(
            properties.get("DefaultCapacityProviderStrategy")
        ),
        service_connect_defaults=camel_keys(properties.get("ServiceConnectDefaults")),
    )


def cluster_delete(self: Any, account_id: str, region_name: str) -> None:
    """Delete (ECS keeps the cluster visible as INACTIVE)."""
    backend = ecs_backends[account_id][region_name]
    backend.container_instances.pop(self.name, None)
    self.registered_container_instances_count = 0
    backend.delete_cluster(self.arn)


# ---------------------------------------------------------------- services

_SERVICE_EXTRAS = {
    "DeploymentConfiguration": "deployment_configuration",
    "PlacementConstraints": "placement_constraints",
    "PlacementStrategies": "placement_strategy",
    "HealthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
    "CapacityProviderStrategy": "capacity_provider_strategy",
    "EnableECSManagedTags": "enable_ecs_managed_tags",
    "EnableExecuteCommand": "enable_execute_command",
}


def _cluster_name(properties: dict[str, Any]) -> str:
    return physical_id(properties.get("Cluster", "default")).split("/")[-1]


def _set_extras(service: Any, properties: dict[str, Any]) -> None:
    for key, attribute in _SERVICE_EXTRAS.items():
        if key in properties:
            setattr(service, attribute, camel_keys(properties[key]))


def steady_state(service: Any, reason: str = "") -> None:
    """Emulate a finished rollout: one PRIMARY deployment, all desired tasks running (``reason``:
    why the count changed, for the note)."""
    service.running_count = service.desired_count
    service.pending_count = 0
    service.deployments = [new_deployment(service, service.desired_count, completed=True)]
    recount(service._backend, service.cluster_name)
    notes.record(
        notes.SIMULATED,
        "ECS steady state",
        f"ECS service {service.cluster_name}/{service.name}",
        (f"{reason}; " if reason else "")
        + f"{service.desired_count} of {service.desired_count} tasks shown RUNNING and the "
        "rollout COMPLETED; no container was started",
    )
    service.events.insert(
        0,
        {
            "id": str(mock_random.uuid4()),
            "createdAt": utcnow(),
            "message": f"(service {service.name}) has reached a steady state.",
        },
    )


def service_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """Create the service with load balancers, deployment configuration, placement and grace
    period.
    """
    properties = props(cloudformation_json)
    service = ecs_backends[account_id][region_name].create_service(
        _cluster_name(properties),
        properties.get("ServiceName", resource_name),
        int(properties.get("DesiredCount", 1)),
        task_definition_str=physical_id(properties["TaskDefinition"]),
        load_balancers=camel_keys(properties.get("LoadBalancers", [])),
        scheduling_strategy=properties.get("SchedulingStrategy"),
        tags=_tags(properties) or None,
        deployment_controller=camel_keys(properties.get("DeploymentController")),
        launch_type=properties.get("LaunchType"),
        service_registries=camel_keys(properties.get("ServiceRegistries")),
        platform_version=properties.get("PlatformVersion"),
        propagate_tags=properties.get("PropagateTags", "NONE"),
        network_configuration=camel_keys(properties.get("NetworkConfiguration")),
        role_arn=properties.get("Role"),
    )
    _set_extras(service, properties)
    _deployed(service)
    return service


def _deployed(service: Any) -> None:
    """A created or updated service: scheduled for real when its image runs from source here,
    else shown at steady state (simulated)."""
    if scheduler.runnable(service):
        scheduler.adopt(service)
        scheduler.deployment_started(service)
    else:
        scheduler.service_deleted(service)  # tasks of an earlier runnable image end
        steady_state(service)


CIRCUIT_BREAKER_MESSAGE = (
    "Resource handler returned message: \"Error occurred during operation 'ECS Deployment "
    "Circuit Breaker was triggered'.\" (HandlerErrorCode: GeneralServiceException)"
)


def service_stabilizer(service: Any) -> cfn_stabilize.Probe | None:
    """What CloudFormation waits for after creating or updating a service: nothing when its
    PRIMARY deployment is COMPLETED (a simulated one is at once); else a probe that is stable
    once the deployment of the template's task definition is COMPLETED, and fails with ECS's
    reason (and which task definition, why its tasks failed) once the circuit breaker failed
    it or the service was rolled back."""
    primary = next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)
    if primary is None or primary.get("rolloutState") == "COMPLETED":
        return None
    wanted, deployment_id = service.task_definition, str(primary["id"])

    def probe() -> str | None:
        with scheduler.LOCK:
            if service.status != "ACTIVE":
                return ""
            mine = [d for d in service.deployments if d["id"] == deployment_id]
            if mine and mine[0].get("rolloutState") == "COMPLETED":
                return ""
            if mine and mine[0].get("rolloutState") != "FAILED":
                return None
            return _breaker_reason(service, wanted, deployment_id)

    return probe


def _breaker_reason(service: Any, wanted: str, deployment_id: str) -> str:
    reasons = scheduler.failure_reasons(deployment_id)
    revision = wanted.split("/")[-1]
    rolled_back = (
        f"ECS rolled the service back to {service.task_definition.split('/')[-1]}"
        if service.task_definition != wanted
        else "no rollback (deploymentCircuitBreaker.rollback is off): its old tasks keep running"
    )
    why = f": {reasons[-1]}" if reasons else ""
    return (
        f"{CIRCUIT_BREAKER_MESSAGE} emulator: service {service.name} (cluster "
        f"{service.cluster_name}), task definition {revision}: {len(reasons)} tasks failed, "
        f"threshold {scheduler.failure_threshold(int(service.desired_count))}{why}; "
        f"{rolled_back}."
    )


def service_update(
    cls: Any,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    """Update in place (new task definition, count, configuration); a new cluster or name replaces
    it.
    """
    properties = props(cloudformation_json)
    name = properties.get("ServiceName", original_resource.name)
    if (
        _cluster_name(properties) != original_resource.cluster_name
        or name != original_resource.name
    ):
        service_delete(original_resource, account_id, region_name)
        return service_create(cls, new_resource_name, cloudformation_json, account_id, region_name)
    # As on AWS, the new task definition and its deployment appear together: moto's update sets
    # the task definition first, and a scheduler tick in between took the running tasks for a
    # deployment's old ones and stopped one before the deployment existed.
    with scheduler.LOCK:
        service = ecs_backends[account_id][region_name].update_service(
            {
                "cluster": original_resource.cluster_name,
                "service": original_resource.name,
                "task_definition": physical_id(properties["TaskDefinition"]),
                "desired_count": int(
                    properties.get("DesiredCount", original_resource.desired_count)),
            }
        )
        service.load_balancers = camel_keys(properties.get("LoadBalancers", []))
        _set_extras(service, properties)
        _deployed(service)
    return service


def service_delete(self: Any, account_id: str, region_name: str) -> None:
    """Delete (ECS shows the service INACTIVE afterwards)."""
    backend = ecs_backends[account_id][region_name]
    scheduler.service_deleted(self)
    if self.status == "ACTIVE":
        backend.delete_service(self.cluster_name, self.name, force=True)
        self.running_count = 0
        self.desired_count = 0
        recount(backend, self.cluster_name)


def describe_capacity_providers(self: Any, names: list[str] | None) -> Any:
    """``DescribeCapacityProviders`` without names lists them all (moto failed with HTTP 500)."""
    if names is None:
        return list(self.capacity_providers.values()), []
    return _original_describe_capacity_providers(self, names)


_original_describe_capacity_providers = (
    ecs_models.EC2ContainerServiceBackend.describe_capacity_providers
)


# ---------------------------------------------------------------- the ECS agent

_ECS_CLUSTER = re.compile(r"ECS_CLUSTER=([A-Za-z0-9_-]+)")


def cluster_from_user_data(user_data: str | None) -> str | None:
    """The cluster an instance's user data tells the ECS agent to join (``ECS_CLUSTER=name``)."""
    if not user_data:
        return None
    try:
        text = base64.b64decode(user_data).decode("utf-8", "replace")
    except ValueError:
        text = user_data
    match = _ECS_CLUSTER.search(text) or _ECS_CLUSTER.search(user_data)
    return match.group(1) if match else None


def _instance_user_data(instance: Any) -> str | None:
    data = getattr(instance, "user_data", None)
    if isinstance(data, list):
        data = data[0] if data else None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return None if data is None else str(data)


def _user_data_text(instance: Any) -> str:
    data = _instance_user_data(instance) or ""
    try:
        return base64.b64decode(data).decode("utf-8", "replace")
    except ValueError:
        return data


def register_agents(account_id: str, region_name: str) -> int:
    """Register every running instance whose user data names an existing cluster; returns how many
    joined.
    """
    with scheduler.LOCK:  # the scheduler places tasks once every instance has joined
        return _register_agents(account_id, region_name)


def _register_agents(account_id: str, region_name: str) -> int:
    ecs = ecs_backends[account_id][region_name]
    registered = {
        ci.ec2_instance_id
        for instances in ecs.container_instances.values()
        for ci in instances.values()
    }
    joined = 0
    for instance in ec2_backends[account_id][region_name].all_instances():
        cluster = cluster_from_user_data(_instance_user_data(instance))
        if instance.id in registered or instance.state != "running" or cluster is None:
            continue
        if cluster in ecs.clusters and ecs.clusters[cluster].status == "ACTIVE":
            container_instance = ecs.register_container_instance(cluster, instance.id)
            scheduler.register_resources(
                container_instance, instance.instance_type, _user_data_text(instance)
            )
            notes.record(
                notes.SIMULATED,
                "container instance joined",
                f"EC2 instance {instance.id}",
                f"registered in cluster {cluster} as its user data asks; no ECS agent runs",
            )
            joined += 1
    return joined


def apply() -> None:
    """Install the ECS fixes on moto's models."""
    patch_model(
        ecs_models.TaskDefinition,
        create=task_definition_create,
        update=task_definition_update,
        delete=task_definition_delete,
    )
    cfn_stabilize.RESTORERS["AWS::ECS::TaskDefinition"] = task_definition_restore
    cfn_stabilize.STABILIZERS["AWS::ECS::Service"] = service_stabilizer
    patch_model(ecs_models.Cluster, create=cluster_create, delete=cluster_delete)
    patch_model(
        ecs_models.Service, create=service_create, update=service_update, delete=service_delete
    )
    ecs_models.EC2ContainerServiceBackend.describe_capacity_providers = describe_capacity_providers  # type: ignore[method-assign]
