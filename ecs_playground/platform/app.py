"""Building the tutorial's platform into a CDK app, as `app.py` and the tests do."""

from __future__ import annotations

import aws_cdk as cdk

from ..capacity import CapacityError
from ..validation import PropsValidationError
from . import config
from .config import ConfigError, PlatformConfig
from .images import ImageSourceError
from .stack import EcsPlaygroundStack, PlatformError

USER_ERRORS = (ConfigError, PlatformError, PropsValidationError, CapacityError, ImageSourceError)
"""What a user's mistake raises: print the message, no traceback."""

DESCRIPTION = "ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL"


def build_platform(app: cdk.App) -> PlatformConfig:
    """Read the app's context and add the platform stack; raise one of USER_ERRORS on bad input."""
    platform = config.load(app.node.get_all_context())
    EcsPlaygroundStack(app, platform.stack_name, config=platform, description=DESCRIPTION)
    return platform
