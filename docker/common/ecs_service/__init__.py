"""Shared code of the ECS playground's HTTP services (location, user, ...).

Each service is this package plus a declarative JSON definition (see
:mod:`ecs_service.definition`).  Start one with ``python -m ecs_service``.
Keep this module free of imports: the HEALTHCHECK imports the package too.
"""

__version__ = "1.0.0"
