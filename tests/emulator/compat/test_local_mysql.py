"""The emulator's stand-in for RDS on the local server (``emulator/compat/local_mysql.py``): its
master user is created only when no such account exists, never taken from someone else; an
account another emulated stack created is handed over visibly; a server that never answers fails
with a reason instead of hanging ``make local``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ecs_playground.database_users_handler import index as handler
from emulator.compat import local_mysql
from emulator.compat.custom_resources import Request
from tests.library.provisioner.conftest import SUFFIX, World
from tests.library.provisioner.test_handler import ACCESS_DENIED, error_of, grants, login
from tests.library.provisioner.test_ownership import finishes_within
from tests.services.service_harness import MySQL

EMULATOR_ACCOUNT = "123456789012"


def server(mysql: MySQL) -> local_mysql.Server:
    return local_mysql.Server(mysql.host, mysql.port, mysql.user, mysql.password)


@pytest.fixture
def master(mysql: MySQL) -> Iterator[str]:
    """A master user name of this test's own (dropped, with its row, afterwards)."""
    name = f"admin-{SUFFIX}"
    yield name
    mysql.execute("DROP USER IF EXISTS %s@'%%'", (name,))
    mysql.execute(f"DELETE FROM {handler.record_table()} WHERE name = %s", (name,))


def test_the_emulator_creates_its_master_user_and_resets_only_its_own(
    mysql: MySQL, master: str
) -> None:
    server(mysql).ensure_master(master, "first-password")

    server(mysql).ensure_master(master, "second-password")  # the next 'make local'

    assert error_of(lambda: login(mysql, master, "first-password")) == ACCESS_DENIED
    login(mysql, master, "second-password").close()
    assert any("ALL PRIVILEGES ON *.*" in g and "WITH GRANT OPTION" in g
               for g in grants(mysql, master))


def test_the_emulator_refuses_to_take_over_a_local_account_it_did_not_create(
    mysql: MySQL, master: str
) -> None:
    mysql.execute("CREATE USER %s@'%%' IDENTIFIED BY 'the-owners-password'", (master,))
    before = grants(mysql, master)

    with pytest.raises(local_mysql.LocalMySQLError) as caught:
        server(mysql).ensure_master(master, "emulator-password")

    assert f"'{master}'@'%' that the emulator did not create" in str(caught.value)
    assert f"{mysql.host}:{mysql.port}" in str(caught.value)
    login(mysql, master, "the-owners-password").close()
    assert grants(mysql, master) == before


def test_the_emulator_never_takes_a_provisioned_service_account_as_its_master(
    world: World, master: str
) -> None:
    a = world.service("location")
    world.create([a])

    with pytest.raises(local_mysql.LocalMySQLError, match="belongs to"):
        server(world.mysql).ensure_master(a.user, "emulator-password")

    login(world.mysql, a.user, world.password(a)).close()


def _request(world: World, stack_id: str, services: list[Any]) -> Request:
    return Request(
        request_type="Create", resource_type="Custom::DatabaseUsers", logical_id="Users",
        stack_id=stack_id, properties=world.properties(services),
        account_id=EMULATOR_ACCOUNT, region="eu-west-1",
    )


def test_an_account_of_another_emulated_stack_is_handed_over_and_said(world: World) -> None:
    first = World(world.mysql, secrets=world.secrets, stack_id=(
        f"arn:aws:cloudformation:eu-west-1:{EMULATOR_ACCOUNT}:stack/First{SUFFIX}/1"))
    a = world.service("location")
    first.create([a])
    second = f"arn:aws:cloudformation:eu-west-1:{EMULATOR_ACCOUNT}:stack/Second{SUFFIX}/2"

    handed = server(world.mysql).hand_over(_request(world, second, [a]))

    owner = first.stack_id.rsplit("/", 1)[0] + "/Users"
    assert handed == [f"account '{a.user}'@'%' (from {owner})",
                      f"schema `{a.schema}` (from {owner})"]
    assert world.mysql.execute(f"SELECT DISTINCT owner FROM {handler.record_table()} "
                               "WHERE name IN (%s, %s)", (a.user, a.schema)) == [
        (second.rsplit("/", 1)[0] + "/Users",)]


def test_accounts_outside_the_emulators_account_are_never_handed_over(world: World) -> None:
    a = world.service("location")
    world.create([a])  # stack of account 111111111111: not an emulated stack
    second = f"arn:aws:cloudformation:eu-west-1:{EMULATOR_ACCOUNT}:stack/Second{SUFFIX}/2"

    assert server(world.mysql).hand_over(_request(world, second, [a])) == []


def test_a_local_server_that_never_answers_fails_instead_of_hanging(
    silent_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_mysql, "READ_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(local_mysql, "CONNECT_TIMEOUT_SECONDS", 1)
    host, port = silent_server
    silent = local_mysql.Server(host, port, "root", "")

    raised = finishes_within(20, lambda: silent.ensure_master("admin", "pw"))

    assert isinstance(raised, local_mysql.LocalMySQLError), raised
    assert f"the local MySQL server at {host}:{port}" in str(raised)
    assert "did not answer within 1 s" in str(raised)
