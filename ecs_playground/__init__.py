"""ecs-playground: the classic ECS-on-EC2 platform (classic ELBs, RDS MySQL) as L3 constructs.

The library: constructs, their props, the capacity model, validation and template rules. The
tutorial's own platform (stack, configuration, gates, summary) is the app layer,
`ecs_playground.platform`, which builds on this package and is never imported by it.
"""

from .capacity import CapacityError, CapacityPlan, Headroom, InstanceResources, ServiceDemand
from .classic_service import ClassicLoadBalancedService, ClassicLoadBalancedServiceProps
from .container_cluster import ContainerCluster, ContainerClusterProps
from .database import MySqlDatabase, MySqlDatabaseProps
from .database_users import DatabaseUsers, DatabaseUsersProps
from .keywords import PropsKeywordError
from .monitoring import PlatformMonitoring, PlatformMonitoringProps
from .rules import EcsPlaygroundRules
from .validation import Problem, PropsValidationError

__all__ = [
    "CapacityError",
    "CapacityPlan",
    "ClassicLoadBalancedService",
    "ClassicLoadBalancedServiceProps",
    "ContainerCluster",
    "ContainerClusterProps",
    "DatabaseUsers",
    "DatabaseUsersProps",
    "EcsPlaygroundRules",
    "Headroom",
    "InstanceResources",
    "MySqlDatabase",
    "MySqlDatabaseProps",
    "PlatformMonitoring",
    "PlatformMonitoringProps",
    "Problem",
    "PropsKeywordError",
    "PropsValidationError",
    "ServiceDemand",
]
