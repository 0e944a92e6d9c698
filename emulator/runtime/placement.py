"""Where ECS places a task: the container instance with room for its CPU units, memory and static
host ports (and, with ``distinctInstance``, none of the same service's tasks), or the reason ECS
gives when none has.

Pure: instances and demands in, a choice or a reason out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Instance:
    """A container instance as the scheduler sees it."""

    instance_id: str
    """The container instance ID (the ARN's last part)."""
    cpu_units: int
    memory_mib: int
    used_cpu: int = 0
    used_memory: int = 0
    used_ports: set[int] = field(default_factory=set)
    services: list[str] = field(default_factory=list)
    """Services of the tasks running here (one entry per task)."""

    @property
    def free_cpu(self) -> int:
        """CPU units left for tasks."""
        return self.cpu_units - self.used_cpu

    @property
    def free_memory(self) -> int:
        """Memory (MiB) left for tasks."""
        return self.memory_mib - self.used_memory


@dataclass(frozen=True)
class Demand:
    """What one task of a service needs."""

    service: str
    cpu_units: int
    memory_mib: int
    host_ports: frozenset[int]
    distinct_instance: bool = False


def _problem(instance: Instance, demand: Demand) -> str | None:
    if demand.distinct_instance and demand.service in instance.services:
        return 'encountered error "DistinctInstance placement constraint unsatisfied."'
    if demand.host_ports & instance.used_ports:
        return "is already using a port required by your task"
    if demand.cpu_units > instance.free_cpu:
        return "has insufficient CPU units available"
    if demand.memory_mib > instance.free_memory:
        return "has insufficient memory available"
    return None


def place(instances: Sequence[Instance], demand: Demand) -> Instance | str:
    """The instance for one task (the one with the fewest tasks of the service, then the most free
    memory: ECS's spread), or ECS's service event saying why none fits."""
    if not instances:
        return (
            f"service {demand.service} was unable to place a task because no container instance "
            "met all of its requirements. Reason: No Container Instances were found in your "
            "cluster. For more information, see the Troubleshooting section of the Amazon ECS "
            "Developer Guide."
        )
    fits = [i for i in instances if _problem(i, demand) is None]
    if fits:
        return min(fits, key=lambda i: (i.services.count(demand.service), -i.free_memory))
    closest = min(instances, key=lambda i: (len(i.services), i.instance_id))
    return (
        f"service {demand.service} was unable to place a task because no container instance met "
        f"all of its requirements. The closest matching container-instance {closest.instance_id} "
        f"{_problem(closest, demand)}. For more information, see the Troubleshooting section of "
        "the Amazon ECS Developer Guide."
    )


def take(instance: Instance, demand: Demand) -> None:
    """Reserve a placed task's resources on its instance."""
    instance.used_cpu += demand.cpu_units
    instance.used_memory += demand.memory_mib
    instance.used_ports |= demand.host_ports
    instance.services.append(demand.service)
