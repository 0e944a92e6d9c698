"""Blocking PyMySQL access behind a small, self-healing connection pool.

Connections are opened lazily with short timeouts, handed back to the pool
only after a clean use and dropped after any error, so a database that goes
away and comes back is picked up again without restarting the process.
Callers run these functions in a worker thread (see :mod:`ecs_service.web`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TypeVar

import pymysql
import pymysql.cursors
from pymysql.connections import Connection

from ecs_service.credentials import Credentials
from ecs_service.settings import DatabaseSettings

T = TypeVar("T")
if TYPE_CHECKING:  # the stubs make Connection generic; the runtime class is not
    DictConnection = Connection[pymysql.cursors.DictCursor]
else:
    DictConnection = Connection

# Server error codes meaning "the schema is not (or no longer) there".
ER_NO_DB_ERROR = 1046
ER_BAD_DB_ERROR = 1049
ER_DBACCESS_DENIED_ERROR = 1044
ER_NO_SUCH_TABLE = 1146
ER_BAD_FIELD_ERROR = 1054  # unknown column
ER_DUP_ENTRY = 1062
SCHEMA_MISSING_CODES = frozenset({ER_NO_DB_ERROR, ER_BAD_DB_ERROR, ER_NO_SUCH_TABLE})
# Server error codes meaning "cannot serve now" (not a bug): too many connections,
# access denied, shutting down, aborted connection, lock wait timeout, deadlock,
# read-only (failover), connection killed, disconnected for inactivity.
UNAVAILABLE_CODES = frozenset({1040, 1044, 1045, 1053, 1152, 1205, 1213, 1290, 1836, 1927, 4031})

_IDLE_PING_AFTER_S = 5.0


_ACCESS_DENIED = 1045


class DatabaseUnavailable(Exception):
    """The database cannot be reached or its schema is not in place (HTTP 503)."""

    def __init__(
        self, reason: str, *, schema_missing: bool = False, code: int | None = None
    ) -> None:
        super().__init__(reason)
        self.schema_missing = schema_missing
        self.code = code  # the server's error number, when there was one


class DuplicateEntry(Exception):
    """An INSERT hit a UNIQUE key (HTTP 409)."""


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number carried by a PyMySQL exception, if any."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def translate(exc: Exception) -> Exception:
    """Map a driver exception onto the service's own exception types.

    Connection-level failures and a missing schema become
    :class:`DatabaseUnavailable`; anything else is returned unchanged and
    surfaces as a 500 (it is a bug or an unexpected schema change).
    """
    code = error_code(exc)
    if code in SCHEMA_MISSING_CODES:
        return DatabaseUnavailable(f"schema missing (error {code})", schema_missing=True, code=code)
    if code == ER_DUP_ENTRY:
        return DuplicateEntry(str(exc))
    if is_unavailable(exc, code):
        return DatabaseUnavailable(f"database unreachable (error {code})", code=code)
    return exc


def is_unavailable(exc: Exception, code: int | None) -> bool:
    """Whether *exc* means the server cannot be used right now (vs. a bug)."""
    if isinstance(exc, (pymysql.err.InterfaceError, OSError)):
        return True
    client_side = (
        code is None or code == 0 or 2000 <= code < 3000
    )  # CR_* codes: connect, gone away, lost
    return isinstance(exc, pymysql.err.OperationalError) and (
        client_side or code in UNAVAILABLE_CODES
    )


class ConnectionPool:
    """At most ``pool_size`` connections, kept open between requests.

    A caller that finds every connection busy waits up to ``pool_timeout``
    seconds, then gets :class:`DatabaseUnavailable`; the cap keeps a task's
    share of the database's ``max_connections`` bounded under bursts.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings
        self.credentials = Credentials(
            settings.user, settings.password, settings.secret_arn, settings.secret_refetch_seconds
        )
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._idle: list[tuple[DictConnection, float]] = []
        self._lock = threading.Lock()
        self._closed = False

    def _open(self, database: str | None) -> DictConnection:
        """A new connection; after an access-denied, re-read the secret and retry once."""
        used = self.credentials.current
        try:
            return self._connect(database, *used)
        except pymysql.err.OperationalError as exc:
            if error_code(exc) != _ACCESS_DENIED or not self.credentials.refresh(used):
                raise
        return self._connect(database, *self.credentials.current)

    def _connect(self, database: str | None, user: str, password: str) -> DictConnection:
        s = self._settings
        return pymysql.connect(
            host=s.host,
            port=s.port,
            user=user,
            password=password,
            database=database,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            write_timeout=s.write_timeout,
            charset="utf8mb4",
            autocommit=True,
            init_command="SET time_zone = '+00:00'",
            cursorclass=pymysql.cursors.DictCursor,
        )

    def _take(self) -> DictConnection:
        with self._lock:
            entry = self._idle.pop() if self._idle else None
        if entry is None:
            return self._open(self._settings.name)
        conn, since = entry
        if time.monotonic() - since > _IDLE_PING_AFTER_S:
            try:
                conn.ping(reconnect=False)  # a long-idle connection may have been closed
            except (pymysql.err.Error, OSError):
                _close_quietly(conn)  # reopen with the current credentials (rotated meanwhile?)
                return self._open(self._settings.name)
        return conn

    def _give_back(self, conn: DictConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append((conn, time.monotonic()))
                return
        _close_quietly(conn)

    @contextmanager
    def connection(self) -> Iterator[DictConnection]:
        """Lend a connection; it goes back to the pool only if no error was raised."""
        if not self._slots.acquire(timeout=self._settings.pool_timeout):
            raise DatabaseUnavailable("every database connection is busy")
        try:
            conn = self._take()
            try:
                yield conn
            except BaseException:
                _close_quietly(conn)
                raise
            self._give_back(conn)
        finally:
            self._slots.release()

    def run(self, work: Callable[[DictConnection], T]) -> T:
        """Call ``work(connection)``, translating driver errors (see :func:`translate`)."""
        try:
            with self.connection() as conn:
                return work(conn)
        except (pymysql.err.Error, OSError) as exc:
            raise translate(exc) from exc

    def run_without_database(self, work: Callable[[DictConnection], T]) -> T:
        """Call ``work`` on a fresh connection that has no default database.

        For statements that must work while the configured database does not
        exist (``CREATE DATABASE``).  The connection counts against the pool's
        cap and is closed afterwards, never pooled; errors are translated as
        in :meth:`run`.
        """
        if not self._slots.acquire(timeout=self._settings.pool_timeout):
            raise DatabaseUnavailable("every database connection is busy")
        try:
            conn = self._open(None)
            try:
                return work(conn)
            finally:
                _close_quietly(conn)
        except (pymysql.err.Error, OSError) as exc:
            raise translate(exc) from exc
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close every idle connection and stop pooling."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _close_quietly(conn)


def _close_quietly(conn: DictConnection) -> None:
    with suppress(Exception):  # the connection is being thrown away anyway
        conn.close()
