"""The probe stack of the runtime and circuit-breaker tests (issue 19): one ECS service
``location`` whose image is an image asset of ``docker/`` (build arg SERVICE=location), on EC2
instances that join its cluster, behind a classic ELB, its database user in a secret. Hand-written
cloud assemblies (no synth), and what both files poll and send through the ELB meanwhile.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from emulator import ACCOUNT_ID, REGION
from tests.emulator.conftest import MANIFEST_VERSION, REPO, write_stack
from tests.services.service_harness import MySQL

PORT = 8081
REPOSITORY = f"cdk-hnb659fds-container-assets-{ACCOUNT_ID}-{REGION}"
REPOSITORY_TEMPLATE = "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll until ``probe`` returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


def image_of(asset: str) -> str:
    """The ECR image CDK names for a Docker image asset of this source hash."""
    return f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:{asset}"


@dataclass(frozen=True)
class HealthCheck:
    """The ELB's health check (seconds) and connection draining."""

    interval: int
    timeout: int
    draining: int


def probe_template(
    cluster: str,
    database: str,
    mysql: MySQL,
    asset: str,
    *,
    instances: Sequence[str],
    desired: int,
    health: HealthCheck,
    grace_seconds: int,
    deployment: dict[str, Any],
    version: str = "1",
    instance_type: Any = "t3.medium",
    mappings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The probe stack: `instances` (logical IDs) of `instance_type`, a service of `desired`
    tasks of 512 CPU units and 512 MiB with a static host port, its DeploymentConfiguration
    `deployment`."""
    instance = {
        "Type": "AWS::EC2::Instance",
        "Properties": {
            "ImageId": {"Ref": "Ami"},
            "InstanceType": instance_type,
            "UserData": {
                "Fn::Base64": f"#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"
            },
        },
    }
    secret = {"Ref": "DbUser"}
    template: dict[str, Any] = {
        "Parameters": {
            "Ami": {
                "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                "Default": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            }
        },
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": cluster}},
            **{name: instance for name in instances},
            "DbUser": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "SecretString": json.dumps({"username": mysql.user, "password": mysql.password})
                },
            },
            "TaskDefinition": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": f"{cluster}-location",
                    "NetworkMode": "bridge",
                    "RequiresCompatibilities": ["EC2"],
                    "ContainerDefinitions": [
                        {
                            "Name": "location",
                            "Image": image_of(asset),
                            "Cpu": 512,
                            "Memory": 512,
                            "Essential": True,
                            "PortMappings": [{"ContainerPort": PORT, "HostPort": PORT}],
                            "Environment": [
                                {"Name": "DB_HOST", "Value": mysql.host},
                                {"Name": "DB_PORT", "Value": str(mysql.port)},
                                {"Name": "DB_NAME", "Value": database},
                                {"Name": "APP_VERSION", "Value": version},
                            ],
                            "Secrets": [
                                {
                                    "Name": "DB_USER",
                                    "ValueFrom": {"Fn::Join": ["", [secret, ":username::"]]},
                                },
                                {
                                    "Name": "DB_PWD",
                                    "ValueFrom": {"Fn::Join": ["", [secret, ":password::"]]},
                                },
                            ],
                        }
                    ],
                },
            },
            "LoadBalancer": {
                "Type": "AWS::ElasticLoadBalancing::LoadBalancer",
                "Properties": {
                    "AvailabilityZones": [f"{REGION}a"],
                    "Listeners": [
                        {
                            "LoadBalancerPort": str(PORT),
                            "InstancePort": str(PORT),
                            "Protocol": "HTTP",
                            "InstanceProtocol": "HTTP",
                        }
                    ],
                    "HealthCheck": {
                        "Target": f"HTTP:{PORT}/health",
                        "Interval": str(health.interval),
                        "Timeout": str(health.timeout),
                        "HealthyThreshold": "2",
                        "UnhealthyThreshold": "2",
                    },
                    "ConnectionDrainingPolicy": {"Enabled": True, "Timeout": health.draining},
                },
            },
            "Service": {
                "Type": "AWS::ECS::Service",
                "DependsOn": list(instances),
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "ServiceName": "location",
                    "DesiredCount": desired,
                    "LaunchType": "EC2",
                    "TaskDefinition": {"Ref": "TaskDefinition"},
                    "HealthCheckGracePeriodSeconds": grace_seconds,
                    "LoadBalancers": [
                        {
                            "ContainerName": "location",
                            "ContainerPort": PORT,
                            "LoadBalancerName": {"Ref": "LoadBalancer"},
                        }
                    ],
                    "DeploymentConfiguration": deployment,
                },
            },
        },
    }
    if mappings is not None:
        template["Mappings"] = mappings
    return template


def write_probe_assembly(
    assembly: Path,
    stack: str,
    template: dict[str, Any],
    asset: str,
    edit_source: Callable[[Path], None] | None = None,
) -> Path:
    """A cloud assembly (replacing what `assembly` held) of one stack whose image asset is
    docker/ as it builds for location, changed by ``edit_source`` (given the asset's copy)."""
    shutil.rmtree(assembly, ignore_errors=True)
    assembly.mkdir(parents=True)
    source = assembly / f"asset.{asset}"
    shutil.copytree(REPO / "docker", source, ignore=shutil.ignore_patterns("user"))
    if edit_source is not None:
        edit_source(source)
    write_stack(assembly, stack, template)
    assets = {
        "version": MANIFEST_VERSION,
        "files": {},
        "dockerImages": {
            asset: {
                "source": {
                    "directory": f"asset.{asset}",
                    "dockerBuildArgs": {"SERVICE": "location", "PORT": str(PORT)},
                },
                "destinations": {
                    f"{ACCOUNT_ID}-{REGION}": {
                        "repositoryName": REPOSITORY_TEMPLATE,
                        "imageTag": asset,
                    }
                },
            }
        },
    }
    (assembly / f"{stack}.assets.json").write_text(json.dumps(assets))
    return assembly


@dataclass
class Traffic:
    """Requests through the ELB without pause, and the fewest InService instances seen
    meanwhile (a ``with`` block, or ``run``)."""

    url: str
    endpoint: str
    """The emulator's."""
    balancer: str
    """The load balancer's name."""
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    """One line per request that failed or was not answered 200."""
    lowest: int | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def _requests(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                self.sent += 1
                try:
                    answer = client.get(f"{self.url}/api/cities")
                    if answer.status_code != 200:
                        self.errors.append(f"{answer.status_code} {answer.text[:80]}")
                except httpx.HTTPError as error:
                    self.errors.append(repr(error))

    def _health(self) -> None:
        while not self.stop.is_set():
            described = httpx.get(f"{self.endpoint}/_emulator/load-balancers", timeout=5).json()
            seen = len(described["loadBalancers"][self.balancer]["inService"])
            self.lowest = seen if self.lowest is None else min(self.lowest, seen)
            time.sleep(0.05)

    def __enter__(self) -> Traffic:
        self.threads = [threading.Thread(target=self._requests),
                        threading.Thread(target=self._health)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def run(self, during: Callable[[], T]) -> T:
        """``during()``'s result, the traffic running meanwhile."""
        with self:
            return during()
