"""CloudFormation custom resource: one MySQL user per service, limited to its own schema.

Called through aws-cdk-lib's `custom_resources.Provider` framework: `handler(event, context)`
returns `{"PhysicalResourceId": ..., "Data": ...}`, and an exception fails the deployment with
its message as the reason CloudFormation shows. Stdlib and PyMySQL only (boto3 comes with the
Lambda runtime); both are imported lazily, so the logic below is usable and testable without AWS:
`on_event` takes the connection factory and the secret reader as arguments.

ResourceProperties (CloudFormation sends every scalar as a string):
  Endpoint         the database's address
  Port             its port
  MasterSecretArn  Secrets Manager secret with the master user's `username` and `password`
  Services         [{"User": ..., "Schema": ..., "SecretArn": ...}], one per service; the secret
                   holds that user's `username` (equal to User) and `password`
  DropSchemas      "true": Delete also drops the schemas. Default: schemas and data are kept.

Lifecycle, every step idempotent (a retry or a re-run converges, and changes nothing when
nothing changed):
  Create/Update  per service: create the schema if missing; create the user, or set its password
                 from its secret when the current one is refused (a probe login decides, so a
                 password that a rotation already set is not written again); make its grants
                 exactly SERVICE_PRIVILEGES on its schema. Update also drops the users of services
                 that were removed (their schemas and data stay).
  Delete         drop the users; drop the schemas only when DropSchemas is true.

Every name is checked against a strict allow-list before any secret is read or any SQL runs;
schema names are backtick-quoted, and accounts are passed to the driver as parameters.

The host part of every account is '%': the services connect from the private IPs of whichever
container instances run their tasks (instances are replaced and scaled), and the provisioner
from its Lambda's ENIs, so no fixed host or subnet pattern is known in advance. The network
boundary is the database's security group, which admits only the container instances and this
function; the account's password and grants are the second boundary.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from types import TracebackType

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

HOST = "%"
"""Host part of every service account (see the module docstring for why)."""

SERVICE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "CREATE", "ALTER", "INDEX")
"""What a service may do in its own schema, from what docker/common/ecs_service runs:
SELECT, INSERT   the repository's reads and writes, and schema_version
UPDATE           `INSERT ... ON DUPLICATE KEY UPDATE` on schema_version (schema.py)
CREATE           `CREATE TABLE IF NOT EXISTS` for its table and schema_version (schema.py)
ALTER, INDEX     the definition's `migrations` steps (ALTER TABLE, CREATE INDEX)
Not granted: DELETE and DROP (no code path deletes rows or drops tables, and DROP on a schema
would also allow DROP DATABASE), anything global, GRANT OPTION. The schema itself is created by
the provisioner, so the service never needs CREATE on any other name."""

USER_NAME_PATTERN = r"[a-z][a-z0-9-]{0,31}"
"""Service (and user) names: the platform's service names; MySQL allows at most 32 characters."""
SCHEMA_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
"""Schema names: at most 64 characters (MySQL's limit); no quote, backslash, '%', '.' or space."""
RESERVED_USERS = frozenset({
    "root", "mysql", "mariadb", "public", "none", "rdsadmin", "rdsrepladmin", "rdsproxyadmin",
})
"""Accounts of the server and of RDS itself (the master user is checked at run time too)."""
RESERVED_SCHEMAS = frozenset({
    "mysql", "information_schema", "performance_schema", "sys", "rdsadmin", "innodb",
})
"""System schemas (compared case-insensitively)."""

SECRET_ARN_PATTERN = r"arn:[\w-]+:secretsmanager:\S+"
ENDPOINT_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
ER_ACCESS_DENIED = 1045
CA_BUNDLE_ENV = "DB_CA_BUNDLE"
"""Path of a CA bundle (e.g. RDS's global-bundle.pem): when set, TLS is required and verified."""


class ProvisioningError(Exception):
    """A failure whose message CloudFormation shows as the reason."""


class AccessDenied(Exception):
    """The server refused the credentials (MySQL error 1045)."""


@dataclass(frozen=True)
class Endpoint:
    """Where the database listens."""

    host: str
    port: int


@dataclass(frozen=True)
class Credentials:
    """A MySQL account's name and password (the password never appears in a repr)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ServiceUser:
    """One service: its user, its schema and the secret holding its password."""

    user: str
    schema: str
    secret_arn: str


@dataclass(frozen=True)
class Request:
    """The validated ResourceProperties."""

    endpoint: Endpoint
    master_secret_arn: str
    services: tuple[ServiceUser, ...]
    drop_schemas: bool = False


@dataclass(frozen=True)
class NameProblem:
    """One invalid name: what, the value received, what is allowed, how to fix it."""

    field: str
    value: object
    allowed: str
    fix: str

    def render(self) -> str:
        """One line of the error message."""
        value = repr(self.value)
        value = value if len(value) <= 80 else value[:77] + "..."
        return f"{self.field} = {value}: allowed {self.allowed}; {self.fix}"


class Cursor(Protocol):
    """The part of a DB-API cursor the provisioner uses."""

    def __enter__(self) -> Cursor: ...

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> object: ...

    def execute(self, query: str, args: Any = None) -> int: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


class Connection(Protocol):
    """The part of a DB-API connection (autocommit on) the provisioner uses."""

    def cursor(self) -> Cursor: ...

    def close(self) -> None: ...


Connect = Callable[[Endpoint, Credentials], Connection]
"""Opens an autocommit connection; raises AccessDenied when the server refuses the password."""
SecretReader = Callable[[str], Mapping[str, Any]]
"""Returns the JSON object stored in the secret with this ARN."""


# ---------------------------------------------------------------- names


def name_problems(services: Sequence[tuple[object, object]]) -> list[NameProblem]:
    """Every invalid (user, schema) pair: pattern, reserved name, duplicate. Shared with the
    construct, so synth rejects what the handler would reject."""
    problems: list[NameProblem] = []
    if not services:
        problems.append(NameProblem(
            "services", [], "at least one service", "give each service that uses the database",
        ))
    users: set[str] = set()
    schemas: dict[str, str] = {}
    for user, schema in services:
        if not isinstance(user, str) or not re.fullmatch(USER_NAME_PATTERN, user):
            problems.append(NameProblem(
                "service", user,
                "1-32 characters: lower-case letters, digits and '-', starting with a letter "
                "(the service's MySQL user has its name, and MySQL allows 32 characters)",
                "rename the service",
            ))
        elif user in RESERVED_USERS:
            problems.append(NameProblem(
                "service", user, f"not one of {sorted(RESERVED_USERS)}",
                "rename the service: these accounts belong to the server or to RDS",
            ))
        elif user in users:
            problems.append(NameProblem(
                "service", user, "each service once", "remove the duplicate entry",
            ))
        else:
            users.add(user)
        label = f"schema of service {user!r}"
        if not isinstance(schema, str) or not re.fullmatch(SCHEMA_NAME_PATTERN, schema):
            problems.append(NameProblem(
                label, schema,
                "1-64 characters: letters, digits, '_' and '-', starting with a letter",
                "choose a plain schema name such as 'location'",
            ))
        elif schema.lower() in RESERVED_SCHEMAS:
            problems.append(NameProblem(
                label, schema, f"not one of {sorted(RESERVED_SCHEMAS)}",
                "choose a schema of the service's own: these are the server's",
            ))
        elif schema.lower() in schemas:
            problems.append(NameProblem(
                label, schema, f"a schema no other service uses (service "
                f"{schemas[schema.lower()]!r} has it)",
                "give each service its own schema: a user is limited to its own schema",
            ))
        else:
            schemas[schema.lower()] = str(user)
    return problems


def account_args(user: str) -> tuple[str, str]:
    """The `%s@%s` parameters naming a service's account (re-checked: last line of defence)."""
    if not re.fullmatch(USER_NAME_PATTERN, user):
        raise ProvisioningError(f"refusing the invalid user name {user!r}")
    return (user, HOST)


def quote_schema(schema: str) -> str:
    """A validated schema name, backtick-quoted (backticks doubled, though none can occur)."""
    if not re.fullmatch(SCHEMA_NAME_PATTERN, schema):
        raise ProvisioningError(f"refusing the invalid schema name {schema!r}")
    return "`" + schema.replace("`", "``") + "`"


def grant_pattern(schema: str) -> str:
    """The schema as a GRANT's database pattern: '_' is a wildcard there, so it is escaped
    (`a_b` would otherwise also match `aXb`). This is how the server stores and reports it."""
    return schema.replace("_", "\\_")


def quote_grant_pattern(schema: str) -> str:
    """A validated schema as a GRANT's quoted database pattern."""
    quote_schema(schema)  # validates
    return quote_identifier(grant_pattern(schema))


def quote_identifier(name: str) -> str:
    """Backtick-quote any identifier read back from the server."""
    return "`" + name.replace("`", "``") + "`"


# ---------------------------------------------------------------- properties


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def parse_request(properties: Mapping[str, Any]) -> Request:
    """Validate ResourceProperties; raise one ProvisioningError listing every problem."""
    problems: list[NameProblem] = []
    host = properties.get("Endpoint")
    if not isinstance(host, str) or not re.fullmatch(ENDPOINT_PATTERN, host):
        problems.append(NameProblem("Endpoint", host, "a DNS name or IPv4 address",
                                    "pass the database's endpoint address"))
    raw_port = properties.get("Port", 3306)
    port = int(raw_port) if re.fullmatch(r"[0-9]{1,5}", str(raw_port)) else 0
    if not 1 <= port <= 65535:
        problems.append(NameProblem("Port", raw_port, "1-65535", "pass the database's port"))
    master = properties.get("MasterSecretArn")
    if not _is_secret_arn(master):
        problems.append(NameProblem("MasterSecretArn", master, "a Secrets Manager secret ARN",
                                    "pass the master secret's ARN"))
    drop = _bool(properties.get("DropSchemas", False))
    if drop is None:
        problems.append(NameProblem("DropSchemas", properties.get("DropSchemas"),
                                    "true or false", "pass a boolean"))
    entries = properties.get("Services")
    services: list[ServiceUser] = []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        problems.append(NameProblem("Services", entries, "a list of {User, Schema, SecretArn}",
                                    "pass one entry per service"))
        entries = []
    problems += name_problems([(e.get("User"), e.get("Schema")) for e in entries])
    for entry in entries:
        if not _is_secret_arn(entry.get("SecretArn")):
            problems.append(NameProblem(
                f"SecretArn of service {entry.get('User')!r}", entry.get("SecretArn"),
                "a Secrets Manager secret ARN", "pass the service secret's ARN",
            ))
    if problems:
        lines = "\n".join(f"  - {p.render()}" for p in problems)
        raise ProvisioningError(f"invalid database users request ({len(problems)} problem(s)); "
                                f"nothing was changed:\n{lines}")
    services = [ServiceUser(e["User"], e["Schema"], e["SecretArn"]) for e in entries]
    return Request(Endpoint(str(host), port), str(master), tuple(services), bool(drop))


def _is_secret_arn(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(SECRET_ARN_PATTERN, value) is not None


# ---------------------------------------------------------------- secrets


def _read(read_secret: SecretReader, arn: str, purpose: str) -> Mapping[str, Any]:
    try:
        secret = read_secret(arn)
    except Exception as exc:
        raise ProvisioningError(f"cannot read the {purpose} secret {arn}: {exc}") from exc
    if not isinstance(secret, Mapping):
        raise ProvisioningError(f"the {purpose} secret {arn} is not a JSON object")
    return secret


def master_credentials(read_secret: SecretReader, arn: str) -> Credentials:
    """The master user from its secret."""
    secret = _read(read_secret, arn, "master")
    username, password = secret.get("username"), secret.get("password")
    if not isinstance(username, str) or not username or not isinstance(password, str):
        raise ProvisioningError(f"the master secret {arn} needs 'username' and 'password' strings")
    return Credentials(username, password)


def service_password(read_secret: SecretReader, service: ServiceUser) -> str:
    """A service's password from its secret, which must name the service's own user."""
    secret = _read(read_secret, service.secret_arn, f"service {service.user!r}")
    if secret.get("username") != service.user:
        raise ProvisioningError(
            f"the secret {service.secret_arn} of service {service.user!r} is for user "
            f"{secret.get('username')!r}; each service's secret must name its own user"
        )
    password = secret.get("password")
    if not isinstance(password, str) or not password:
        raise ProvisioningError(f"the secret {service.secret_arn} of service {service.user!r} "
                                "has no password")
    return password


# ---------------------------------------------------------------- SQL


class Session:
    """An admin connection. Every statement goes through `run`, which logs it: the text always,
    the parameters only when they carry no password."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def run(
        self, sql: str, args: Sequence[object] | None = None, *, secret: bool = False
    ) -> list[Sequence[Any]]:
        """Execute one statement; return its rows. With `secret`, the last parameter is a
        password: it is masked in the log, and on failure the server's message is withheld too
        (a syntax error quotes the statement, password included)."""
        shown = list(args or [])
        if secret:
            shown[-1:] = ["***"]
        logger.info("SQL: %s %s", sql, shown)
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        except Exception as exc:
            if secret:
                code = exc.args[0] if exc.args else "?"
                raise ProvisioningError(
                    f"{sql} {shown} failed (MySQL error {code}; message withheld: the statement "
                    "carries a password)"
                ) from None
            raise ProvisioningError(f"{sql} {shown} failed: {exc}") from exc


@contextmanager
def admin_session(connect: Connect, endpoint: Endpoint, master: Credentials) -> Iterator[Session]:
    """A session as the master user; connection failures become clear reasons."""
    where = f"MySQL at {endpoint.host}:{endpoint.port}"
    try:
        connection = connect(endpoint, master)
    except AccessDenied:
        raise ProvisioningError(
            f"{where} refused the master user {master.username!r}: the master secret's password "
            "does not match the database"
        ) from None
    except Exception as exc:
        raise ProvisioningError(
            f"cannot connect to {where} as {master.username!r}: {exc}. Check that the database "
            "is available and that its security group admits the provisioner on this port"
        ) from exc
    try:
        yield Session(connection)
    finally:
        connection.close()


def password_works(connect: Connect, endpoint: Endpoint, credentials: Credentials) -> bool:
    """Whether the server accepts these credentials (a probe login, closed at once)."""
    try:
        connection = connect(endpoint, credentials)
    except AccessDenied:
        return False
    except Exception as exc:
        raise ProvisioningError(
            f"cannot check the password of user {credentials.username!r}: {exc}"
        ) from exc
    connection.close()
    return True


def ensure_schema(db: Session, schema: str) -> None:
    """Create the schema unless it exists."""
    if not db.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (schema,)):
        db.run(f"CREATE DATABASE IF NOT EXISTS {quote_schema(schema)} CHARACTER SET utf8mb4")


def user_exists(db: Session, user: str) -> bool:
    """Whether the service's account exists."""
    return bool(db.run("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                       account_args(user)))


def ensure_user(
    db: Session, connect: Connect, endpoint: Endpoint, user: str, password: str
) -> None:
    """Create the account, or set its password when the server refuses the one in its secret."""
    if not user_exists(db, user):
        db.run("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
               (*account_args(user), password), secret=True)
    elif not password_works(connect, endpoint, Credentials(user, password)):
        db.run("ALTER USER %s@%s IDENTIFIED BY %s", (*account_args(user), password), secret=True)


Privilege = tuple[str, str, str, str]
"""(level, object, privilege, grantable): one privilege an account holds."""


def privileges_of(db: Session, user: str) -> set[Privilege]:
    """Everything the account may do: global, schema, table, column and routine privileges and
    granted roles (GRANT OPTION shows as grantable 'YES')."""
    grantee = "'{}'@'{}'".format(*account_args(user))  # information_schema's GRANTEE format
    held: set[Privilege] = set()
    for privilege, grantable in db.run(
        "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES"
        " WHERE GRANTEE = %s", (grantee,),
    ):
        if privilege != "USAGE" or grantable == "YES":
            held.add(("global", "*.*", privilege, grantable))
    for schema, privilege, grantable in db.run(
        "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s", (grantee,),
    ):
        held.add(("schema", schema, privilege, grantable))
    for schema, table, privilege, grantable in db.run(
        "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s", (grantee,),
    ):
        held.add(("table", f"{schema}.{table}", privilege, grantable))
    for schema, table, column, privilege, grantable in db.run(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE, IS_GRANTABLE"
        " FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = %s", (grantee,),
    ):
        held.add(("column", f"{schema}.{table}.{column}", privilege, grantable))
    for schema, routine, privileges in db.run(
        "SELECT Db, Routine_name, Proc_priv FROM mysql.procs_priv WHERE User = %s AND Host = %s",
        account_args(user),
    ):
        held.add(("routine", f"{schema}.{routine}", str(privileges), ""))
    for role in granted_roles(db, user):
        held.add(("role", role[0], role[1], ""))
    return held


def granted_roles(db: Session, user: str) -> list[tuple[str, str]]:
    """Roles granted to the account, as (name, host): MySQL 8 keeps them in mysql.role_edges,
    MariaDB in mysql.roles_mapping (its roles have no host)."""
    tables = {row[0] for row in db.run(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql'"
        " AND TABLE_NAME IN ('role_edges', 'roles_mapping')"
    )}
    if "role_edges" in tables:
        return [(str(name), str(host)) for name, host in db.run(
            "SELECT FROM_USER, FROM_HOST FROM mysql.role_edges WHERE TO_USER = %s AND TO_HOST = %s",
            account_args(user),
        )]
    if "roles_mapping" in tables:
        return [(str(name), "") for (name,) in db.run(
            "SELECT Role FROM mysql.roles_mapping WHERE User = %s AND Host = %s",
            account_args(user),
        )]
    return []


def wanted_privileges(schema: str) -> set[Privilege]:
    """SERVICE_PRIVILEGES on the service's own schema, without GRANT OPTION."""
    return {("schema", grant_pattern(schema), p, "NO") for p in SERVICE_PRIVILEGES}


def ensure_grants(db: Session, user: str, schema: str) -> None:
    """Make the account's privileges exactly `wanted_privileges(schema)`.

    Anything extra (another schema, a global privilege, GRANT OPTION, a table, column or routine
    grant, a role) is removed by revoking everything, then granting the wanted set again; only
    missing privileges are simply granted, so a service never loses access on a normal run."""
    held, wanted = privileges_of(db, user), wanted_privileges(schema)
    if held == wanted:
        return
    if held - wanted:
        db.run("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account_args(user))
        for name, host in granted_roles(db, user):
            if host:
                db.run("REVOKE %s@%s FROM %s@%s", (name, host, *account_args(user)))
            else:
                db.run(f"REVOKE {quote_identifier(name)} FROM %s@%s", account_args(user))
    db.run(
        f"GRANT {', '.join(SERVICE_PRIVILEGES)} ON {quote_grant_pattern(schema)}.* TO %s@%s",
        account_args(user),
    )


def drop_user(db: Session, user: str) -> None:
    """Drop the account (its schema and data stay)."""
    if user_exists(db, user):
        db.run("DROP USER IF EXISTS %s@%s", account_args(user))


def drop_schema(db: Session, schema: str) -> None:
    """Drop the schema and its data."""
    if db.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (schema,)):
        db.run(f"DROP DATABASE IF EXISTS {quote_schema(schema)}")


# ---------------------------------------------------------------- lifecycle


def _check_master_is_not_a_service(master: Credentials, request: Request) -> None:
    for service in request.services:
        if service.user == master.username:
            raise ProvisioningError(
                f"service {service.user!r} has the master user's name; rename the service (the "
                "provisioner never changes the master user); nothing was changed"
            )


def provision(
    request: Request, previous: Request | None, *, connect: Connect, read_secret: SecretReader
) -> None:
    """Create or update: schemas, users, passwords and exact grants; drop removed users."""
    master = master_credentials(read_secret, request.master_secret_arn)
    _check_master_is_not_a_service(master, request)
    passwords = {s.user: service_password(read_secret, s) for s in request.services}
    with admin_session(connect, request.endpoint, master) as db:
        for service in request.services:
            ensure_schema(db, service.schema)
            ensure_user(db, connect, request.endpoint, service.user, passwords[service.user])
            ensure_grants(db, service.user, service.schema)
        # Users of removed services, on the same server only: after a move to another database,
        # the old server's accounts are not this one's to drop.
        if previous is not None and previous.endpoint == request.endpoint:
            kept = {s.user for s in request.services} | {master.username}
            for service in previous.services:
                if service.user not in kept:
                    drop_user(db, service.user)


def remove(request: Request, *, connect: Connect, read_secret: SecretReader) -> None:
    """Delete: drop the users; drop the schemas only when asked to."""
    master = master_credentials(read_secret, request.master_secret_arn)
    with admin_session(connect, request.endpoint, master) as db:
        for service in request.services:
            if service.user == master.username:
                continue
            drop_user(db, service.user)
            if request.drop_schemas:
                drop_schema(db, service.schema)


def on_event(
    event: Mapping[str, Any], *, connect: Connect, read_secret: SecretReader
) -> dict[str, Any]:
    """Handle one Create, Update or Delete; return the Provider framework's response."""
    kind = event.get("RequestType")
    logger.info("%s %s", kind, event.get("LogicalResourceId"))  # never the whole event
    properties = event.get("ResourceProperties") or {}
    if kind == "Create":
        physical_id = f"database-users-{event.get('RequestId', 'local')}"
        request = parse_request(properties)
        provision(request, None, connect=connect, read_secret=read_secret)
    elif kind == "Update":
        physical_id = str(event["PhysicalResourceId"])
        request = parse_request(properties)
        provision(request, _applied(event.get("OldResourceProperties") or {}),
                  connect=connect, read_secret=read_secret)
    elif kind == "Delete":
        physical_id = str(event["PhysicalResourceId"])
        applied = _applied(properties)
        if applied is not None:
            remove(applied, connect=connect, read_secret=read_secret)
        return {"PhysicalResourceId": physical_id}
    else:
        raise ProvisioningError(f"unknown RequestType {kind!r}")
    return {
        "PhysicalResourceId": physical_id,
        "Data": {"Users": ",".join(s.user for s in request.services)},
    }


def _applied(properties: Mapping[str, Any]) -> Request | None:
    """Properties that were applied before. Create and Update validate everything before any SQL
    runs, so properties that do not validate were never applied: there is nothing of theirs to
    remove (and failing a Delete on them would only leave the stack stuck)."""
    try:
        return parse_request(properties)
    except ProvisioningError as exc:
        logger.warning("previous properties were never applied: %s", exc)
        return None


# ---------------------------------------------------------------- Lambda


def connect_mysql(endpoint: Endpoint, credentials: Credentials) -> Connection:
    """PyMySQL, autocommit. TLS: verified against $DB_CA_BUNDLE when set; otherwise PyMySQL's
    preferred mode (encrypted whenever the server offers TLS, as RDS does)."""
    import pymysql

    ca = os.environ.get(CA_BUNDLE_ENV) or None
    try:
        return pymysql.connect(
            host=endpoint.host, port=endpoint.port,
            user=credentials.username, password=credentials.password,
            autocommit=True, charset="utf8mb4",
            connect_timeout=10, read_timeout=60, write_timeout=60,
            ssl_ca=ca, ssl_verify_identity=ca is not None,
        )
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == ER_ACCESS_DENIED:
            raise AccessDenied(credentials.username) from None
        raise


_secrets_client: Any = None


def read_secretsmanager(arn: str) -> Mapping[str, Any]:
    """The secret's current value (AWSCURRENT), parsed as JSON."""
    global _secrets_client
    if _secrets_client is None:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        _secrets_client = boto3.client(
            "secretsmanager",
            config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}),
        )
    value = json.loads(_secrets_client.get_secret_value(SecretId=arn)["SecretString"])
    if not isinstance(value, dict):
        raise ValueError("the secret is not a JSON object")
    return value


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point (`index.handler`): Secrets Manager and PyMySQL."""
    return on_event(event, connect=connect_mysql, read_secret=read_secretsmanager)
