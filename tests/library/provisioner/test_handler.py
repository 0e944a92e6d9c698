"""The database users provisioner's handler against the real MySQL-compatible server.

Each test provisions services of its own (names carry the session's suffix), then checks the
result the way a service would meet it: by logging in and running statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pymysql
import pytest

from ecs_playground.database_users_handler import index as handler
from tests.services.service_harness import MySQL

from .conftest import MASTER_ARN, SUFFIX, Service, World

WRITES = re.compile(r"\s*(CREATE|ALTER|GRANT|REVOKE|DROP|RENAME|SET)\b", re.IGNORECASE)
ACCESS_DENIED = 1045
DB_ACCESS_DENIED = 1044
TABLE_ACCESS_DENIED = 1142
COMMAND_DENIED = {DB_ACCESS_DENIED, TABLE_ACCESS_DENIED, 1227}


def login(mysql: MySQL, user: str, password: str, database: str | None = None) -> Any:
    """A connection as a service user (raises when the server refuses it)."""
    return pymysql.connect(host=mysql.host, port=mysql.port, user=user, password=password,
                           database=database, autocommit=True, connect_timeout=3)


def error_of(action: Callable[[], object]) -> int:
    """The MySQL error code an action fails with (fails the test when it succeeds)."""
    with pytest.raises(pymysql.err.MySQLError) as caught:
        action()
    return int(caught.value.args[0])


def run(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def grants(mysql: MySQL, user: str) -> set[str]:
    """SHOW GRANTS, without MariaDB's password hash on the USAGE line."""
    rows = mysql.execute("SHOW GRANTS FOR %s@'%%'", (user,))
    return {re.sub(r" IDENTIFIED BY PASSWORD '[^']*'", "", line) for (line,) in rows}


def exact_grants(service: Service) -> set[str]:
    """What a provisioned service user holds: its schema (with '_' escaped), nothing else."""
    pattern = service.schema.replace("_", "\\_")
    return {
        f"GRANT USAGE ON *.* TO `{service.user}`@`%`",
        f"GRANT SELECT, INSERT, UPDATE, CREATE, INDEX, ALTER ON `{pattern}`.* TO "
        f"`{service.user}`@`%`",
    }


def user_exists(mysql: MySQL, user: str) -> bool:
    return bool(mysql.execute("SELECT 1 FROM mysql.user WHERE User = %s", (user,)))


def writes(world: World) -> list[str]:
    return [s for s in world.statements if WRITES.match(s)]


# ---------------------------------------------------------------- create


def test_create_gives_each_service_a_schema_and_exactly_its_grants(world: World) -> None:
    a, b = world.service("location"), world.service("user")

    result = world.create([a, b])

    assert result["Data"] == {"Users": f"{a.user},{b.user}"}
    assert result["PhysicalResourceId"].startswith("database-users-")
    for service in (a, b):
        assert world.mysql.database_exists(service.schema)
        assert grants(world.mysql, service.user) == exact_grants(service)


def test_a_service_user_can_create_migrate_and_use_its_own_schema(world: World) -> None:
    a = world.service("location")
    world.create([a])

    conn = login(world.mysql, a.user, world.password(a), a.schema)
    run(conn, "CREATE TABLE IF NOT EXISTS `City` (`id` INT PRIMARY KEY, `name` VARCHAR(20))")
    run(conn, "INSERT INTO `City` VALUES (1, 'Berlin') ON DUPLICATE KEY UPDATE `name` = 'x'")
    run(conn, "INSERT INTO `City` VALUES (1, 'Berlin') ON DUPLICATE KEY UPDATE `name` = 'Bonn'")
    run(conn, "ALTER TABLE `City` ADD COLUMN `district` VARCHAR(20) NULL")
    run(conn, "CREATE INDEX `ix_name` ON `City` (`name`)")
    run(conn, "SELECT GET_LOCK('ecs_service:migrate:test', 1)")

    assert run(conn, "SELECT `name`, `district` FROM `City`") == [("Bonn", None)]


def test_a_service_user_cannot_touch_another_schema_or_do_more_than_granted(
    world: World,
) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])
    world.mysql.execute(f"CREATE TABLE `{b.schema}`.`User` (`id` INT)")
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`City` (`id` INT)")
    # '_' is a wildcard in GRANT patterns: a schema that only matches through it
    lookalike = a.schema[::-1].replace("_", "X", 1)[::-1]
    world.mysql.create_database(lookalike)
    world.mysql.execute(f"CREATE TABLE `{lookalike}`.`t` (`id` INT)")

    conn = login(world.mysql, a.user, world.password(a))
    for sql in (
        f"SELECT * FROM `{b.schema}`.`User`",
        f"INSERT INTO `{b.schema}`.`User` VALUES (1)",
        f"CREATE TABLE `{b.schema}`.`x` (`id` INT)",
        f"USE `{b.schema}`",
        f"SELECT * FROM `{lookalike}`.`t`",
        f"CREATE DATABASE `{a.schema}_more`",
        f"DELETE FROM `{a.schema}`.`City`",
        f"DROP TABLE `{a.schema}`.`City`",
        f"DROP DATABASE `{a.schema}`",
        f"GRANT SELECT ON `{a.schema}`.* TO `{b.user}`@`%`",
        "SELECT * FROM mysql.user",
        "SHOW PROCESSLIST",
        "SET GLOBAL max_connections = 1",
    ):
        if sql == "SHOW PROCESSLIST":  # allowed, but shows only the user's own threads
            users = {row[1] for row in run(conn, sql)}
            assert users == {a.user}, sql
            continue
        assert error_of(lambda sql=sql: run(conn, sql)) in COMMAND_DENIED, sql


# ---------------------------------------------------------------- update


def test_update_with_a_new_password_refuses_the_old_one(world: World) -> None:
    a = world.service("location")
    world.create([a])
    old = world.password(a)
    world.secrets[a.secret_arn]["password"] = "rotated-" + old

    world.update([a], old=[a])

    assert error_of(lambda: login(world.mysql, a.user, old)) == ACCESS_DENIED
    login(world.mysql, a.user, "rotated-" + old).close()
    assert any(s.startswith("ALTER USER") for s in world.statements)


def test_a_rerun_changes_nothing(world: World) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`City` (`id` INT)")
    world.mysql.execute(f"INSERT INTO `{a.schema}`.`City` VALUES (7)")
    world.forget()

    world.update([a, b], old=[a, b])

    assert writes(world) == []
    for service in (a, b):
        assert grants(world.mysql, service.user) == exact_grants(service)
        login(world.mysql, service.user, world.password(service)).close()
    assert world.mysql.execute(f"SELECT `id` FROM `{a.schema}`.`City`") == [(7,)]


def test_a_retried_create_converges(world: World) -> None:
    a = world.service("location")
    world.create([a])

    world.create([a])

    assert grants(world.mysql, a.user) == exact_grants(a)
    login(world.mysql, a.user, world.password(a)).close()


def test_update_revokes_every_extra_privilege(world: World) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])
    role = f"extra-role-{SUFFIX}"
    world.mysql.execute(f"CREATE TABLE `{b.schema}`.`User` (`id` INT, `email` VARCHAR(9))")
    world.mysql.execute("CREATE ROLE IF NOT EXISTS %s", (role,))
    try:
        for extra in (
            f"GRANT SELECT ON `{b.schema}`.* TO %s@'%%'",
            "GRANT PROCESS ON *.* TO %s@'%%'",
            f"GRANT SELECT ON `{a.schema.replace('_', chr(92) + '_')}`.* TO %s@'%%' "
            "WITH GRANT OPTION",
            f"GRANT INSERT ON `{b.schema}`.`User` TO %s@'%%'",
            f"GRANT UPDATE (`email`) ON `{b.schema}`.`User` TO %s@'%%'",
            f"GRANT `{role}` TO %s@'%%'",
        ):
            world.mysql.execute(extra, (a.user,))
        assert grants(world.mysql, a.user) != exact_grants(a)

        world.update([a, b], old=[a, b])

        assert grants(world.mysql, a.user) == exact_grants(a)
    finally:
        world.mysql.execute(f"DROP ROLE IF EXISTS `{role}`")


def test_a_service_moved_to_another_schema_loses_the_old_one_and_keeps_its_data(
    world: World,
) -> None:
    a = world.service("location")
    world.create([a])
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`City` (`id` INT)")
    moved = Service(a.user, a.schema + "_v2", a.secret_arn)

    world.update([moved], old=[a])

    assert grants(world.mysql, a.user) == exact_grants(moved)
    conn = login(world.mysql, a.user, world.password(a))
    code = error_of(lambda: run(conn, f"SELECT * FROM `{a.schema}`.`City`"))
    assert code == TABLE_ACCESS_DENIED
    assert world.mysql.execute(f"SELECT COUNT(*) FROM `{a.schema}`.`City`") == [(0,)]


def test_a_removed_service_loses_its_user_and_keeps_its_data(world: World) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])
    world.mysql.execute(f"CREATE TABLE `{b.schema}`.`User` (`id` INT)")
    world.mysql.execute(f"INSERT INTO `{b.schema}`.`User` VALUES (3)")

    world.update([a], old=[a, b])

    assert not user_exists(world.mysql, b.user)
    assert world.mysql.execute(f"SELECT `id` FROM `{b.schema}`.`User`") == [(3,)]
    assert grants(world.mysql, a.user) == exact_grants(a)


def test_a_renamed_service_gets_a_new_user_and_the_old_one_is_dropped(world: World) -> None:
    a = world.service("location")
    world.create([a])
    renamed = world.service("place")

    world.update([renamed], old=[a])

    assert not user_exists(world.mysql, a.user)
    assert grants(world.mysql, renamed.user) == exact_grants(renamed)


def test_after_a_move_to_another_server_the_old_servers_users_are_not_dropped(
    world: World,
) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])

    world.update([a], old=[a, b], old_extra={"Endpoint": "old-db.example.internal"})

    assert user_exists(world.mysql, b.user)


# ---------------------------------------------------------------- delete


def test_delete_drops_the_users_and_keeps_schemas_and_data(world: World) -> None:
    a, b = world.service("location"), world.service("user")
    world.create([a, b])
    world.mysql.execute(f"CREATE TABLE `{a.schema}`.`City` (`id` INT)")
    world.mysql.execute(f"INSERT INTO `{a.schema}`.`City` VALUES (1)")

    world.delete([a, b])
    world.delete([a, b])  # a retried delete succeeds too

    assert not user_exists(world.mysql, a.user) and not user_exists(world.mysql, b.user)
    assert world.mysql.execute(f"SELECT `id` FROM `{a.schema}`.`City`") == [(1,)]
    assert world.mysql.database_exists(b.schema)


def test_delete_drops_the_schemas_only_when_asked(world: World) -> None:
    a = world.service("location")
    world.create([a], DropSchemas="true")

    world.delete([a], DropSchemas="true")

    assert not user_exists(world.mysql, a.user)
    assert not world.mysql.database_exists(a.schema)


def test_delete_of_properties_that_never_validated_runs_no_sql(world: World) -> None:
    hostile = Service("x'@'%", "mysql", "arn:aws:secretsmanager:eu-west-1:1:secret:x")

    result = world.delete([hostile])

    assert result == {"PhysicalResourceId": world.physical_id}
    assert world.reads == [] and world.logins == [] and world.statements == []


# ---------------------------------------------------------------- rejected before any SQL


HOSTILE = {
    "quote in user": ("a'@'%' IDENTIFIED BY 'x", "ok_schema"),
    "backtick in schema": ("svc", "a`; DROP DATABASE mysql; -- "),
    "wildcard schema": ("svc", "prov%"),
    "dot in schema": ("svc", "other.t"),
    "root user": ("root", "ok_schema"),
    "system schema": ("svc", "mysql"),
    "information_schema": ("svc", "INFORMATION_SCHEMA"),
    "user too long": ("a" * 33, "ok_schema"),
    "schema too long": ("svc", "s" * 65),
    "upper-case user": ("Svc", "ok_schema"),
    "empty user": ("", "ok_schema"),
}


@pytest.mark.parametrize("user,schema", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_names_are_rejected_before_any_sql(world: World, user: str, schema: str) -> None:
    good = world.service("location")
    hostile = Service(user, schema, good.secret_arn)

    with pytest.raises(handler.ProvisioningError, match="nothing was changed") as caught:
        world.create([good, hostile])

    assert world.reads == [] and world.logins == [] and world.statements == []
    assert repr(user)[:20] in str(caught.value) or repr(schema)[:20] in str(caught.value)


def test_two_services_cannot_share_a_schema(world: World) -> None:
    a, b = world.service("location"), world.service("user")

    with pytest.raises(handler.ProvisioningError, match="a schema no other service uses"):
        world.create([a, Service(b.user, a.schema.upper(), b.secret_arn)])

    assert world.logins == [] and world.statements == []


def test_a_service_named_like_the_master_user_is_rejected_before_any_sql(world: World) -> None:
    a = world.service("location")
    world.secrets[MASTER_ARN] = {"username": a.user, "password": "irrelevant"}

    with pytest.raises(handler.ProvisioningError, match="master user's name"):
        world.create([a])

    assert world.logins == [] and world.statements == []


def test_a_secret_naming_another_user_is_rejected_before_any_sql(world: World) -> None:
    a, b = world.service("location"), world.service("user")

    with pytest.raises(handler.ProvisioningError, match="must name its own user"):
        world.create([Service(a.user, a.schema, b.secret_arn)])

    assert world.logins == [] and world.statements == []


def test_a_refused_master_password_is_a_clear_reason_without_the_password(
    world: World,
) -> None:
    a = world.service("location")
    world.secrets[MASTER_ARN] = {"username": world.mysql.user, "password": "wrong-pw-4711"}

    with pytest.raises(handler.ProvisioningError) as caught:
        world.create([a])

    message = str(caught.value)
    assert f"{world.mysql.host}:{world.mysql.port}" in message and "refused" in message
    assert "wrong-pw-4711" not in message
    assert world.statements == []


def test_an_unreadable_secret_is_a_clear_reason(world: World) -> None:
    a = world.service("location")
    del world.secrets[a.secret_arn]

    with pytest.raises(handler.ProvisioningError, match=f"cannot read the service '{a.user}'"):
        world.create([a])

    assert world.statements == []


@pytest.mark.parametrize("statement", ["CREATE USER", "ALTER USER"])
def test_a_failed_password_statement_never_reveals_the_password(
    world: World, statement: str
) -> None:
    a = world.service("location")
    if statement == "ALTER USER":
        world.create([a])
        world.secrets[a.secret_arn]["password"] = "rotated-" + world.password(a)
    world.fail_statements = statement

    with pytest.raises(handler.ProvisioningError) as caught:
        world.create([a])

    message = str(caught.value)
    assert message.startswith(statement) and f"['{a.user}', '%', '***'] failed" in message
    assert "MySQL error 1064" in message
    assert world.password(a) not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
