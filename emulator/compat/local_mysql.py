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

The local server is someone's own server too: the emulator creates its master user only when
no such account exists (recorded as the emulator's in the provisioner's record table,
``ecs_playground_provisioner.owned``) and refuses, naming it, to reset an account it did not
create. The provisioner itself refuses every account and schema it did not create. One local
server stands in for the database of every emulated stack, where AWS would have one each: an
account or schema recorded for another emulated stack (the emulator's account) is handed to the
stack being deployed first, and the summary's note for the resource says so.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from emulator import library
from emulator.compat import lambda_code, notes
from emulator.compat.custom_resources import Request, Response

if TYPE_CHECKING:
    from ecs_playground.database_users_handler import index as handler
else:  # from its file, as Lambda loads it: the library's package would import aws_cdk
    handler = library.module("database_users_handler.index")

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
"""The emulator's own connection: how long it waits for the greeting and each answer."""
WRITE_TIMEOUT_SECONDS = 10
MASTER_OWNER = handler.Owner("ecs-playground-emulator", "MasterUser", "local")
"""How the record names the master users the emulator created on the local server."""


class LocalMySQLError(RuntimeError):
    """The local server cannot stand in for the database (the message says why and what to do)."""


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

    @property
    def where(self) -> str:
        """'the local MySQL server at host:port (MYSQL_TEST_HOST/MYSQL_TEST_PORT)'."""
        return (f"the local MySQL server at {self.host}:{self.port} "
                "(MYSQL_TEST_HOST/MYSQL_TEST_PORT)")

    def session(self) -> _ClosingSession:
        """An admin session (close it with ``close()``); every wait is bounded."""
        import pymysql

        try:
            connection = pymysql.connect(
                host=self.host, port=self.port, user=self.admin_user,
                password=self.admin_password, autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                write_timeout=WRITE_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            if handler.timed_out(exc):
                raise LocalMySQLError(
                    f"{self.where} did not answer within {READ_TIMEOUT_SECONDS} s: is it a MySQL "
                    "server? Point MYSQL_TEST_HOST/MYSQL_TEST_PORT at one, or stop what listens "
                    "there"
                ) from None
            raise LocalMySQLError(f"cannot log in to {self.where} as {self.admin_user!r} "
                                  f"(MYSQL_TEST_USER/MYSQL_TEST_PASSWORD): {exc}") from exc
        return _ClosingSession(connection, self.where)

    def ensure_master(self, username: str, password: str) -> None:
        """Create the master user as RDS does (every privilege, with grant option), or reset
        the password of the one the emulator created before; refuse any other account."""
        db = self.session()
        try:
            account = (username, password)
            record = (handler.read_record(db, handler.USER, username)
                      if handler.record_table_exists(db) else None)
            exists = bool(db.run("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'",
                                 (username,)))
            if record is not None and record.owner != MASTER_OWNER.key:
                raise LocalMySQLError(
                    f"{self.where}: the account '{username}'@'%' belongs to {record.owner}, not "
                    "to the emulator; it is left alone. Give the database another master user "
                    "name, or point MYSQL_TEST_HOST/MYSQL_TEST_PORT at another server"
                )
            if exists and (record is None or (record.state == handler.CREATING
                           and not self._opens(username, password))):
                raise LocalMySQLError(
                    f"{self.where} already has an account '{username}'@'%' that the emulator did "
                    "not create; the emulator would reset its password and grant it every "
                    "privilege (as RDS's master user), so it leaves it alone. If it is yours to "
                    f"drop (e.g. left by a 'make local' of an older version), DROP USER "
                    f"'{username}'@'%'; or point MYSQL_TEST_HOST/MYSQL_TEST_PORT at another "
                    "server"
                )
            if exists:
                db.run("ALTER USER %s@'%%' IDENTIFIED BY %s", account, secret=True)
                if record is not None and record.state == handler.CREATING:
                    handler.update_record(db, record, MASTER_OWNER, handler.CREATED)
            else:
                handler.ensure_record_table(db)
                if record is None:
                    handler.insert_record(db, handler.USER, username, MASTER_OWNER,
                                          handler.CREATING)
                    record = handler.Record(handler.USER, username, MASTER_OWNER.key,
                                            MASTER_OWNER.physical_id, handler.CREATING)
                db.run("CREATE USER %s@'%%' IDENTIFIED BY %s", account, secret=True)
                handler.update_record(db, record, MASTER_OWNER, handler.CREATED)
            db.run("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (username,))
        except handler.ProvisioningError as exc:
            raise LocalMySQLError(f"{self.where}: {exc}") from None
        finally:
            db.close()

    def _opens(self, username: str, password: str) -> bool:
        return handler.password_works(
            handler.connect_mysql, handler.Endpoint(self.host, self.port),
            handler.Credentials(username, password),
        )

    def hand_over(self, request: Request) -> list[str]:
        """Give the rows of the request's accounts and schemas that another emulated stack's
        provisioner recorded (same emulator account) to this request's owner; return what was
        handed over. Accounts and schemas nobody recorded are left to the provisioner's refusal."""
        owner = handler.event_owner(request.event())
        account = f":{request.account_id}:stack/"
        services = request.properties.get("Services") or []
        names = [(kind, str(s.get(key))) for s in services if isinstance(s, dict)
                 for kind, key in ((handler.USER, "User"), (handler.SCHEMA, "Schema"))]
        handed: list[str] = []
        db = self.session()
        try:
            if not handler.record_table_exists(db):
                return []
            for kind, name in names:
                record = handler.read_record(db, kind, name)
                if (record is not None and record.owner != owner.key
                        and record.owner.startswith("arn:") and account in record.owner):
                    handler.reassign_record(db, record, owner.key)
                    handed.append(f"{record.label()} (from {record.owner})")
        finally:
            db.close()
        return handed


class _ClosingSession(handler.Session):
    """A handler session that owns its connection."""

    def __init__(self, connection: Any, where: str) -> None:
        super().__init__(connection, where)
        self._own = connection

    def close(self) -> None:
        """Close the connection."""
        self._own.close()


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

    def __call__(self, request: Request) -> Response:
        server = Server.from_environment()
        subject = f"{request.logical_id} ({request.resource_type})"
        if not server.reachable():
            notes.record(
                notes.STAND_IN,
                request.resource_type,
                subject,
                f"{request.request_type} not run: no MySQL server at {server.host}:{server.port} "
                "(MYSQL_TEST_HOST/MYSQL_TEST_PORT); on AWS its handler manages the services' "
                "users, here none was touched",
            )
            return Response(request.physical_id or f"database-users-{request.request_id}")
        master = _master(request)
        server.ensure_master(str(master["username"]), str(master["password"]))
        handed = server.hand_over(request) if request.request_type != "Delete" else []
        local = replace(
            request,
            properties=_pointed_at(request.properties, server) or {},
            old_properties=_pointed_at(request.old_properties, server),
        )
        physical, data, function = lambda_code.run(
            local.account_id, local.region, local.service_token, local.event()
        )
        shared = (
            f"; the local server stands in for every emulated stack's database, so it first "
            f"handed this stack {', '.join(handed)}, which another emulated stack's provisioner "
            "had created here (on AWS each database has its own)" if handed else ""
        )
        notes.record(
            notes.LAMBDA_CODE,
            request.resource_type,
            subject,
            f"{request.request_type} answered by the code of Lambda function {function}, run in "
            f"the emulator's process against {server.host}:{server.port}{shared}",
        )
        return Response(physical or request.physical_id or request.request_id, data)
