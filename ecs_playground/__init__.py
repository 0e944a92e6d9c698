"""ECS on EC2 behind classic ELBs, with RDS MySQL, as L3 constructs for any CDK app.

The library: constructs, their props, the protocols they accept (`IServiceCluster`,
`IMySqlDatabase`), the capacity model, validation and template rules. An app composes them; the
library never imports one (this repository's own app is `ecs_playground_app`).
"""

from .capacity import CapacityError, CapacityPlan, Headroom, InstanceResources, ServiceDemand
from .classic_service import ClassicLoadBalancedService, ClassicLoadBalancedServiceProps
from .container_cluster import ContainerCluster, ContainerClusterProps
from .database import ExistingMySqlDatabase, IMySqlDatabase, MySqlDatabase, MySqlDatabaseProps
from .database_users import DatabaseUsers, DatabaseUsersProps
from .keywords import PropsKeywordError
from .monitoring import Monitoring, MonitoringProps, PlatformMonitoring, PlatformMonitoringProps
from .rules import EcsPlaygroundRules
from .service_cluster import IServiceCluster
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
    "ExistingMySqlDatabase",
    "Headroom",
    "IMySqlDatabase",
    "IServiceCluster",
    "InstanceResources",
    "Monitoring",
    "MonitoringProps",
    "MySqlDatabase",
    "MySqlDatabaseProps",
    "PlatformMonitoring",
    "PlatformMonitoringProps",
    "Problem",
    "PropsKeywordError",
    "PropsValidationError",
    "ServiceDemand",
]
