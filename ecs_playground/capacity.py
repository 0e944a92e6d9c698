"""Synth-time capacity planning for services with static host ports on EC2 container instances.

No scanner answers "will these tasks fit, even in the middle of a rolling deployment?". This module
does, from numbers alone (no AWS calls):

* what one container instance offers to tasks (CPU units, memory after OS overhead and
  ``ECS_RESERVED_MEMORY``), from a table of instance types;
* where every service's tasks go when each service binds one static host port (so at most one task
  of a service per instance), at the peak of a rolling deployment of *every* service at once (the
  worst case: one ``cdk deploy`` can roll all services together);
* whether each rolling deployment can progress at all.

A failed plan lists the numbers; a good one reports the headroom that ``make synth`` prints.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

# OS-visible memory is below the installed amount (kernel, platform overhead). AWS documents an
# m4.large (8192 MiB installed) registering 7985 MiB: 97.5 %. We apply that ratio to every type.
OS_VISIBLE_MEMORY_RATIO = 7985 / 8192

_SIZES_GIB_PER_VCPU = {"general": 4, "compute": 2, "memory": 8}
_NITRO_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}
_FAMILIES = {
    **{f: "general" for f in ("m5", "m5a", "m6i", "m6a", "m7i", "m7a")},
    **{f: "compute" for f in ("c5", "c5a", "c6i", "c6a", "c7i", "c7a")},
    **{f: "memory" for f in ("r5", "r5a", "r6i", "r6a", "r7i", "r7a")},
}
# Burstable types do not follow the per-vCPU ratio: listed explicitly as (vCPUs, GiB).
_BURSTABLE = {
    "t2": {"nano": (1, 0.5), "micro": (1, 1), "small": (1, 2), "medium": (2, 4),
           "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)},
    "t3": {"nano": (2, 0.5), "micro": (2, 1), "small": (2, 2), "medium": (2, 4),
           "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)},
}
_BURSTABLE["t3a"] = _BURSTABLE["t3"]


@dataclass(frozen=True)
class InstanceResources:
    """What one EC2 instance type has: vCPUs and installed memory."""

    vcpus: int
    """Virtual CPUs; ECS registers 1024 CPU units per vCPU."""
    memory_mib: int
    """Installed memory in MiB, as advertised for the instance type."""

    @property
    def cpu_units(self) -> int:
        """CPU units the ECS agent registers."""
        return self.vcpus * 1024

    def task_memory_mib(self, reserved_memory_mib: int) -> int:
        """Memory the ECS agent offers to tasks: OS-visible memory less ECS_RESERVED_MEMORY."""
        return math.floor(self.memory_mib * OS_VISIBLE_MEMORY_RATIO) - reserved_memory_mib


def _build_table() -> dict[str, InstanceResources]:
    table: dict[str, InstanceResources] = {}
    for family, sizes in _BURSTABLE.items():
        for size, (vcpus, gib) in sizes.items():
            table[f"{family}.{size}"] = InstanceResources(vcpus, int(gib * 1024))
    for family, kind in _FAMILIES.items():
        for size, vcpus in _NITRO_SIZES.items():
            gib = vcpus * _SIZES_GIB_PER_VCPU[kind]
            table[f"{family}.{size}"] = InstanceResources(vcpus, gib * 1024)
    return table


INSTANCE_TYPES: dict[str, InstanceResources] = _build_table()
"""Known x86_64 instance types (the ECS-optimized AMI used here is x86_64)."""


@dataclass(frozen=True)
class ServiceDemand:
    """What one service asks of the cluster."""

    name: str
    host_port: int
    cpu: int
    memory_mib: int
    desired_count: int
    min_healthy_percent: int
    max_healthy_percent: int
    max_count: int | None = None
    """Most tasks task autoscaling may run; None: the service keeps desired_count."""

    @property
    def most_tasks(self) -> int:
        """The task count at the service's maximum scale."""
        return self.desired_count if self.max_count is None else self.max_count

    def at_most_scale(self) -> ServiceDemand:
        """The same service scaled out to its maximum."""
        return dataclasses.replace(self, desired_count=self.most_tasks)

    @property
    def deployment_peak(self) -> int:
        """Tasks ECS may run at once during a rolling deployment (before the per-instance bound)."""
        return math.floor(self.desired_count * self.max_healthy_percent / 100)

    @property
    def stoppable_during_deployment(self) -> int:
        """Tasks ECS may stop before starting new ones (keeps min healthy percent running)."""
        keep = math.ceil(self.desired_count * self.min_healthy_percent / 100)
        return max(self.desired_count - keep, 0)


@dataclass(frozen=True)
class Headroom:
    """A capacity plan that fits, with what is left over at the deployment peak."""

    instances: int
    cpu_units_per_instance: int
    memory_mib_per_instance: int
    peak_tasks: int
    peak_cpu_units: int
    peak_memory_mib: int
    min_free_cpu_units_on_an_instance: int
    min_free_memory_mib_on_an_instance: int

    @property
    def total_cpu_units(self) -> int:
        """CPU units of the whole cluster at its minimum size."""
        return self.instances * self.cpu_units_per_instance

    @property
    def total_memory_mib(self) -> int:
        """Task memory of the whole cluster at its minimum size."""
        return self.instances * self.memory_mib_per_instance

    def as_dict(self) -> dict[str, int]:
        """Numbers for template metadata and the synth summary."""
        return {
            "instances": self.instances,
            "cpuUnitsPerInstance": self.cpu_units_per_instance,
            "memoryMibPerInstance": self.memory_mib_per_instance,
            "peakTasks": self.peak_tasks,
            "peakCpuUnits": self.peak_cpu_units,
            "peakMemoryMib": self.peak_memory_mib,
            "freeCpuUnits": self.total_cpu_units - self.peak_cpu_units,
            "freeMemoryMib": self.total_memory_mib - self.peak_memory_mib,
            "minFreeCpuUnitsOnAnInstance": self.min_free_cpu_units_on_an_instance,
            "minFreeMemoryMibOnAnInstance": self.min_free_memory_mib_on_an_instance,
        }


class CapacityError(ValueError):
    """The services cannot all run (or roll out) on the cluster; the message has the numbers."""

    def __init__(self, cluster: str, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        lines = [f"ContainerCluster '{cluster}': capacity check failed:"]
        lines += [f"  - {r}" for r in self.reasons]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class CapacityPlan:
    """Instances of one type, counted at the Auto Scaling group's minimum size (the guaranteed
    capacity), and the services that share them."""

    cluster: str
    instance_type: str
    resources: InstanceResources
    instances: int
    reserved_memory_mib: int
    services: tuple[ServiceDemand, ...]
    max_instances: int | None = None
    """Most instances managed scaling may launch; None: the group has a fixed size."""

    @property
    def most_instances(self) -> int:
        """Instances at the cluster's maximum scale."""
        return self.instances if self.max_instances is None else self.max_instances

    def check(self) -> Headroom:
        """Return the headroom, or raise CapacityError listing every reason it does not fit."""
        reasons = self._static_reasons()
        if reasons:
            raise CapacityError(self.cluster, reasons)
        placement = self._place_peak()
        if isinstance(placement, str):
            raise CapacityError(self.cluster, [placement])
        return placement

    @property
    def _task_memory(self) -> int:
        return self.resources.task_memory_mib(self.reserved_memory_mib)

    def _static_reasons(self) -> list[str]:
        reasons: list[str] = []
        cpu, mem = self.resources.cpu_units, self._task_memory
        by_port: dict[int, str] = {}
        for s in self.services:
            if s.host_port in by_port:
                reasons.append(
                    f"service '{s.name}': host port {s.host_port} is already used by service "
                    f"'{by_port[s.host_port]}' on the same instances; give each service its own "
                    "host port (allowed: 1-65535, unique per cluster)"
                )
            by_port.setdefault(s.host_port, s.name)
            if s.cpu > cpu or s.memory_mib > mem:
                reasons.append(
                    f"service '{s.name}': a task needs {s.cpu} CPU units and {s.memory_mib} MiB, "
                    f"but one {self.instance_type} offers {cpu} CPU units and {mem} MiB to tasks "
                    f"(after ECS_RESERVED_MEMORY={self.reserved_memory_mib}); lower cpu/memory or "
                    "choose a larger instance type"
                )
            if s.desired_count > self.instances:
                reasons.append(
                    f"service '{s.name}': desired count {s.desired_count} is larger than the "
                    f"{self.instances} instances; with a static host port at most one task runs "
                    f"per instance, so lower desired_count to <= {self.instances} or raise the "
                    "cluster's min capacity"
                )
            elif not self._can_progress(s, self.instances):
                reasons.append(
                    f"service '{s.name}': a rolling deployment can never progress: all "
                    f"{self.instances} instances already run one of its {s.desired_count} tasks "
                    f"(static host port {s.host_port}), and min healthy {s.min_healthy_percent} % "
                    "lets ECS stop none of them first; lower min_healthy_percent (e.g. 50) or "
                    "add instances"
                )
            reasons += self._maximum_reasons(s)
        return reasons

    def _maximum_reasons(self, s: ServiceDemand) -> list[str]:
        """Task autoscaling at its maximum on a cluster at its maximum (static host ports)."""
        most, instances = s.most_tasks, self.most_instances
        if s.max_count is None or s.desired_count > self.instances:
            return []  # no autoscaling, or already reported at the minimum
        if most > instances:
            return [
                f"service '{s.name}': max task count {most} is larger than the cluster's max "
                f"capacity of {instances} instances; with a static host port at most one task "
                f"runs per instance, so lower max_task_count to <= {instances} or raise the "
                "cluster's max capacity"
            ]
        if not self._can_progress(s.at_most_scale(), instances):
            return [
                f"service '{s.name}': at its max task count {most} on the cluster's max capacity "
                f"of {instances} instances a rolling deployment can never progress: every "
                f"instance runs one of its tasks (static host port {s.host_port}) and min "
                f"healthy {s.min_healthy_percent} % lets ECS stop none of them first; lower "
                f"min_healthy_percent (e.g. 50), lower max_task_count to <= {instances - 1} or "
                f"raise the cluster's max capacity to >= {most + 1}"
            ]
        return []

    @staticmethod
    def _can_progress(s: ServiceDemand, instances: int) -> bool:
        if s.desired_count == 0:
            return True
        free_slots = instances - s.desired_count
        can_start = min(free_slots, s.deployment_peak - s.desired_count)
        return can_start > 0 or s.stoppable_during_deployment > 0

    def _place_peak(self) -> Headroom | str:
        """Place every service's peak task count, one task per service per instance.

        Greedy: the largest services first, each task on the instance with the most free memory
        that does not yet run that service. A service needing more memory per task goes first so
        small tasks fill the gaps.
        """
        free_cpu = [self.resources.cpu_units] * self.instances
        free_mem = [self._task_memory] * self.instances
        peak_tasks = peak_cpu = peak_mem = 0
        for s in sorted(self.services, key=lambda d: (d.memory_mib, d.cpu), reverse=True):
            count = min(max(s.deployment_peak, s.desired_count), self.instances)
            candidates = sorted(
                range(self.instances), key=lambda i: (free_mem[i], free_cpu[i]), reverse=True
            )
            chosen = [i for i in candidates if free_cpu[i] >= s.cpu and free_mem[i] >= s.memory_mib]
            if len(chosen) < count:
                return (
                    f"service '{s.name}': at the peak of a rolling deployment it runs {count} "
                    f"tasks of {s.cpu} CPU units / {s.memory_mib} MiB, one per instance, but only "
                    f"{len(chosen)} of {self.instances} {self.instance_type} instances have room "
                    f"left (per instance free: CPU {free_cpu}, MiB {free_mem}); add instances, "
                    "choose a larger instance type, or lower cpu/memory/max_healthy_percent"
                )
            for i in chosen[:count]:
                free_cpu[i] -= s.cpu
                free_mem[i] -= s.memory_mib
            peak_tasks += count
            peak_cpu += count * s.cpu
            peak_mem += count * s.memory_mib
        return Headroom(
            instances=self.instances,
            cpu_units_per_instance=self.resources.cpu_units,
            memory_mib_per_instance=self._task_memory,
            peak_tasks=peak_tasks,
            peak_cpu_units=peak_cpu,
            peak_memory_mib=peak_mem,
            min_free_cpu_units_on_an_instance=min(free_cpu, default=0),
            min_free_memory_mib_on_an_instance=min(free_mem, default=0),
        )
