"""What is running in the emulator, printed like ``aws ecs describe-clusters`` / ``describe-
services``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from emulator import REGION, answer_timeout_seconds

CONNECT_TIMEOUT_SECONDS = 5.0
"""Loopback: a connection that takes longer is not coming."""


def client(endpoint: str, service: str) -> Any:
    """A boto3 client for the emulator that never waits forever: each call gives up after
    :func:`emulator.answer_timeout_seconds` without an answer, and is tried twice (botocore's
    defaults, 60 s and 5 attempts, made a wedged emulator look like a hang)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=answer_timeout_seconds(),
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


def _stack_resources(endpoint: str, resource_type: str) -> list[str]:
    cfn = client(endpoint, "cloudformation")
    found: list[str] = []
    for stack in cfn.describe_stacks()["Stacks"]:
        resources = cfn.describe_stack_resources(StackName=stack["StackName"])["StackResources"]
        found += [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == resource_type]
    return found


def _pick(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: item[k] for k in keys if k in item}


def clusters(endpoint: str) -> dict[str, Any]:
    """``aws ecs describe-clusters``, trimmed to what the tutorial shows."""
    names = _stack_resources(endpoint, "AWS::ECS::Cluster")
    found = client(endpoint, "ecs").describe_clusters(clusters=names)["clusters"] if names else []
    keys = (
        "clusterName",
        "status",
        "registeredContainerInstancesCount",
        "runningTasksCount",
        "activeServicesCount",
        "capacityProviders",
    )
    return {"clusters": [_pick(c, keys) for c in found]}


def container_instances(endpoint: str, cluster: str) -> dict[str, Any]:
    """``aws ecs describe-container-instances`` (EC2 instance, status, agent)."""
    ecs = client(endpoint, "ecs")
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return {"containerInstances": []}
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
        "containerInstances"
    ]
    return {
        "containerInstances": [
            _pick(i, ("ec2InstanceId", "status", "agentConnected")) for i in found
        ]
    }


def services(endpoint: str, cluster: str) -> dict[str, Any]:
    """``aws ecs describe-services``: desired/running, task definition, load balancers, deployment
    config.
    """
    ecs = client(endpoint, "ecs")
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    found = ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []
    keys = (
        "serviceName",
        "status",
        "desiredCount",
        "runningCount",
        "taskDefinition",
        "loadBalancers",
        "deploymentConfiguration",
        "placementConstraints",
        "healthCheckGracePeriodSeconds",
    )
    return {"services": [_pick(s, keys) for s in found if s["status"] == "ACTIVE"]}


def task_definitions(endpoint: str, arns: list[str]) -> dict[str, Any]:
    """``aws ecs describe-task-definition`` for each service: revision and images."""
    ecs = client(endpoint, "ecs")
    result = []
    for arn in arns:
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        result.append(
            {
                "family": definition["family"],
                "revision": definition["revision"],
                "networkMode": definition.get("networkMode"),
                "containers": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "portMappings": c.get("portMappings", []),
                    }
                    for c in definition["containerDefinitions"]
                ],
            }
        )
    return {"taskDefinitions": result}


def load_balancers(endpoint: str) -> dict[str, Any]:
    """``aws elb describe-load-balancers``: DNS name, listeners, health check."""
    found = client(endpoint, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    return {
        "LoadBalancerDescriptions": [
            {
                "LoadBalancerName": lb["LoadBalancerName"],
                "DNSName": lb["DNSName"],
                "Listeners": [d["Listener"] for d in lb["ListenerDescriptions"]],
                "HealthCheck": lb.get("HealthCheck"),
            }
            for lb in found
        ]
    }


def databases(endpoint: str) -> dict[str, Any]:
    """``aws rds describe-db-instances``: identifier, engine, endpoint."""
    found = client(endpoint, "rds").describe_db_instances()["DBInstances"]
    keys = ("DBInstanceIdentifier", "Engine", "EngineVersion", "DBInstanceStatus", "Endpoint")
    return {"DBInstances": [_pick(d, keys) for d in found]}


def _block(command: str, body: dict[str, Any], out: Callable[[str], None]) -> None:
    out(f"$ {command}")
    out(json.dumps(body, indent=2, default=str))


def print_report(endpoint: str, out: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Print the running platform, one ``aws ...`` command per block; return each cluster's
    active service names."""
    summary = clusters(endpoint)
    _block("aws ecs describe-clusters", summary, out)
    names: dict[str, list[str]] = {}
    for cluster in [c["clusterName"] for c in summary["clusters"]]:
        _block(
            f"aws ecs describe-container-instances --cluster {cluster}",
            container_instances(endpoint, cluster),
            out,
        )
        running = services(endpoint, cluster)
        names[cluster] = [s["serviceName"] for s in running["services"]]
        _block(f"aws ecs describe-services --cluster {cluster}", running, out)
        arns = [s["taskDefinition"] for s in running["services"]]
        _block("aws ecs describe-task-definition", task_definitions(endpoint, arns), out)
    _block("aws elb describe-load-balancers", load_balancers(endpoint), out)
    _block("aws rds describe-db-instances", databases(endpoint), out)
    return names
