"""Fixtures for the database users provisioner: the real MySQL/MariaDB server, names of this test
session's own, and a handler world whose secrets, logins and SQL statements are recorded.

MySQL/MariaDB (127.0.0.1:3306 as root by default, see ``MYSQL_TEST_*`` in
``tests/services/service_harness.py``) is required: the tests fail, never skip, when it is
unreachable. Every user and schema a test creates carries this session's random suffix and is
dropped at the end of the session.
"""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pymysql
import pytest

from ecs_playground.database_users_handler import index as handler
from tests.services.fixtures import mysql_fixture  # noqa: F401 - the shared `mysql`
from tests.services.service_harness import MySQL

SUFFIX = uuid.uuid4().hex[:6]
"""This session's mark on every user, schema and role it creates."""
SCHEMA_PREFIX = f"prov_{SUFFIX}_"
MASTER_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:master-AbCdEf"
STACK_ID = f"arn:aws:cloudformation:eu-west-1:111111111111:stack/Prov{SUFFIX}/{uuid.uuid4()}"
"""The stack of this session's provisioner (each World can take another, as another stack)."""
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def session_server(mysql: MySQL) -> Iterator[MySQL]:
    """The shared server, with this session's users, roles and schemas dropped at the end."""
    try:
        yield mysql
    finally:
        for user, host in mysql.execute(
            "SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"%{SUFFIX}",)
        ):
            mysql.execute("DROP USER IF EXISTS %s@%s", (user, host))
        if mysql.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                         (handler.RECORD_SCHEMA,)):
            mysql.execute(
                f"DELETE FROM {handler.record_table()} WHERE name LIKE %s OR name LIKE %s",
                (f"%{SUFFIX}", SCHEMA_PREFIX.replace("_", "\\_") + "%"),
            )
        for (schema,) in mysql.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
            (SCHEMA_PREFIX.replace("_", "\\_") + "%",),
        ):
            mysql.drop_database(schema)


class RecordingCursor:
    """A cursor that records every statement it executes, and fails the ones the world says
    must fail (like a server quoting the statement, arguments included, in its error)."""

    def __init__(self, cursor: Any, world: World) -> None:
        self._cursor = cursor
        self._world = world

    def __enter__(self) -> RecordingCursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._cursor.__exit__(*exc)

    def execute(self, query: str, args: Any = None) -> int:
        self._world.statements.append(query)
        if self._world.fail_statements and re.match(self._world.fail_statements, query):
            raise pymysql.err.ProgrammingError(
                1064, f"You have an error in your SQL syntax near {args!r}"
            )
        return int(self._cursor.execute(query, args))

    def fetchall(self) -> Any:
        return self._cursor.fetchall()


class RecordingConnection:
    """The handler's real PyMySQL connection, with its statements recorded."""

    def __init__(self, connection: Any, world: World) -> None:
        self._connection = connection
        self._world = world

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self._connection.cursor(), self._world)

    def close(self) -> None:
        self._connection.close()


@dataclass
class Service:
    """One service as the provisioner sees it, with its secret's ARN."""

    user: str
    schema: str
    secret_arn: str

    def entry(self) -> dict[str, str]:
        """Its entry in ResourceProperties.Services."""
        return {"User": self.user, "Schema": self.schema, "SecretArn": self.secret_arn}


@dataclass
class World:
    """The handler's surroundings: secrets in memory, the real server, everything recorded."""

    mysql: MySQL
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    fail_statements: str | None = None
    """A regular expression: statements it matches fail as if the server refused them."""
    stack_id: str = STACK_ID
    logical_id: str = "Users"
    physical_id: str = "database-users-never-created"
    """The physical ID the last Create returned (Update and Delete send it)."""

    def __post_init__(self) -> None:
        self.secrets[MASTER_ARN] = {"username": self.mysql.user, "password": self.mysql.password}

    # the two injected dependencies
    def connect(
        self, endpoint: handler.Endpoint, credentials: handler.Credentials
    ) -> handler.Connection:
        self.logins.append(credentials.username)
        return RecordingConnection(handler.connect_mysql(endpoint, credentials), self)

    def read_secret(self, arn: str) -> dict[str, Any]:
        self.reads.append(arn)
        return self.secrets[arn]

    # building requests
    def service(self, base: str) -> Service:
        """A new service of this session, with a generated password in its secret."""
        number = next(_numbers)
        user = f"{base}-t{number}-{SUFFIX}"
        arn = f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:{user}-AbCdEf"
        self.secrets[arn] = {"username": user, "password": secrets.token_urlsafe(24)}
        return Service(user, f"{SCHEMA_PREFIX}t{number}_{base}", arn)

    def password(self, service: Service) -> str:
        """The password currently in the service's secret."""
        return str(self.secrets[service.secret_arn]["password"])

    def properties(self, services: list[Service], **extra: Any) -> dict[str, Any]:
        """ResourceProperties as CloudFormation sends them (scalars as strings)."""
        return {
            "ServiceToken": "arn:aws:lambda:eu-west-1:111111111111:function:provider",
            "Endpoint": self.mysql.host,
            "Port": str(self.mysql.port),
            "MasterSecretArn": MASTER_ARN,
            "Services": [s.entry() for s in services],
            **extra,
        }

    def create(self, services: list[Service], **extra: Any) -> dict[str, Any]:
        result = self.send({"RequestType": "Create", "RequestId": uuid.uuid4().hex,
                            **self._resource(),
                            "ResourceProperties": self.properties(services, **extra)})
        self.physical_id = str(result["PhysicalResourceId"])
        return result

    def update(
        self, services: list[Service], old: list[Service], old_extra: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.send({
            "RequestType": "Update", "PhysicalResourceId": self.physical_id, **self._resource(),
            "ResourceProperties": self.properties(services, **extra),
            "OldResourceProperties": self.properties(old, **(old_extra or {})),
        })

    def delete(self, services: list[Service], **extra: Any) -> dict[str, Any]:
        return self.send({"RequestType": "Delete", "PhysicalResourceId": self.physical_id,
                          **self._resource(),
                          "ResourceProperties": self.properties(services, **extra)})

    def _resource(self) -> dict[str, str]:
        return {"StackId": self.stack_id, "LogicalResourceId": self.logical_id,
                "RequestId": uuid.uuid4().hex, "ResourceType": "Custom::DatabaseUsers"}

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        return handler.on_event(event, connect=self.connect, read_secret=self.read_secret)

    def as_another_stack(self, name: str = "Other") -> World:
        """The same server and secrets, as the provisioner of another stack."""
        other = World(self.mysql, secrets=self.secrets,
                      stack_id=STACK_ID.replace(f"stack/Prov{SUFFIX}/", f"stack/{name}{SUFFIX}/"))
        return other

    def forget(self) -> None:
        """Clear what was recorded so far."""
        self.statements.clear()
        self.logins.clear()
        self.reads.clear()


@pytest.fixture
def world(session_server: MySQL) -> World:
    """A fresh handler world on the session's server."""
    return World(session_server)
