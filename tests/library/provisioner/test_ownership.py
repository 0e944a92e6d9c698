"""The provisioner never touches what it did not create (issue 20, points 1-3 and 7), against the
real server: accounts and schemas that existed before it, or that another stack's provisioner
created, survive Create, Update and Delete untouched; adoption happens only when asked for."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from ecs_playground.database_users_handler import index as handler
from tests.services.service_harness import MySQL

from .conftest import SUFFIX, Service, World
from .test_handler import ACCESS_DENIED, error_of, exact_grants, grants, login, user_exists

FOREIGN_PASSWORD = "dba-own-password-" + SUFFIX


def foreign_account(mysql: MySQL, user: str) -> set[str]:
    """An account made by someone else (a DBA's), with every privilege and GRANT OPTION; returns
    its grants."""
    mysql.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, FOREIGN_PASSWORD))
    mysql.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (user,))
    return grants(mysql, user)


def foreign_schema(mysql: MySQL, schema: str) -> None:
    """A schema someone else made, with rows."""
    mysql.create_database(schema)
    mysql.execute(f"CREATE TABLE `{schema}`.`Orders` (`id` INT PRIMARY KEY)")
    mysql.execute(f"INSERT INTO `{schema}`.`Orders` VALUES (1), (2), (3)")


def rows(mysql: MySQL, schema: str) -> list[Any]:
    return list(mysql.execute(f"SELECT `id` FROM `{schema}`.`Orders` ORDER BY `id`"))


def record(mysql: MySQL, kind: str, name: str) -> tuple[Any, ...] | None:
    found = mysql.execute(f"SELECT owner, resource, state FROM {handler.record_table()} "
                          "WHERE kind = %s AND name = %s", (kind, name))
    return tuple(found[0]) if found else None


def assert_untouched(world: World, account: Service, before: set[str], schema: str) -> None:
    assert grants(world.mysql, account.user) == before
    login(world.mysql, account.user, FOREIGN_PASSWORD).close()
    assert rows(world.mysql, schema) == [(1,), (2,), (3,)]


# ---------------------------------------------------------------- points 1 and 2


def test_a_foreign_privileged_account_and_a_foreign_schema_survive_create_update_and_delete(
    world: World,
) -> None:
    # given a DBA's account named like a service, and a schema with data named like another's
    dba, orders = world.service("dba"), world.service("orders")
    before = foreign_account(world.mysql, dba.user)
    foreign_schema(world.mysql, orders.schema)
    services = [dba, orders]

    # when every lifecycle event runs, asking for the schemas to be dropped
    for send in (lambda: world.create(services, DropSchemas="true"),
                 lambda: world.update(services, old=services, DropSchemas="true")):
        with pytest.raises(handler.ProvisioningError) as caught:
            send()
        # then each refusal names both, and nothing was changed
        message = str(caught.value)
        assert "nothing was changed" in message, message
        assert f"account '{dba.user}'@'%'" in message and f"schema `{orders.schema}`" in message
        assert "adopt_existing_users=True" in message
        assert "adopt_existing_schemas=True" in message
        assert_untouched(world, dba, before, orders.schema)
        assert not user_exists(world.mysql, orders.user)
    world.delete(services, DropSchemas="true")

    assert_untouched(world, dba, before, orders.schema)


def test_the_refusal_changes_nothing_even_for_the_services_that_were_fine(world: World) -> None:
    fine, dba = world.service("location"), world.service("dba")
    foreign_account(world.mysql, dba.user)

    with pytest.raises(handler.ProvisioningError, match=dba.user):
        world.create([fine, dba])

    assert not user_exists(world.mysql, fine.user)
    assert not world.mysql.database_exists(fine.schema)


def test_another_stacks_accounts_and_schemas_are_never_taken_over(world: World) -> None:
    a = world.service("location")
    world.create([a])
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`Orders` (`id` INT PRIMARY KEY)")
    world.mysql.execute(f"INSERT INTO `{a.schema}`.`Orders` VALUES (1), (2), (3)")
    other = world.as_another_stack()

    with pytest.raises(handler.ProvisioningError) as caught:
        other.create([a], AdoptExistingUsers="true", AdoptExistingSchemas="true")
    other.delete([a], DropSchemas="true", DropAdopted="true")

    assert f"belongs to {world.stack_id.rsplit('/', 1)[0]}/Users" in str(caught.value)
    assert grants(world.mysql, a.user) == exact_grants(a)
    login(world.mysql, a.user, world.password(a)).close()
    assert rows(world.mysql, a.schema) == [(1,), (2,), (3,)]


def test_another_resource_of_the_same_stack_is_another_owner(world: World) -> None:
    a = world.service("location")
    world.create([a])
    twin = World(world.mysql, secrets=world.secrets, logical_id="OtherUsers")

    with pytest.raises(handler.ProvisioningError, match="belongs to"):
        twin.create([a])

    login(world.mysql, a.user, world.password(a)).close()


def test_adopting_takes_over_only_when_asked_and_delete_keeps_what_was_adopted(
    world: World,
) -> None:
    dba, orders = world.service("dba"), world.service("orders")
    foreign_account(world.mysql, dba.user)
    foreign_schema(world.mysql, orders.schema)
    adopt = {"AdoptExistingUsers": "true", "AdoptExistingSchemas": "true"}

    world.create([dba, orders], **adopt)

    # the adopted account now has the service's password and exactly its grants
    assert error_of(lambda: login(world.mysql, dba.user, FOREIGN_PASSWORD)) == ACCESS_DENIED
    assert grants(world.mysql, dba.user) == exact_grants(dba)
    conn = login(world.mysql, orders.user, world.password(orders), orders.schema)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM `Orders`")
        assert cursor.fetchall() == ((3,),)
    conn.close()
    assert record(world.mysql, "user", dba.user) == (
        f"{world.stack_id.rsplit('/', 1)[0]}/Users", world.physical_id, "adopted")
    assert record(world.mysql, "user", orders.user)[2] == "created"  # type: ignore[index]

    world.delete([dba, orders], DropSchemas="true", **adopt)

    # created: dropped; adopted: kept as the service had it, and no longer recorded
    assert not user_exists(world.mysql, orders.user)
    assert user_exists(world.mysql, dba.user)
    assert rows(world.mysql, orders.schema) == [(1,), (2,), (3,)]
    assert record(world.mysql, "user", dba.user) is None
    assert record(world.mysql, "schema", orders.schema) is None


def test_adopted_ones_are_dropped_on_delete_only_when_that_is_asked_too(world: World) -> None:
    dba, orders = world.service("dba"), world.service("orders")
    foreign_account(world.mysql, dba.user)
    foreign_schema(world.mysql, orders.schema)
    flags = {"AdoptExistingUsers": "true", "AdoptExistingSchemas": "true",
             "DropAdopted": "true", "DropSchemas": "true"}
    world.create([dba, orders], **flags)

    world.delete([dba, orders], **flags)

    assert not user_exists(world.mysql, dba.user)
    assert not world.mysql.database_exists(orders.schema)


def test_a_replacements_delete_leaves_the_new_resources_users(world: World) -> None:
    a = world.service("location")
    world.create([a])
    old = world.physical_id
    world.create([a])  # the replacement: same stack and logical ID, a new physical ID
    new = world.physical_id
    assert new != old

    world.physical_id = old
    world.delete([a])  # CloudFormation then deletes the old resource

    login(world.mysql, a.user, world.password(a)).close()
    world.physical_id = new
    world.delete([a])
    assert not user_exists(world.mysql, a.user)


def test_the_same_stack_deployed_again_keeps_its_schema_and_data(world: World) -> None:
    a = world.service("location")
    world.create([a])
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`Orders` (`id` INT PRIMARY KEY)")
    world.mysql.execute(f"INSERT INTO `{a.schema}`.`Orders` VALUES (1), (2), (3)")
    world.delete([a])  # schemas are kept by default

    world.create([a])  # the stack deployed again under its name (a new stack ID)

    conn = login(world.mysql, a.user, world.password(a), a.schema)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM `Orders`")
        assert cursor.fetchall() == ((3,),)
    conn.close()


def test_a_removed_service_keeps_an_account_it_did_not_create(world: World) -> None:
    a, dba = world.service("location"), world.service("dba")
    foreign_account(world.mysql, dba.user)
    world.create([a, dba], AdoptExistingUsers="true")

    world.update([a], old=[a, dba], AdoptExistingUsers="true")

    assert user_exists(world.mysql, dba.user)


def test_an_interrupted_create_is_finished_when_the_account_is_provably_its_own(
    world: World,
) -> None:
    # given a run that died after writing its row and creating the account
    a = world.service("location")
    world.create([a])
    world.mysql.execute(f"UPDATE {handler.record_table()} SET state = 'creating' "
                        "WHERE kind = 'user' AND name = %s", (a.user,))

    world.create([a])

    assert record(world.mysql, "user", a.user)[2] == "created"  # type: ignore[index]


def test_an_interrupted_create_does_not_take_an_account_someone_else_made_meanwhile(
    world: World,
) -> None:
    dba = world.service("dba")
    world.create([dba])
    world.mysql.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (dba.user, FOREIGN_PASSWORD))
    world.mysql.execute(f"UPDATE {handler.record_table()} SET state = 'creating' "
                        "WHERE kind = 'user' AND name = %s", (dba.user,))

    with pytest.raises(handler.ProvisioningError, match="interrupted run"):
        world.create([dba])

    login(world.mysql, dba.user, FOREIGN_PASSWORD).close()


def test_users_provisioned_before_the_record_existed_are_kept_by_the_next_update(
    world: World,
) -> None:
    # given what an earlier version made, without a record (it is in the applied properties)
    a = world.service("location")
    world.mysql.create_database(a.schema)
    world.mysql.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (a.user, world.password(a)))
    world.mysql.execute(f"GRANT SELECT ON `{a.schema.replace('_', chr(92) + '_')}`.* "
                        "TO %s@'%%'", (a.user,))
    world.physical_id = "database-users-earlier-version"

    world.update([a], old=[a])

    assert grants(world.mysql, a.user) == exact_grants(a)
    assert record(world.mysql, "user", a.user)[2] == "adopted"  # type: ignore[index]


# ---------------------------------------------------------------- point 3: malformed events


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": "Update", "RequestId": "r-1", "LogicalResourceId": "Users",
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/S/" + str(uuid.uuid4()),
        "PhysicalResourceId": "database-users-1",
        "ResourceProperties": {}, "OldResourceProperties": {},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


MALFORMED = {
    "update without PhysicalResourceId": (_event(PhysicalResourceId=None), "PhysicalResourceId"),
    "delete without PhysicalResourceId": (
        _event(RequestType="Delete", PhysicalResourceId=None), "PhysicalResourceId"),
    "create without RequestId": (_event(RequestType="Create", RequestId=None), "RequestId"),
    "no StackId": (_event(StackId=None), "StackId"),
    "StackId not a stack ARN": (_event(StackId="my-stack"), "StackId"),
    "no LogicalResourceId": (_event(LogicalResourceId=None), "LogicalResourceId"),
    "unknown RequestType": (_event(RequestType="Upsert"), "RequestType"),
    "properties not an object": (_event(ResourceProperties=["x"]), "ResourceProperties"),
    "update without OldResourceProperties": (
        _event(OldResourceProperties=None), "OldResourceProperties"),
    "not an object": ([], "JSON object"),
}


@pytest.mark.parametrize("event,field", MALFORMED.values(), ids=MALFORMED.keys())
def test_every_malformed_event_gets_a_clear_reason_before_any_sql(
    world: World, event: Any, field: str
) -> None:
    with pytest.raises(handler.ProvisioningError) as caught:
        world.send(event)

    assert field in str(caught.value) and "malformed" in str(caught.value)
    assert world.reads == [] and world.logins == [] and world.statements == []


# ---------------------------------------------------------------- point 7: timeouts


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


def finishes_within(seconds: float, action: Any) -> BaseException | None:
    """Run an action in a thread; fail when it is still running after `seconds`; return what it
    raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {time.monotonic() - started:.0f} s"
    return raised[0] if raised else None


def test_a_database_that_never_answers_fails_the_event_with_a_reason_naming_it(
    world: World, silent_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handler, "READ_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(handler, "CONNECT_TIMEOUT_SECONDS", 1)
    host, port = silent_server
    a = world.service("location")
    event = {"RequestType": "Create", "RequestId": "r-1", "LogicalResourceId": "Users",
             "StackId": world.stack_id,
             "ResourceProperties": {**world.properties([a]), "Endpoint": host,
                                    "Port": str(port)}}

    raised = finishes_within(20, lambda: world.send(event))

    assert isinstance(raised, handler.ProvisioningError), raised
    assert f"MySQL at {host}:{port} did not answer within 1 s" in str(raised)


def test_the_lambdas_own_connections_have_every_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(pymysql, "connect", lambda **kwargs: seen.update(kwargs))

    handler.connect_mysql(handler.Endpoint("db", 3306), handler.Credentials("u", "p"))

    assert (seen["connect_timeout"], seen["read_timeout"], seen["write_timeout"]) == (
        handler.CONNECT_TIMEOUT_SECONDS, handler.READ_TIMEOUT_SECONDS,
        handler.WRITE_TIMEOUT_SECONDS)
    assert all(0 < seen[k] <= 30 for k in ("connect_timeout", "read_timeout", "write_timeout"))
