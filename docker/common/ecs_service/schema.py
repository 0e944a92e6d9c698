"""Idempotent, concurrency-safe schema creation and migration.

The service's table gets version 1 from its definition's fields; each entry
of the definition's ``migrations`` list is one further version.  The applied
version of each table is kept in a shared ``schema_version`` table (several
services may share one database).  A MySQL named lock (``GET_LOCK``)
serialises migrations, so tasks starting together against an empty
database apply each step exactly once.

The database itself is created first when it does not exist (a fresh RDS
instance has only its master user): ``CREATE DATABASE IF NOT EXISTS`` on a
connection without a default database.  The server makes that statement
atomic, so tasks starting together both succeed and the database is created
once.

A table dropped after its versions were recorded is re-created through the
same steps, under the same lock, so tasks noticing it together re-create it
once.  A table that exists but lacks columns the service reads is not
touched (re-creating it would lose its rows): it is reported, with the
statements that repair it, until someone repairs it.  So is a column that
cannot hold what the service accepts (a field widened, made optional or given
a wider range in the definition without a migration): the task fails its
health check instead of answering such a request with a server error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence

import pymysql

from ecs_service.db import (
    ER_BAD_DB_ERROR,
    ER_BAD_FIELD_ERROR,
    ER_DBACCESS_DENIED_ERROR,
    ER_NO_SUCH_TABLE,
    ConnectionPool,
    DatabaseUnavailable,
    DictConnection,
    error_code,
)
from ecs_service.definition import FieldSpec, ServiceDefinition

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 5
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
VERSION_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS `schema_version` ("
    " `component` VARCHAR(64) NOT NULL PRIMARY KEY,"
    " `version` INT NOT NULL,"
    " `applied_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP"
    f") {TABLE_OPTIONS}"
)


# Server errors meaning "this user may not create the database": access denied
# to the database, a missing global privilege, a read-only server.
CREATE_DENIED_CODES = frozenset({ER_DBACCESS_DENIED_ERROR, 1227, 1290})


class MigrationLockTimeout(DatabaseUnavailable):
    """Another task held the migration lock for too long."""


class DatabaseAccessDenied(DatabaseUnavailable):
    """This user may not use the database (a configuration problem, logged as an error)."""

    log_message = "access denied to the database; retrying"


class DatabaseCreateDenied(DatabaseAccessDenied):
    """The database does not exist and this user may not create it."""

    log_message = "cannot create the database; retrying"


class SchemaDamaged(DatabaseUnavailable):
    """The table exists but lacks columns the service reads, or has columns too narrow for what
    it accepts (an operator or a migration must repair it)."""

    log_message = "schema damaged; retrying"


def quote(identifier: str) -> str:
    """Backtick-quote an identifier (embedded backticks doubled, as MySQL requires).

    Every identifier is validated before it gets here (the definition's
    names, ``DB_NAME``); the doubling is a second line of defence.
    """
    return "`" + identifier.replace("`", "``") + "`"


def create_database_ddl(database: str) -> str:
    """``CREATE DATABASE IF NOT EXISTS`` for *database*, utf8mb4 like the tables."""
    return f"CREATE DATABASE IF NOT EXISTS {quote(database)} CHARACTER SET utf8mb4"


def create_database(conn: DictConnection, database: str) -> None:
    """Create *database* unless it exists (*conn* needs no default database)."""
    with conn.cursor() as cur:
        cur.execute(create_database_ddl(database))


def column_ddl(field: FieldSpec) -> str:
    """The column definition of one field."""
    if field.type == "string":
        sql_type = f"VARCHAR({field.max_length})"
    else:
        sql_type = "BIGINT UNSIGNED" if field.unsigned else "BIGINT"
    null = "NOT NULL" if field.required else "NULL"
    return f"{quote(field.name)} {sql_type} {null}"


def table_columns(definition: ServiceDefinition) -> list[tuple[str, str]]:
    """``(name, column definition)`` of every column the service reads, in table order."""
    return [
        ("id", "`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY"),
        *((f.name, column_ddl(f)) for f in definition.fields),
        ("created_at", "`created_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"),
    ]


def create_table_ddl(definition: ServiceDefinition) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the service's table (schema version 1)."""
    columns = [ddl for _, ddl in table_columns(definition)]
    columns += [
        f"UNIQUE KEY {quote('uq_' + f.name)} ({quote(f.name)})"
        for f in definition.fields
        if f.unique
    ]
    body = ",\n  ".join(columns)
    table = quote(definition.table)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {body}\n) {TABLE_OPTIONS}"


def migration_steps(definition: ServiceDefinition) -> list[tuple[str, ...]]:
    """Statements of each schema version, in order (index 0 is version 1)."""
    return [(create_table_ddl(definition),), *definition.migrations]


def lock_name(database: str, definition: ServiceDefinition) -> str:
    """A server-wide lock name (<= 64 chars) unique to this database and table."""
    digest = hashlib.sha256(f"{database}\0{definition.table}".encode()).hexdigest()[:40]
    return f"ecs_service:migrate:{digest}"


def current_version(conn: DictConnection, component: str) -> int:
    """The applied schema version of *component* (0 when none)."""
    with conn.cursor() as cur:
        cur.execute("SELECT `version` FROM `schema_version` WHERE `component` = %s", (component,))
        row = cur.fetchone()
    return int(row["version"]) if row else 0


def table_exists(conn: DictConnection, definition: ServiceDefinition) -> bool:
    """Whether the service's table exists in the connection's database."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {quote(definition.table)} LIMIT 0")
    except pymysql.err.MySQLError as exc:
        if error_code(exc) == ER_NO_SUCH_TABLE:
            return False
        raise
    return True


def _apply(conn: DictConnection, definition: ServiceDefinition) -> int:
    with conn.cursor() as cur:
        cur.execute(VERSION_TABLE_DDL)
    version = current_version(conn, definition.table)
    if version and not table_exists(conn, definition):
        # Dropped after its versions were recorded: every step again, from version 1.
        logger.warning(
            "table missing; re-creating it",
            extra={"fields": {"table": definition.table, "recorded_version": version}},
        )
        version = 0
    for number, statements in enumerate(migration_steps(definition), start=1):
        if number <= version:
            continue
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            cur.execute(
                "INSERT INTO `schema_version` (`component`, `version`) VALUES (%s, %s)"
                " ON DUPLICATE KEY UPDATE `version` = VALUES(`version`)",
                (definition.table, number),
            )
        logger.info(
            "applied schema version",
            extra={"fields": {"table": definition.table, "version": number}},
        )
        version = number
    return version


def migrate(conn: DictConnection, database: str, definition: ServiceDefinition) -> int:
    """Bring the schema to the definition's version under a named lock; return it."""
    name = lock_name(database, definition)
    with conn.cursor() as cur:
        cur.execute("SELECT GET_LOCK(%s, %s) AS got", (name, LOCK_TIMEOUT_S))
        row = cur.fetchone()
    if not row or row["got"] != 1:
        raise MigrationLockTimeout("timed out waiting for the migration lock")
    try:
        return _apply(conn, definition)
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (name,))


def schema_problem(conn: DictConnection, definition: ServiceDefinition) -> str | None:
    """What keeps the service's table from being used, or None when it is in place.

    In place means: the table exists, has every column the service reads,
    carries at least the definition's schema version, and each column can hold
    what the service accepts (:func:`narrow_columns`).  Two round trips in the
    healthy case: the ``NOT EXISTS`` subquery returns no row, but the server
    refuses the query when the table (1146) or one of the columns (1054) is
    missing.  The columns are qualified with the table's name, or a missing
    one could silently resolve to a ``schema_version`` column of the same name.
    A missing database (1049) is raised, like any other driver error.
    """
    table = quote(definition.table)
    columns = ", ".join(f"{table}.{quote(name)}" for name, _ in table_columns(definition))
    query = (
        "SELECT `version` FROM `schema_version` WHERE `component` = %s"
        f" AND NOT EXISTS (SELECT {columns} FROM {table} LIMIT 0)"
    )
    try:
        with conn.cursor() as cur:
            cur.execute(query, (definition.table,))
            row = cur.fetchone()
    except pymysql.err.MySQLError as exc:
        code = error_code(exc)
        if code == ER_NO_SUCH_TABLE:
            return f"{exc.args[1]} (error {code})"
        if code == ER_BAD_FIELD_ERROR:
            return missing_columns(conn, definition) or f"{exc.args[1]} (error {code})"
        raise
    if row is None:
        return f"no schema version is recorded for table {table}"
    version = int(row["version"])
    if version < definition.schema_version:
        return (
            f"table {table} is at schema version {version};"
            f" this service needs {definition.schema_version}"
        )
    with conn.cursor() as cur:
        cur.execute(
            "SELECT `COLUMN_NAME` AS `name`, `DATA_TYPE` AS `data_type`,"
            " `CHARACTER_MAXIMUM_LENGTH` AS `length`, `COLUMN_TYPE` AS `column_type`,"
            " `IS_NULLABLE` AS `nullable` FROM information_schema.COLUMNS"
            " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s",
            (definition.table,),
        )
        return narrow_columns(cur.fetchall(), definition)


_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_STRING_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext"})


def _cannot_hold(field: FieldSpec, column: Mapping[str, object]) -> str | None:
    """Why this column cannot hold every value the service accepts for the field, or None."""
    data_type = str(column["data_type"]).lower()
    column_type = str(column["column_type"]).lower()
    if not field.required and str(column["nullable"]).upper() == "NO":
        return f"is {column_type} NOT NULL, but the field is optional (stored as NULL)"
    if field.type == "string":
        length = int(str(column["length"] or 0))
        if data_type not in _STRING_TYPES or length < field.max_length:
            return f"is {column_type}, but the service accepts up to {field.max_length} characters"
        return None
    bits = _INTEGER_BITS.get(data_type)
    if bits is None:
        return f"is {column_type}, not an integer column"
    if "unsigned" in column_type:
        low, high = 0, 2**bits - 1
    else:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if field.minimum < low or field.maximum > high:
        return f"is {column_type}, but the service accepts {field.minimum}..{field.maximum}"
    return None


def narrow_columns(
    rows: Sequence[Mapping[str, object]], definition: ServiceDefinition
) -> str | None:
    """Which columns cannot hold what the service accepts (information_schema.COLUMNS rows:
    name, data_type, length, column_type, nullable), and the statements that widen them; None
    when every field fits.  A wider column than needed is fine; a missing one is
    :func:`missing_columns`'s."""
    columns = {str(row["name"]).lower(): row for row in rows}
    found = [
        (field, why)
        for field in definition.fields
        if field.name.lower() in columns
        and (why := _cannot_hold(field, columns[field.name.lower()])) is not None
    ]
    if not found:
        return None
    table = quote(definition.table)
    reasons = "; ".join(f"{quote(field.name)} {why}" for field, why in found)
    repairs = " ".join(f"ALTER TABLE {table} MODIFY COLUMN {column_ddl(f)};" for f, _ in found)
    return (
        f"table {table} cannot hold what this service accepts: {reasons}. Add a migration to the"
        f' service definition\'s "migrations" ({repairs}) or change the field back'
    )


def missing_columns(conn: DictConnection, definition: ServiceDefinition) -> str | None:
    """Which columns the service reads are missing from its table, and how to add them back."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT `COLUMN_NAME` AS `name` FROM information_schema.COLUMNS"
            " WHERE `TABLE_SCHEMA` = DATABASE() AND `TABLE_NAME` = %s",
            (definition.table,),
        )
        present = {str(row["name"]).lower() for row in cur.fetchall()}
    missing = [(n, ddl) for n, ddl in table_columns(definition) if n.lower() not in present]
    if not missing:
        return None
    table = quote(definition.table)
    names = ", ".join(quote(name) for name, _ in missing)
    repairs = " ".join(f"ALTER TABLE {table} ADD COLUMN {ddl};" for _, ddl in missing)
    return (
        f"table {table} lacks column(s) {names} that the service reads; add them back"
        f" ({repairs}) or restore the table from a backup"
    )


class SchemaKeeper:
    """Background task that (re)applies migrations until they succeed.

    It runs once at start-up, retrying with backoff while the database is
    down, and again whenever :meth:`invalidate` reports that the schema has
    gone (for example after the database or the table was dropped).  It says
    "schema ready" only after :func:`schema_problem` found the table usable.
    """

    def __init__(self, pool: ConnectionPool, database: str, definition: ServiceDefinition) -> None:
        self._pool = pool
        self._database = database
        self._definition = definition
        self._wake = asyncio.Event()
        self.ready = False

    def invalidate(self, reason: str) -> None:
        """Ask for the schema to be checked (and migrated) again, because of *reason*."""
        if self.ready:
            logger.warning(
                "schema check failed; checking the schema again",
                extra={"fields": {"reason": reason}},
            )
        self.ready = False
        self._wake.set()

    def _migrate(self, conn: DictConnection) -> int:
        version = migrate(conn, self._database, self._definition)
        problem = schema_problem(conn, self._definition)
        if problem is not None:
            raise SchemaDamaged(problem)
        return version

    def _create_database(self, conn: DictConnection) -> None:
        create_database(conn, self._database)

    def migrate_creating_database(self) -> int:
        """Migrate; when the database does not exist, create it first (blocking)."""
        try:
            return self._pool.run(self._migrate)
        except DatabaseUnavailable as exc:
            if exc.code != ER_BAD_DB_ERROR:
                if exc.code == ER_DBACCESS_DENIED_ERROR:
                    raise DatabaseAccessDenied(
                        f"access denied to database {quote(self._database)} (error {exc.code}):"
                        " grant this user privileges on it, or CREATE to let the service"
                        " create it",
                        code=exc.code,
                    ) from exc
                raise
        logger.info("creating the database", extra={"fields": {"database": self._database}})
        try:
            self._pool.run_without_database(self._create_database)
        except DatabaseUnavailable as exc:
            if exc.code in CREATE_DENIED_CODES:
                raise DatabaseCreateDenied(
                    f"database {quote(self._database)} does not exist and this user may not"
                    f" create it (error {exc.code}): create it, or grant CREATE on it",
                    code=exc.code,
                ) from exc
            raise
        return self._pool.run(self._migrate)

    async def _attempt(self) -> bool:
        try:
            version = await asyncio.to_thread(self.migrate_creating_database)
        except (DatabaseAccessDenied, SchemaDamaged) as exc:
            logger.error(
                exc.log_message,
                extra={"fields": {"database": self._database, "reason": str(exc)}},
            )
            return False
        except DatabaseUnavailable as exc:
            logger.warning("schema migration postponed", extra={"fields": {"reason": str(exc)}})
            return False
        except Exception:
            logger.exception("schema migration failed")
            return False
        logger.info(
            "schema ready", extra={"fields": {"table": self._definition.table, "version": version}}
        )
        return True

    async def run(self, initial_delay: float = 0.25, max_delay: float = 2.0) -> None:
        """Loop forever (until cancelled) keeping the schema in place."""
        delay = initial_delay
        while True:
            self._wake.clear()
            if await self._attempt():
                self.ready = True
                delay = initial_delay
                await self._wake.wait()
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)
