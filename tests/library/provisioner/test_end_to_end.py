"""End to end: the Lambda entry point reads real (moto) Secrets Manager secrets, and the location
and user services, started as real processes like in tests/services, run with the credentials
the provisioner created: not the master user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from ecs_playground.database_users_handler import index as handler
from tests.services.service_harness import MySQL, running_service, sample_record

from .conftest import STACK_ID, World

API = {"location": "/api/cities", "user": "/api/users"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager in memory; the handler's cached client is reset around the test."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler, "_secrets_client", None)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


def test_the_lambda_entry_reads_secrets_manager_and_creates_the_users(
    world: World, aws: Any
) -> None:
    service = world.service("location")
    master = aws.create_secret(Name="master", SecretString=(
        f'{{"username": "{world.mysql.user}", "password": "{world.mysql.password}"}}'
    ))["ARN"]
    own = aws.create_secret(Name="location", SecretString=(
        f'{{"username": "{service.user}", "password": "{world.password(service)}"}}'
    ))["ARN"]
    properties = {**world.properties([]), "MasterSecretArn": master,
                  "Services": [{"User": service.user, "Schema": service.schema,
                                "SecretArn": own}]}

    resource = {"StackId": STACK_ID, "LogicalResourceId": "Users"}
    result = handler.handler(
        {"RequestType": "Create", "RequestId": "r-1", **resource,
         "ResourceProperties": properties}, None,
    )

    assert result == {"PhysicalResourceId": "database-users-r-1",
                      "Data": {"Users": service.user}}
    assert world.mysql.database_exists(service.schema)
    handler.handler({"RequestType": "Delete", "PhysicalResourceId": "database-users-r-1",
                     **resource, "ResourceProperties": properties}, None)
    assert not world.mysql.execute("SELECT 1 FROM mysql.user WHERE User = %s", (service.user,))


def test_the_services_run_with_their_provisioned_users(
    world: World, tmp_path: Path
) -> None:
    location, user = world.service("location"), world.service("user")
    world.create([location, user])

    for name, service in (("location", location), ("user", user)):
        own = MySQL(world.mysql.host, world.mysql.port, service.user, world.password(service))
        assert own.user != world.mysql.user
        with running_service(name, own, service.schema, tmp_path) as process:
            record = sample_record(name)
            created = httpx.post(process.url + API[name], json=record, timeout=10)
            assert created.status_code == 201, created.text + process.log_text()
            listed = httpx.get(process.url + API[name], timeout=10)
            assert listed.status_code == 200, listed.text
            assert created.json()["id"] in {item["id"] for item in listed.json()["items"]}
            assert httpx.get(process.url + "/health", timeout=10).status_code == 200
            assert "access denied" not in process.log_text().lower()
