"""Fixtures for the services' tests: throw-away databases and real processes.

MySQL/MariaDB (127.0.0.1:3306 as root by default, see ``MYSQL_TEST_*`` in
``service_harness``) is required: tests that need it fail, never skip, when
it is unreachable.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.services.fixtures import mysql_fixture  # noqa: F401 - the shared `mysql`
from tests.services.service_harness import (
    SERVICES,
    MySQL,
    ServiceProcess,
    running_service,
    unique_database_name,
)

StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def session_database(mysql: MySQL) -> Iterator[str]:
    """A database for this test session; it and every per-test database are dropped at the end."""
    name = mysql.create_database(unique_database_name())
    try:
        yield name
    finally:
        rows = mysql.execute("SHOW DATABASES LIKE %s", (name.replace("_", r"\_") + "%",))
        for (database,) in rows:
            mysql.drop_database(database)


_counter = itertools.count(1)


@pytest.fixture
def fresh_database(mysql: MySQL, session_database: str) -> Iterator[str]:
    """An empty database of this test's own."""
    name = mysql.create_database(f"{session_database}_{next(_counter)}")
    try:
        yield name
    finally:
        mysql.drop_database(name)


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the service processes write their output."""
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def location_service(
    mysql: MySQL, session_database: str, log_dir: Path
) -> Iterator[ServiceProcess]:
    """The location service on the session database, shared by the API tests."""
    with running_service("location", mysql, session_database, log_dir) as process:
        yield process


@pytest.fixture(scope="session")
def user_service(mysql: MySQL, session_database: str, log_dir: Path) -> Iterator[ServiceProcess]:
    """The user service on the same database (the services share one, as on RDS)."""
    with running_service("user", mysql, session_database, log_dir) as process:
        yield process


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> ServiceProcess:
    """Each shared service in turn."""
    process: ServiceProcess = request.getfixturevalue(f"{request.param}_service")
    return process


@pytest.fixture
def start_service(mysql: MySQL, log_dir: Path) -> Iterator[StartService]:
    """Start extra service processes; all are killed when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(
            service: str, database: str, *, wait: str = "healthy", **env: str
        ) -> ServiceProcess:
            return stack.enter_context(
                running_service(service, mysql, database, log_dir, wait=wait, **env)
            )

        yield start


@pytest.fixture
def missing_database(mysql: MySQL, session_database: str) -> Iterator[str]:
    """A database name that does not exist yet; dropped at the end if something created it.

    It needs quoting (``-``, ``.``, a space, a non-ASCII letter), so the
    service's ``CREATE DATABASE`` must quote it properly.
    """
    name = f"{session_database}_new-{next(_counter)}.é x"
    assert not mysql.database_exists(name)
    try:
        yield name
    finally:
        mysql.drop_database(name)
