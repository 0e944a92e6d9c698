"""Run the services as real processes for the tests and the load test.

The command is read from ``docker/Dockerfile``'s ``CMD``, so tests run what
the image runs; only the interpreter (``python`` on the image's PATH) is
replaced by this interpreter, and the image's paths (``/app/common``,
``/app/service``) by the matching folders under ``docker/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymysql

from emulator.runtime.image import ImageSource, instructions

# One client for every test request: building one costs ~0.1 s (its TLS context),
# a request on loopback ~2 ms. No keep-alive, so no connection outlives its request
# (services are stopped and restarted under the tests).
HTTP = httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMMON_DIR = DOCKER_DIR / "common"
SERVICES = ("location", "user")


# ---------------------------------------------------------------- database


@dataclass(frozen=True)
class MySQL:
    """Where the test database server is (override with MYSQL_TEST_* variables)."""

    host: str = os.environ.get("MYSQL_TEST_HOST", "127.0.0.1")
    port: int = int(os.environ.get("MYSQL_TEST_PORT", "3306"))
    user: str = os.environ.get("MYSQL_TEST_USER", "root")
    password: str = os.environ.get("MYSQL_TEST_PASSWORD", "")

    def connect(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        """An autocommit admin connection (raises when the server is unreachable), without TLS:
        the tests' own administration of a local server. PyMySQL's default (TLS when the server
        offers it) builds a TLS context, loading the system's CA bundle, for every connection:
        37 ms of CPU against 0.4 ms, and this helper opens one per statement."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            connect_timeout=3,
            ssl_disabled=True,
        )

    def execute(
        self, sql: str, args: Any = None, database: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement on a fresh connection and return its rows."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create an empty database called *name* (a safe identifier)."""
        assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", name), name
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def drop_database(self, name: str) -> None:
        """Drop the database if it exists (any name the service accepts)."""
        assert 0 < len(name) <= 64 and "\0" not in name, name
        self.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)}")

    def wait_for_query(self, database: str, like: str, timeout: float = 5.0) -> None:
        """Block until a statement matching the LIKE pattern *like* runs on *database*."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                " WHERE DB = %s AND INFO LIKE %s",
                (database, like),
            )
            if rows[0][0]:
                return
            time.sleep(0.05)
        raise AssertionError(f"no statement like {like!r} reached {database} within {timeout}s")

    def wait_for_lock_waits(self, database: str, count: int, timeout: float = 5.0) -> None:
        """Block until *count* statements on *database* wait for a lock (table or GET_LOCK)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s"
                " AND STATE IN ('User lock', 'Waiting for table metadata lock')",
                (database,),
            )
            if rows[0][0] >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"{count} statement(s) did not wait for a lock within {timeout}s")

    def database_exists(self, name: str) -> bool:
        """Whether a database called *name* exists."""
        rows = self.execute(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)
        )
        return bool(rows)


def quote_identifier(name: str) -> str:
    """Backtick-quote *name* for SQL (backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


def unique_database_name(prefix: str = "ecs_svc_test") -> str:
    """A database name no other run uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def sample_record(service: str) -> dict[str, Any]:
    """A valid new record for *service*, with unique values."""
    tag = uuid.uuid4().hex[:10]
    if service == "location":
        return {"name": f"City {tag}", "country_code": "DEU", "district": "Berlin", "population": 1}
    return {"username": f"u{tag}", "email": f"u{tag}@example.com", "full_name": "Ada <b>L</b>"}


# ---------------------------------------------------------------- processes


def dockerfile_instruction(name: str) -> str:
    """The arguments of the Dockerfile's only *name* instruction, continuation lines joined."""
    found = [rest for instruction, rest in instructions(DOCKERFILE) if instruction == name]
    assert len(found) == 1, f"the Dockerfile must have exactly one {name}"
    return found[0]


def dockerfile_cmd() -> list[str]:
    """The exec-form ``CMD`` of ``docker/Dockerfile``."""
    argv = json.loads(dockerfile_instruction("CMD"))
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), "CMD must be exec form"
    return argv


def image_source(service: str) -> ImageSource:
    """The service's image as ``docker build --build-arg SERVICE=<service> docker/`` builds it
    (the emulator runs ECS tasks from the same reading of the Dockerfile)."""
    return ImageSource(DOCKER_DIR, {"SERVICE": service})


def service_command(service: str = SERVICES[0]) -> list[str]:
    """The image's command, its ``python`` found on the image's PATH (this virtualenv)."""
    source = image_source(service)
    return source.command(source.environment())


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(
    service: str, mysql: MySQL, database: str, port: int, **overrides: str
) -> dict[str, str]:
    """The container's environment, with the image's paths mapped onto docker/."""
    env = image_source(service).environment()
    env.update(
        {
            "LANG": "C.UTF-8",
            "LISTEN_HOST": "127.0.0.1",
            "PORT": str(port),
            "DB_HOST": mysql.host,
            "DB_PORT": str(mysql.port),
            "DB_USER": mysql.user,
            "DB_PWD": mysql.password,
            "DB_NAME": database,
        }
    )
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    """One running service; its stdout and stderr go to *log_path*."""

    service: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_file: Any = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The listen port."""
        return int(self.env["PORT"])

    @property
    def url(self) -> str:
        """Base URL of the service."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        """Spawn the process (does not wait for it to listen)."""
        self._log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            service_command(self.service),
            env=self.env,
            cwd=self.log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_listening(self, timeout: float = 15.0) -> None:
        """Block until the port accepts connections; fail if the process dies."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.service} exited with {self.proc.returncode}:\n{self.log_text()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.service} did not listen within {timeout}s:\n{self.log_text()}")

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Block until ``/health`` answers 200."""
        wait_for_status(f"{self.url}/health", 200, timeout, describe=self.log_text)

    def stop(self, timeout: float = 25.0) -> int:
        """SIGTERM, wait, and return the exit status (kill if it hangs)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """Make sure the process is gone and the log file closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """Every complete output line, parsed as JSON (fails on a non-JSON line).

        A last line without its newline is still being written: it is left for the next call.
        """
        records = []
        for line in self.log_text().rpartition("\n")[0].splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise AssertionError(f"log line is not JSON: {line!r}") from exc
        return records

    def log_mark(self) -> int:
        """How many log records exist now: pass it as *since* to look only at later ones."""
        return len(self.log_records())

    def wait_for_record(
        self, match: Callable[[dict[str, Any]], bool], *, since: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first log record after *since* for which *match* is true, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.log_records()[since:]:
                if match(record):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching log record within {timeout}s:\n{self.log_text()}"
                )
            time.sleep(0.05)


@contextlib.contextmanager
def running_service(
    service: str, mysql: MySQL, database: str, log_dir: Path, *, wait: str = "healthy", **env: str
) -> Iterator[ServiceProcess]:
    """Start a service, wait for it (``healthy``, ``listening`` or ``no``), always kill it."""
    port = free_port()
    log_path = log_dir / f"{service}-{port}.log"
    process = ServiceProcess(service, service_env(service, mysql, database, port, **env), log_path)
    try:
        process.start()
        if wait != "no":
            process.wait_listening()
        if wait == "healthy":
            process.wait_healthy()
        yield process
    finally:
        process.kill()


def wait_for_status(url: str, status: int, timeout: float, describe: Any = None) -> httpx.Response:
    """Poll *url* until it answers *status*; return that response."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = HTTP.get(url, timeout=5)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    details = describe() if describe else ""
    raise AssertionError(
        f"{url} did not answer {status} within {timeout}s (last: {last!r})\n{details}"
    )


# ---------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A loopback TCP forwarder that can be switched off and on.

    Off means no listener (connections are refused) and every relayed
    connection is cut, just like a database server that went away.
    """

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Listen and relay."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept_loop, listener)

    def stop(self) -> None:
        """Stop listening and cut every relayed connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:  # the relay threads see EOF and close them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=3)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            self._spawn(self._relay, client, upstream)

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        with selectors.DefaultSelector() as sel:
            for sock in peers:
                sel.register(sock, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in sel.select(timeout=1):
                        source = key.fileobj
                        assert isinstance(source, socket.socket)
                        data = source.recv(65536)
                        if not data:
                            return
                        peers[source].sendall(data)
            except (OSError, ValueError):
                return
            finally:
                for sock in peers:
                    with contextlib.suppress(OSError):
                        sock.close()
