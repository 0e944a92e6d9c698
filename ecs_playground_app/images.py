"""The service images of the app: built from `docker/` (one Dockerfile, one folder per service)
unless a registry image is configured. The port in `docker/<service>/service.json` is the one
source of the container port of an image built from source."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs

# The images' own health check (docker/common/ecs_service/healthcheck.py): GET /health on the
# service's port from inside the container. ECS ignores a Dockerfile's HEALTHCHECK.
SERVICE_IMAGE_HEALTH_CHECK = ecs.HealthCheck(
    command=["CMD", "python", "-m", "ecs_service.healthcheck"],
    interval=Duration.seconds(30),
    timeout=Duration.seconds(5),
    retries=3,
    start_period=Duration.seconds(15),
)
SERVICE_IMAGE_HEALTH_PATH = "/health"
"""What the images serve for a health check (200 PASS / 503 FAIL): the ELB's HTTP check path of
a service built from source when its healthCheckPath is not configured."""


class ImageSourceError(ValueError):
    """A service's image source is missing or unreadable."""


def source_port(directory: Path, name: str) -> int:
    """The port the service's source declares (`docker/<service>/service.json`, key `port`)."""
    definition = directory / name / "service.json"
    if not definition.is_file():
        raise ImageSourceError(
            f"no image source for service '{name}': {definition} does not exist; add it, or set "
            f"'{name}.image' to a registry image (with '{name}.containerPort')"
        )
    try:
        port = json.loads(definition.read_text())["port"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ImageSourceError(f"{definition}: no readable 'port' ({err})") from None
    if not isinstance(port, int) or isinstance(port, bool):
        raise ImageSourceError(f"{definition}: 'port' must be a whole number, got {port!r}")
    return port


def service_image(directory: Path, name: str, port: int) -> ecs.ContainerImage:
    """The image built from `directory` (one shared Dockerfile, build arg SERVICE) for a service.

    The other services' folders are excluded from the asset, so changing one service's code does
    not rebuild and redeploy another.
    """
    others = sorted(
        d.name for d in directory.iterdir()
        if d.is_dir() and (d / "service.json").exists() and d.name != name
    )
    return ecs.ContainerImage.from_asset(
        str(directory), build_args={"SERVICE": name, "PORT": str(port)}, exclude=others
    )
