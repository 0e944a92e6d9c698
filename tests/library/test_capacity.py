"""Capacity numbers: what an instance offers and where a rolling deployment peaks."""

from __future__ import annotations

from ecs_playground.capacity import INSTANCE_TYPES, CapacityPlan, InstanceResources, ServiceDemand


def demand(name: str, port: int, **kwargs: int) -> ServiceDemand:
    values = {"cpu": 512, "memory_mib": 1024, "desired_count": 4, "min_healthy_percent": 50,
              "max_healthy_percent": 200, **kwargs}
    return ServiceDemand(name=name, host_port=port, **values)


def test_documented_m4_large_registers_7985_mib() -> None:
    # AWS: an m4.large (8 GiB) registers 7985 MiB; ECS_RESERVED_MEMORY comes off that
    assert InstanceResources(2, 8192).task_memory_mib(0) == 7985
    assert InstanceResources(2, 8192).task_memory_mib(256) == 7729


def test_table_knows_the_tutorial_instance_type() -> None:
    assert INSTANCE_TYPES["t2.medium"] == InstanceResources(vcpus=2, memory_mib=4096)
    assert INSTANCE_TYPES["m6i.xlarge"] == InstanceResources(vcpus=4, memory_mib=16384)
    assert INSTANCE_TYPES["c6i.large"].memory_mib == 4096


def test_tutorial_platform_headroom() -> None:
    plan = CapacityPlan(
        cluster="app01", instance_type="t2.medium", resources=INSTANCE_TYPES["t2.medium"],
        instances=4, reserved_memory_mib=256,
        services=(demand("location", 8081), demand("user", 9091)),
    )
    headroom = plan.check()
    assert headroom.as_dict() == {
        "instances": 4, "cpuUnitsPerInstance": 2048, "memoryMibPerInstance": 3736,
        "peakTasks": 8, "peakCpuUnits": 4096, "peakMemoryMib": 8192,
        "freeCpuUnits": 4096, "freeMemoryMib": 4 * 3736 - 8192,
        "minFreeCpuUnitsOnAnInstance": 1024, "minFreeMemoryMibOnAnInstance": 3736 - 2048,
    }


def test_peak_is_bounded_by_one_task_per_instance() -> None:
    # 2 desired at 200 % would be 4 tasks, but 3 instances allow 3
    plan = CapacityPlan(
        cluster="c", instance_type="t3.large", resources=INSTANCE_TYPES["t3.large"],
        instances=3, reserved_memory_mib=0, services=(demand("a", 80, desired_count=2),),
    )
    assert plan.check().peak_tasks == 3


def test_zero_desired_tasks_is_not_a_stuck_deployment() -> None:
    plan = CapacityPlan(
        cluster="c", instance_type="t3.large", resources=INSTANCE_TYPES["t3.large"],
        instances=1, reserved_memory_mib=0,
        services=(demand("a", 80, desired_count=0, min_healthy_percent=100),),
    )
    assert plan.check().peak_tasks == 0
