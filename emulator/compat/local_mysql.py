"""``Custom::DatabaseUsers`` run for real against the MySQL server on this machine.

The app's provisioner Lambda (``ecs_playground/database_users_handler``) connects to the RDS
instance with the master secret and creates each service's schema and user. moto's RDS
instance is no server, so the MySQL-compatible server at ``MYSQL_TEST_HOST:MYSQL_TEST_PORT``
(127.0.0.1:3306 by default, the same variables as the service tests) stands in for it:

1. the master user of the master secret is created there, as RDS creates it (with the
   server's admin account, ``MYSQL_TEST_USER``/``MYSQL_TEST_PASSWORD``, root without a
   password by default);
2. the handler's own code runs in-process (:class:`~emulator.compat.custom_resources.LambdaCode`)
   with ``Endpoint``/``Port`` pointing at that server.

Without a reachable server the handler does not run: the request is answered and recorded
as a stand-in that created no user, so the summary says so.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from emulator.compat import notes
from emulator.compat.custom_resources import LambdaCode, Request, Response


@dataclass(frozen=True)
class Server:
    """Where the local MySQL-compatible server is and how to administer it."""

    host: str
    port: int
    admin_user: str
    admin_password: str

    @classmethod
    def from_environment(cls) -> Server:
        """``MYSQL_TEST_*`` as the service tests read them (127.0.0.1:3306, root, no password)."""
        return cls(
            os.environ.get("MYSQL_TEST_HOST", "127.0.0.1"),
            int(os.environ.get("MYSQL_TEST_PORT", "3306")),
            os.environ.get("MYSQL_TEST_USER", "root"),
            os.environ.get("MYSQL_TEST_PASSWORD", ""),
        )

    def reachable(self) -> bool:
        """Something listens there."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def ensure_master(self, username: str, password: str) -> None:
        """Create (or reset) the master user as RDS does: every privilege, with grant option."""
        import pymysql

        connection = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            autocommit=True,
            connect_timeout=5,
        )
        try:
            with connection.cursor() as cursor:
                account = (username, password)
                cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", account)
                cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", account)
                cursor.execute(
                    "GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (username,)
                )
        finally:
            connection.close()


def _master(request: Request) -> dict[str, Any]:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[request.account_id][request.region]
    value = backend.get_secret_value(str(request.properties["MasterSecretArn"]), None, None)
    return dict(json.loads(value["SecretString"]))


def _pointed_at(properties: dict[str, Any] | None, server: Server) -> dict[str, Any] | None:
    if properties is None:
        return None
    return {**properties, "Endpoint": server.host, "Port": str(server.port)}


@dataclass(frozen=True)
class LocalDatabaseUsers:
    """The provider registered for ``Custom::DatabaseUsers``."""

    code: LambdaCode = field(default_factory=LambdaCode)

    def __call__(self, request: Request) -> Response:
        server = Server.from_environment()
        if not server.reachable():
            notes.record(
                notes.STAND_IN,
                request.resource_type,
                f"{request.logical_id} ({request.resource_type})",
                f"{request.request_type} not run: no MySQL server at {server.host}:{server.port} "
                "(MYSQL_TEST_HOST/MYSQL_TEST_PORT); on AWS its handler manages the services' "
                "users, here none was touched",
            )
            return Response(request.physical_id or f"database-users-{request.request_id}")
        master = _master(request)
        server.ensure_master(str(master["username"]), str(master["password"]))
        local = replace(
            request,
            properties=_pointed_at(request.properties, server) or {},
            old_properties=_pointed_at(request.old_properties, server),
        )
        return self.code(local)
