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
  AdoptExistingUsers    "true": an account that exists but was not created by this provisioner
                        is taken over (password and grants). Default: refused.
  AdoptExistingSchemas  "true": a schema that exists but was not created by this provisioner is
                        granted to its service. Default: refused.
  DropAdopted      "true": Delete (and removing a service) also drops what was adopted.
                   Default: adopted accounts and schemas are left as they are.

It never touches what it did not create. The record of what it created lives on the server
itself, in RECORD_SCHEMA.RECORD_TABLE (one row per account and per schema: its owner, the
resource that last provisioned it, and whether it was created or adopted); MariaDB has no user
attributes and MySQL's are not in every version, so a table is what works on both. The owner is
the stack (partition, region, account and name, from the event's StackId) and the logical ID of
the custom resource: the same on Create, Update, Delete and replacement, and after the stack is
deleted and deployed again under its name; another stack (or another resource) is another owner,
and its accounts and schemas are refused. An account or schema that exists without a row is
refused unless adoption is asked for; Delete drops only rows of its owner whose resource is the
one being deleted (a replacement's Delete of the old resource leaves the new one's alone), and
adopted ones only with DropAdopted.

CREATE USER and CREATE DATABASE cannot share a transaction with the row (DDL commits), so the
row is written first as 'creating', then the object is created (it fails if the object appeared
in between), then the row becomes 'created'. A run that died in between finds a 'creating' row:
the account is its own when the password in the service's secret opens it (nobody else has that
password), the schema when it holds no table yet (nothing is lost by granting an empty schema);
otherwise the row is removed and the object refused as foreign.

Lifecycle, every step idempotent (a retry or a re-run converges, and changes nothing when
nothing changed):
  Create/Update  first, for every service, whether its account and schema are its own to manage
                 (one error naming every refused account and schema, before any change); then per
                 service: create the schema if missing; create the user, or set its password
                 from its secret when the current one is refused (a probe login decides, so a
                 password that a rotation already set is not written again); make its grants
                 exactly SERVICE_PRIVILEGES on its schema. Update also drops the users of services
                 that were removed (their schemas and data stay), when they are its own.
  Delete         drop its own users; drop its own schemas only when DropSchemas is true.

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
import socket
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
RECORD_SCHEMA = "ecs_playground_provisioner"
"""The provisioner's own schema on the server: the record of what it created."""
RECORD_TABLE = "owned"
RESERVED_SCHEMAS = frozenset({
    "mysql", "information_schema", "performance_schema", "sys", "rdsadmin", "innodb",
    RECORD_SCHEMA,
})
"""System schemas (compared case-insensitively)."""

SECRET_ARN_PATTERN = r"arn:[\w-]+:secretsmanager:\S+"
ENDPOINT_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
STACK_ID_PATTERN = (r"arn:([\w-]+):cloudformation:([a-z0-9-]+):([0-9]{12}):"
                    r"stack/([A-Za-z][A-Za-z0-9-]{0,127})/\S+")
ER_ACCESS_DENIED = 1045
CONNECT_TIMEOUT_SECONDS = 10
"""How long the provisioner waits for the database to accept its TCP connection."""
READ_TIMEOUT_SECONDS = 30
"""How long it waits for any answer (the greeting, a login, a statement's result)."""
WRITE_TIMEOUT_SECONDS = 30
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
    adopt_users: bool = False
    adopt_schemas: bool = False
    drop_adopted: bool = False


@dataclass(frozen=True)
class Owner:
    """Who provisions: the stack (without its unique suffix) and the custom resource's logical ID,
    both from the event CloudFormation sends, and the resource's physical ID."""

    stack: str
    """`arn:<partition>:cloudformation:<region>:<account>:stack/<name>`."""
    logical_id: str
    physical_id: str

    @property
    def key(self) -> str:
        """The owner as recorded: the same for the stack's resource whatever its physical ID."""
        return f"{self.stack}/{self.logical_id}"


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
    flags: dict[str, bool] = {}
    for name in ("DropSchemas", "AdoptExistingUsers", "AdoptExistingSchemas", "DropAdopted"):
        flag = _bool(properties.get(name, False))
        if flag is None:
            problems.append(NameProblem(name, properties.get(name), "true or false",
                                        "pass a boolean"))
        flags[name] = bool(flag)
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
    return Request(
        Endpoint(str(host), port), str(master), tuple(services), flags["DropSchemas"],
        adopt_users=flags["AdoptExistingUsers"], adopt_schemas=flags["AdoptExistingSchemas"],
        drop_adopted=flags["DropAdopted"],
    )


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


class StatementFailed(ProvisioningError):
    """A statement the server refused; `code` is the MySQL error number (0 when unknown)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _error_code(exc: BaseException) -> int:
    code = exc.args[0] if exc.args else 0
    return code if isinstance(code, int) else 0


def timed_out(exc: BaseException) -> bool:
    """Whether a connection or statement failed because the other side did not answer in time
    (PyMySQL reports it as error 2003/2013 '... (timed out)'; sockets as TimeoutError)."""
    return isinstance(exc, (TimeoutError, socket.timeout)) or "timed out" in str(exc)


def no_answer(where: str) -> str:
    """The reason given when the database does not answer."""
    return (
        f"{where} did not answer within {READ_TIMEOUT_SECONDS} s (connect timeout "
        f"{CONNECT_TIMEOUT_SECONDS} s): check that the endpoint and port are the database's, that "
        "it is available, and that its security group admits the provisioner"
    )


class Session:
    """An admin connection. Every statement goes through `run`, which logs it: the text always,
    the parameters only when they carry no password."""

    def __init__(self, connection: Connection, where: str = "MySQL") -> None:
        self._connection = connection
        self.where = where
        """What the session is connected to, e.g. 'MySQL at db.example:3306' (for messages)."""

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
            code = _error_code(exc)
            if timed_out(exc):
                raise StatementFailed(f"{sql} {shown}: {no_answer(self.where)}", code) from None
            if secret:
                raise StatementFailed(
                    f"{sql} {shown} failed (MySQL error {code or '?'}; message withheld: the "
                    "statement carries a password)", code,
                ) from None
            raise StatementFailed(f"{sql} {shown} failed: {exc}", code) from exc


def where_of(endpoint: Endpoint) -> str:
    """'MySQL at host:port', for messages."""
    return f"MySQL at {endpoint.host}:{endpoint.port}"


@contextmanager
def admin_session(connect: Connect, endpoint: Endpoint, master: Credentials) -> Iterator[Session]:
    """A session as the master user; connection failures become clear reasons."""
    where = where_of(endpoint)
    try:
        connection = connect(endpoint, master)
    except AccessDenied:
        raise ProvisioningError(
            f"{where} refused the master user {master.username!r}: the master secret's password "
            "does not match the database"
        ) from None
    except Exception as exc:
        if timed_out(exc):
            raise ProvisioningError(
                f"cannot log in as {master.username!r}: {no_answer(where)}"
            ) from None
        raise ProvisioningError(
            f"cannot connect to {where} as {master.username!r}: {exc}. Check that the database "
            "is available and that its security group admits the provisioner on this port"
        ) from exc
    try:
        yield Session(connection, where)
    finally:
        connection.close()


def password_works(connect: Connect, endpoint: Endpoint, credentials: Credentials) -> bool:
    """Whether the server accepts these credentials (a probe login, closed at once)."""
    try:
        connection = connect(endpoint, credentials)
    except AccessDenied:
        return False
    except Exception as exc:
        reason = no_answer(where_of(endpoint)) if timed_out(exc) else str(exc)
        raise ProvisioningError(
            f"cannot check the password of user {credentials.username!r}: {reason}"
        ) from None
    connection.close()
    return True


def schema_exists(db: Session, schema: str) -> bool:
    """Whether the schema exists."""
    return bool(db.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                       (schema,)))


def schema_is_empty(db: Session, schema: str) -> bool:
    """Whether the schema holds no table, view or routine."""
    return not db.run(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s UNION ALL "
        "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s LIMIT 1",
        (schema, schema),
    )


def user_exists(db: Session, user: str) -> bool:
    """Whether the service's account exists."""
    return bool(db.run("SELECT 1 FROM mysql.user WHERE User = %s AND Host = %s",
                       account_args(user)))


def set_password(
    db: Session, connect: Connect, endpoint: Endpoint, user: str, password: str
) -> None:
    """Set the account's password from its secret when the server refuses the one there."""
    if not password_works(connect, endpoint, Credentials(user, password)):
        db.run("ALTER USER %s@%s IDENTIFIED BY %s", (*account_args(user), password), secret=True)


# ---------------------------------------------------------------- the record of what it created


USER, SCHEMA = "user", "schema"
CREATING, CREATED, ADOPTED = "creating", "created", "adopted"
ER_DUP_ENTRY, ER_DB_CREATE_EXISTS, ER_CANNOT_USER = 1062, 1007, 1396


@dataclass(frozen=True)
class Record:
    """One row of the record: an account (`user`, host '%') or a schema, who owns it, which
    resource last provisioned it, and whether it was created or adopted."""

    kind: str
    name: str
    owner: str
    resource: str
    state: str

    def label(self) -> str:
        """"account 'x'@'%'" or "schema `x`", for messages."""
        return describe(self.kind, self.name)


def describe(kind: str, name: str) -> str:
    """How messages name an account or a schema."""
    return f"account '{name}'@'{HOST}'" if kind == USER else f"schema `{name}`"


def record_table() -> str:
    """The record table, quoted."""
    return f"{quote_identifier(RECORD_SCHEMA)}.{quote_identifier(RECORD_TABLE)}"


def record_table_exists(db: Session) -> bool:
    """Whether a provisioner ever recorded anything on this server."""
    return bool(db.run(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (RECORD_SCHEMA, RECORD_TABLE),
    ))


def ensure_record_table(db: Session) -> None:
    """Create the record's schema and table unless they exist (names are case-sensitive, as
    MySQL's account and, on Linux, schema names are)."""
    if record_table_exists(db):
        return
    db.run(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(RECORD_SCHEMA)} "
           "CHARACTER SET utf8mb4")
    db.run(
        f"CREATE TABLE IF NOT EXISTS {record_table()} ("
        "kind VARCHAR(8) NOT NULL, "
        "name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
        "owner VARCHAR(512) NOT NULL, "
        "resource VARCHAR(1024) NOT NULL, "
        "state VARCHAR(8) NOT NULL, "
        "changed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, "
        "PRIMARY KEY (kind, name)) ENGINE=InnoDB"
    )


def read_record(db: Session, kind: str, name: str) -> Record | None:
    """The row of this account or schema, if any."""
    rows = db.run(f"SELECT owner, resource, state FROM {record_table()} "
                  "WHERE kind = %s AND name = %s", (kind, name))
    return Record(kind, name, str(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None


def insert_record(db: Session, kind: str, name: str, owner: Owner, state: str) -> None:
    """Claim an account or schema that has no row; a row written meanwhile (another provisioner
    at the same moment) wins, and this one refuses."""
    try:
        db.run(f"INSERT INTO {record_table()} (kind, name, owner, resource, state) "
               "VALUES (%s, %s, %s, %s, %s)", (kind, name, owner.key, owner.physical_id, state))
    except StatementFailed as exc:
        if exc.code != ER_DUP_ENTRY:
            raise
        other = read_record(db, kind, name)
        raise ProvisioningError(
            f"{describe(kind, name)} was claimed meanwhile by "
            f"{other.owner if other else 'another provisioner'}; nothing of it was changed"
        ) from None


def update_record(db: Session, record: Record, owner: Owner, state: str) -> None:
    """Move one of its own rows to this resource and state (no write when nothing changes)."""
    if (record.resource, record.state) != (owner.physical_id, state):
        db.run(f"UPDATE {record_table()} SET resource = %s, state = %s "
               "WHERE kind = %s AND name = %s AND owner = %s",
               (owner.physical_id, state, record.kind, record.name, owner.key))


def delete_record(db: Session, record: Record) -> None:
    """Forget one of its own rows."""
    db.run(f"DELETE FROM {record_table()} WHERE kind = %s AND name = %s AND owner = %s",
           (record.kind, record.name, record.owner))


def reassign_record(db: Session, record: Record, owner: str) -> None:
    """Give a row to another owner (the local emulator's hand-over between emulated stacks that
    share one local server; the provisioner itself never does this)."""
    db.run(f"UPDATE {record_table()} SET owner = %s WHERE kind = %s AND name = %s AND owner = %s",
           (owner, record.kind, record.name, record.owner))


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


# ---------------------------------------------------------------- ownership


@dataclass(frozen=True)
class Claim:
    """What a run may do with one account or schema: `create` it (missing), `keep` managing it
    (its own, or its own interrupted creation proven), `adopt` it (existing, adoption asked for,
    or provisioned by this very resource before the record existed)."""

    kind: str
    name: str
    action: str
    record: Record | None


def _refusal(kind: str, name: str, service: str, endpoint: Endpoint, why: str, fix: str) -> str:
    return (f"{describe(kind, name)} of service {service!r} on {where_of(endpoint)}: {why}; "
            f"{fix}")


def claim(
    db: Session, kind: str, name: str, service: ServiceUser, owner: Owner, request: Request,
    *, connect: Connect, password: str, provisioned_before: bool,
) -> Claim | str:
    """Whether this run may manage one account or schema: a Claim, or the reason it may not.
    Reads only (a probe login at most); nothing is changed."""
    record = read_record(db, kind, name) if record_table_exists(db) else None
    exists = user_exists(db, name) if kind == USER else schema_exists(db, name)
    adopt = request.adopt_users if kind == USER else request.adopt_schemas
    prop = "adopt_existing_users" if kind == USER else "adopt_existing_schemas"
    rename = ("rename the service" if kind == USER
              else "give the service another schema (its dbName)")
    if record is not None and record.owner != owner.key:
        return _refusal(
            kind, name, service.user, request.endpoint,
            f"it belongs to {record.owner} (the provisioner of another stack or resource "
            "created or adopted it), and is never taken over",
            f"{rename}, or remove the service from that stack first",
        )
    if not exists:
        return Claim(kind, name, "create", record)
    if record is None:
        if adopt or (provisioned_before and _provisioned_by_an_earlier_version(
                db, connect, request.endpoint, service, password)):
            return Claim(kind, name, "adopt", None)
        what = ("its password would be reset and its privileges replaced" if kind == USER
                else "it would be granted to the service, and its data with it")
        return _refusal(
            kind, name, service.user, request.endpoint,
            f"it exists and was not created by this provisioner, so it is left alone ({what})",
            f"{rename}, or set DatabaseUsersProps.{prop}=True to take it over",
        )
    if record.state != CREATING:
        return Claim(kind, name, "keep", record)
    # An earlier run died between writing the row and creating the object (or just after).
    proven = (password_works(connect, request.endpoint, Credentials(name, password))
              if kind == USER else schema_is_empty(db, name))
    if proven:
        return Claim(kind, name, "keep", record)
    if adopt:
        return Claim(kind, name, "adopt", record)
    return _refusal(
        kind, name, service.user, request.endpoint,
        "an interrupted run of this provisioner meant to create it, but it exists and "
        + ("the service's password does not open it" if kind == USER else "holds tables")
        + ", so it may be someone else's",
        f"{rename}, or set DatabaseUsersProps.{prop}=True to take it over",
    )


def _provisioned_by_an_earlier_version(
    db: Session, connect: Connect, endpoint: Endpoint, service: ServiceUser, password: str
) -> bool:
    """Whether the service's account and schema are what a version without the record made for
    this very resource: its applied properties name them (the caller checks), the password in
    the service's secret opens the account, and the account holds privileges on the schema."""
    return (
        user_exists(db, service.user)
        and ("schema", grant_pattern(service.schema), "SELECT", "NO") in privileges_of(
            db, service.user)
        and password_works(connect, endpoint, Credentials(service.user, password))
    )


def apply_claim(
    db: Session, found: Claim, owner: Owner, create: str, args: Sequence[object] = (),
    *, secret: bool = False,
) -> None:
    """Record, then (for `create`) run the `create` statement: the row comes first, so a run that
    dies in between leaves a 'creating' row the next run resolves (see the module docstring)."""
    if found.action == "create":
        if found.record is None:
            insert_record(db, found.kind, found.name, owner, CREATING)
            pending = Record(found.kind, found.name, owner.key, owner.physical_id, CREATING)
        else:
            update_record(db, found.record, owner, CREATING)
            pending = Record(found.kind, found.name, owner.key, owner.physical_id, CREATING)
        try:
            db.run(create, args or None, secret=secret)
        except StatementFailed as exc:
            if exc.code not in (ER_CANNOT_USER, ER_DB_CREATE_EXISTS):
                raise
            delete_record(db, pending)
            raise ProvisioningError(
                f"{describe(found.kind, found.name)} appeared while this provisioner was "
                "creating it (someone else created it); it is left alone and nothing of it was "
                "changed"
            ) from None
        update_record(db, pending, owner, CREATED)
    elif found.action == "adopt":
        if found.record is None:
            insert_record(db, found.kind, found.name, owner, ADOPTED)
        else:
            update_record(db, found.record, owner, ADOPTED)
    else:
        assert found.record is not None
        state = CREATED if found.record.state == CREATING else found.record.state
        update_record(db, found.record, owner, state)


def droppable(record: Record, drop_adopted: bool) -> bool:
    """Whether an account or schema of this resource's (the caller checks the row's owner and
    resource) may be dropped: created by it, or adopted with DropAdopted."""
    return record.state == CREATED or (record.state == ADOPTED and drop_adopted)


def release(db: Session, kind: str, name: str, owner: Owner, *, drop: bool,
            drop_adopted: bool) -> None:
    """Drop an account, or a schema when `drop`, if it is this resource's to drop: its owner's
    row, written by this very resource (not by a replacement, whose Delete of the old resource
    then leaves the new one's alone). Forget the row of what is dropped or was only adopted.
    Anything else is left alone, and logged."""
    record = read_record(db, kind, name) if record_table_exists(db) else None
    if record is None or record.owner != owner.key or record.resource != owner.physical_id:
        logger.warning("%s is not this resource's (%s): left alone", describe(kind, name),
                       record.owner if record else "no record")
        return
    if drop and droppable(record, drop_adopted):
        if kind == USER:
            db.run("DROP USER IF EXISTS %s@%s", account_args(name))
        else:
            db.run(f"DROP DATABASE IF EXISTS {quote_schema(name)}")
        delete_record(db, record)
    elif record.state != CREATED:
        # adopted (kept, and no longer this stack's to manage) or an unfinished creation
        logger.warning("%s is left as it is (%s)", describe(kind, name), record.state)
        delete_record(db, record)


# ---------------------------------------------------------------- lifecycle


def _check_master_is_not_a_service(master: Credentials, request: Request) -> None:
    for service in request.services:
        if service.user == master.username:
            raise ProvisioningError(
                f"service {service.user!r} has the master user's name; rename the service (the "
                "provisioner never changes the master user); nothing was changed"
            )


def provision(
    request: Request, previous: Request | None, owner: Owner, *, connect: Connect,
    read_secret: SecretReader,
) -> None:
    """Create or update: check ownership of everything first, then schemas, users, passwords
    and exact grants; drop its own users of removed services."""
    master = master_credentials(read_secret, request.master_secret_arn)
    _check_master_is_not_a_service(master, request)
    passwords = {s.user: service_password(read_secret, s) for s in request.services}
    # Provisioned by this very resource before the record existed (an earlier version): what
    # CloudFormation applied last on the same server.
    before = (previous.services if previous is not None
              and previous.endpoint == request.endpoint else ())
    with admin_session(connect, request.endpoint, master) as db:
        claims: dict[tuple[str, str], Claim] = {}
        refused: list[str] = []
        for service in request.services:
            for kind, name in ((SCHEMA, service.schema), (USER, service.user)):
                found = claim(
                    db, kind, name, service, owner, request, connect=connect,
                    password=passwords[service.user],
                    provisioned_before=any(
                        (s.user if kind == USER else s.schema) == name for s in before
                    ),
                )
                if isinstance(found, str):
                    refused.append(found)
                else:
                    claims[kind, name] = found
        if refused:
            lines = "\n".join(f"  - {r}" for r in refused)
            raise ProvisioningError(
                f"refusing to touch what this provisioner did not create ({len(refused)} "
                f"problem(s)); nothing was changed:\n{lines}"
            )
        ensure_record_table(db)
        for service in request.services:
            schema, user = service.schema, service.user
            apply_claim(db, claims[SCHEMA, schema], owner,
                        f"CREATE DATABASE {quote_schema(schema)} CHARACTER SET utf8mb4")
            apply_claim(db, claims[USER, user], owner, "CREATE USER %s@%s IDENTIFIED BY %s",
                        (*account_args(user), passwords[user]), secret=True)
            if claims[USER, user].action != "create":
                set_password(db, connect, request.endpoint, user, passwords[user])
            ensure_grants(db, user, schema)
        # Users of removed services, on the same server only: after a move to another database,
        # the old server's accounts are not this one's to drop.
        if previous is not None and previous.endpoint == request.endpoint:
            kept = {s.user for s in request.services} | {master.username}
            for service in previous.services:
                if service.user not in kept:
                    release(db, USER, service.user, owner, drop=True,
                            drop_adopted=request.drop_adopted)


def remove(
    request: Request, owner: Owner, *, connect: Connect, read_secret: SecretReader
) -> None:
    """Delete: drop its own users; drop its own schemas only when asked to."""
    master = master_credentials(read_secret, request.master_secret_arn)
    with admin_session(connect, request.endpoint, master) as db:
        for service in request.services:
            if service.user != master.username:
                release(db, USER, service.user, owner, drop=True,
                        drop_adopted=request.drop_adopted)
            release(db, SCHEMA, service.schema, owner, drop=request.drop_schemas,
                    drop_adopted=request.drop_adopted)


REQUEST_TYPES = ("Create", "Update", "Delete")


def event_owner(event: object) -> Owner:
    """The owner the event speaks for; one ProvisioningError naming every malformed field."""
    if not isinstance(event, Mapping):
        raise ProvisioningError(f"malformed event: a JSON object expected, got {type(event)}")
    problems: list[NameProblem] = []
    kind = event.get("RequestType")
    if kind not in REQUEST_TYPES:
        problems.append(NameProblem("RequestType", kind, " or ".join(REQUEST_TYPES),
                                    "send a CloudFormation custom resource event"))
    stack_id = event.get("StackId")
    stack = re.fullmatch(STACK_ID_PATTERN, stack_id) if isinstance(stack_id, str) else None
    if stack is None:
        problems.append(NameProblem(
            "StackId", stack_id, "a CloudFormation stack ARN "
            "(arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>)",
            "send the event CloudFormation sent",
        ))
    logical_id = event.get("LogicalResourceId")
    if not isinstance(logical_id, str) or not re.fullmatch(r"[A-Za-z0-9]{1,255}", logical_id):
        problems.append(NameProblem("LogicalResourceId", logical_id,
                                    "the custom resource's logical ID (1-255 letters and digits)",
                                    "send the event CloudFormation sent"))
    needed = {"Create": ("RequestId",), "Update": ("PhysicalResourceId",),
              "Delete": ("PhysicalResourceId",)}.get(str(kind), ())
    for key in needed:
        value = event.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 1024:
            problems.append(NameProblem(key, value, f"a non-empty string (every {kind} event "
                                        "has one)", "send the event CloudFormation sent"))
    bodies = ["ResourceProperties"] + (["OldResourceProperties"] if kind == "Update" else [])
    for key in bodies:
        if not isinstance(event.get(key), Mapping):
            problems.append(NameProblem(key, event.get(key), "an object",
                                        "send the event CloudFormation sent"))
    if problems:
        lines = "\n".join(f"  - {p.render()}" for p in problems)
        raise ProvisioningError(f"malformed {kind if isinstance(kind, str) else ''} event "
                                f"({len(problems)} problem(s)); nothing was changed:\n{lines}")
    assert stack is not None
    partition, region, account, name = stack.groups()
    physical = (f"database-users-{event['RequestId']}" if kind == "Create"
                else str(event["PhysicalResourceId"]))
    return Owner(f"arn:{partition}:cloudformation:{region}:{account}:stack/{name}",
                 str(logical_id), physical)


def on_event(
    event: Mapping[str, Any], *, connect: Connect, read_secret: SecretReader
) -> dict[str, Any]:
    """Handle one Create, Update or Delete; return the Provider framework's response."""
    kind = event.get("RequestType") if isinstance(event, Mapping) else None
    logger.info("%s %s", kind, event.get("LogicalResourceId")  # never the whole event
                if isinstance(event, Mapping) else None)
    owner = event_owner(event)
    properties = event["ResourceProperties"]
    if kind == "Delete":
        applied = _applied(properties)
        if applied is not None:
            remove(applied, owner, connect=connect, read_secret=read_secret)
        return {"PhysicalResourceId": owner.physical_id}
    request = parse_request(properties)
    previous = _applied(event["OldResourceProperties"]) if kind == "Update" else None
    provision(request, previous, owner, connect=connect, read_secret=read_secret)
    return {
        "PhysicalResourceId": owner.physical_id,
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
            connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
            write_timeout=WRITE_TIMEOUT_SECONDS,
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
