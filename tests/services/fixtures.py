"""The one ``mysql`` fixture: the services' tests and the database users provisioner's tests
import it into their conftest (as ``mysql_fixture``, so that no argument named ``mysql``
shadows the import)."""

from __future__ import annotations

import pymysql
import pytest

from tests.services.service_harness import MySQL


@pytest.fixture(scope="session", name="mysql")
def mysql_fixture() -> MySQL:
    """The database server; fails the test when it cannot be reached.

    MySQL/MariaDB (127.0.0.1:3306 as root by default, see ``MYSQL_TEST_*`` in
    ``service_harness``) is required: tests that need it fail, never skip, when it is
    unreachable.
    """
    server = MySQL()
    try:
        server.execute("SELECT 1")
    except pymysql.err.Error as exc:
        pytest.fail(
            f"MySQL/MariaDB is required at {server.host}:{server.port} and unreachable: {exc}",
            pytrace=False,
        )
    return server
