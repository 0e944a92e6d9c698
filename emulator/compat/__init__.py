"""Compatibility layer for moto 5.2.5, applied in-process before the server starts.

Each module fixes one area; ``emulator/README.md`` has the table by resource type.
"""

from __future__ import annotations

import moto

from emulator import MOTO_VERSION

_applied = False


def check_version() -> None:
    """Refuse to patch a moto other than the pinned one: the shims reach into its internals."""
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"emulator.compat is written for moto=={MOTO_VERSION}, found {moto.__version__}"
        )


def _ecs_agent(account_id: str, region: str) -> None:
    from emulator.compat import ecs, ecs_state

    ecs_state.deregister_gone(account_id, region)
    ecs.register_agents(account_id, region)


def apply_all() -> None:
    """Install every shim (idempotent)."""
    global _applied
    if _applied:
        return
    check_version()
    from emulator.compat import (
        cfn_engine,
        cfn_models,
        change_sets,
        custom_resources,
        ec2,
        ecs,
        local_mysql,
        operations,
        services,
    )

    cfn_models.apply()
    operations.apply()
    cfn_engine.apply()
    change_sets.apply()
    custom_resources.apply()
    custom_resources.register("Custom::DatabaseUsers", local_mysql.LocalDatabaseUsers())
    ecs.apply()
    ec2.apply()
    services.apply()
    cfn_engine.AFTER_CHANGE.append(_ecs_agent)
    _applied = True
