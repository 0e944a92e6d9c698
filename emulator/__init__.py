"""Loopback AWS emulator for ``make local``: moto 5.2.5 plus a compatibility layer.

The package is kept apart from the product code (``ecs_playground``): it only
runs the real CDK CLI against moto in server mode on 127.0.0.1.
"""

import os

MOTO_VERSION = "5.2.5"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def sdk_environment(endpoint: str) -> dict[str, str]:
    """What points an AWS SDK or CLI at the emulator: its endpoint, test credentials, the region,
    and no instance-metadata probe (nothing may reach AWS)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


ANSWER_TIMEOUT_VARIABLE = "EMULATOR_ANSWER_TIMEOUT_SECONDS"
CLI_TIMEOUT_VARIABLE = "EMULATOR_CLI_TIMEOUT_SECONDS"
ROLLOUT_TIMEOUT_VARIABLE = "EMULATOR_ROLLOUT_TIMEOUT_SECONDS"


def _seconds(variable: str, default: float) -> float:
    try:
        value = float(os.environ.get(variable, default))
    except ValueError:
        value = default
    return value if value > 0 else default


def answer_timeout_seconds() -> float:
    """How long the driver waits for the emulator to answer one request (its API calls, its
    health probe) before it says the emulator did not answer: ``EMULATOR_ANSWER_TIMEOUT_SECONDS``,
    default 30."""
    return _seconds(ANSWER_TIMEOUT_VARIABLE, 30.0)


def cli_timeout_seconds() -> float:
    """How long one CDK CLI command (bootstrap, deploy) may run before the driver stops it:
    ``EMULATOR_CLI_TIMEOUT_SECONDS``, default 1800 (the tutorial's first deploy takes about
    a minute)."""
    return _seconds(CLI_TIMEOUT_VARIABLE, 1800.0)


def rollout_timeout_seconds() -> float:
    """How long CloudFormation waits for an ECS service's deployment to complete (or its
    rollback) before the resource fails: ``EMULATOR_ROLLOUT_TIMEOUT_SECONDS``, default 300."""
    return _seconds(ROLLOUT_TIMEOUT_VARIABLE, 300.0)
