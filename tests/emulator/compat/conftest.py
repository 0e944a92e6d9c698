"""The database users provisioner's handler world on the real MySQL server (its fixtures, from
tests/library/provisioner), for the emulator's stand-in for RDS that shares the server with it."""

from tests.library.provisioner.conftest import session_server, world  # noqa: F401 - fixtures
from tests.library.provisioner.test_ownership import silent_server  # noqa: F401 - a fixture
from tests.services.fixtures import mysql_fixture  # noqa: F401 - the shared `mysql`
