"""ecs-playground: the classic ECS-on-EC2 platform (classic ELBs, RDS MySQL) as L3 constructs."""

from .capacity import CapacityError, CapacityPlan, Headroom, InstanceResources, ServiceDemand
from .classic_service import ClassicLoadBalancedService, ClassicLoadBalancedServiceProps
from .config import ConfigError, PlatformConfig
from .container_cluster import ContainerCluster, ContainerClusterProps
from .database import MySqlDatabase, MySqlDatabaseProps
from .rules import EcsPlaygroundRules
from .stack import EcsPlaygroundStack
from .validation import Problem, PropsValidationError

__all__ = [
    "CapacityError",
    "CapacityPlan",
    "ClassicLoadBalancedService",
    "ClassicLoadBalancedServiceProps",
    "ConfigError",
    "ContainerCluster",
    "ContainerClusterProps",
    "EcsPlaygroundRules",
    "EcsPlaygroundStack",
    "Headroom",
    "InstanceResources",
    "MySqlDatabase",
    "MySqlDatabaseProps",
    "PlatformConfig",
    "Problem",
    "PropsValidationError",
    "ServiceDemand",
]
