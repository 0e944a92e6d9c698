"""The ECS state on moto's models that both sides change: the CloudFormation side
(:mod:`emulator.compat.ecs`: services created, updated, deleted) and the scheduler
(:mod:`emulator.runtime.scheduler`: tasks placed, deployments rolled out, instances gone).

It imports neither of them, so they import it and not each other.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ecs.models import ecs_backends
from moto.moto_api._internal import mock_random


def recount(backend: Any, cluster_name: str) -> None:
    """Recompute a cluster's service and task counters from its services (steady state: all
    running).
    """
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        return
    active = [
        s
        for s in backend.services.values()
        if s.cluster_name == cluster_name and s.status == "ACTIVE"
    ]
    cluster.active_services_count = len(active)
    cluster.running_tasks_count = sum(s.running_count for s in active)
    cluster.pending_tasks_count = sum(s.pending_count for s in active)


def new_deployment(service: Any, running: int, completed: bool) -> dict[str, Any]:
    """A PRIMARY deployment of the service's task definition, as ``DescribeServices`` shows it:
    ``running`` tasks, rolled out (``completed``) or in progress."""
    now = utcnow()
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    state, reason = ("COMPLETED", "completed") if completed else ("IN_PROGRESS", "in progress")
    return {
        "createdAt": now,
        "updatedAt": now,
        "desiredCount": service.desired_count,
        "failedTasks": 0,
        "id": deployment_id,
        "launchType": service.launch_type,
        "pendingCount": 0,
        "runningCount": running,
        "rolloutState": state,
        "rolloutStateReason": f"ECS deployment {deployment_id} {reason}.",
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
    }


def deregister_gone(account_id: str, region_name: str) -> None:
    """Drop container instances whose EC2 instance is no longer running."""
    ecs = ecs_backends[account_id][region_name]
    running = {
        i.id for i in ec2_backends[account_id][region_name].all_instances() if i.state == "running"
    }
    for cluster_name, instances in ecs.container_instances.items():
        for key, instance in list(instances.items()):
            if instance.ec2_instance_id not in running:
                instances.pop(key)
                if cluster_name in ecs.clusters:
                    ecs.clusters[cluster_name].registered_container_instances_count -= 1
