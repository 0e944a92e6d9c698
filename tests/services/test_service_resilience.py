"""Database outages, concurrent start-up, unexpected errors and SIGTERM, with real processes."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from ecs_service.db import ConnectionPool, DictConnection
from ecs_service.definition import load_definition, parse_definition
from ecs_service.schema import SchemaKeeper, lock_name, migrate, schema_problem
from ecs_service.settings import DatabaseSettings

from tests.services.service_harness import (
    DOCKER_DIR,
    HTTP,
    MySQL,
    ServiceProcess,
    TcpProxy,
    wait_for_status,
)

StartService = Callable[..., ServiceProcess]
CITY = {"name": "Lisbon", "country_code": "PRT", "district": "Lisboa", "population": 545_000}


def status_of(
    process: ServiceProcess, path: str, method: str = "GET", **kwargs: Any
) -> tuple[int, str]:
    """Status and body of one request, timed: the service must answer fast even with the DB down."""
    started = time.monotonic()
    response = HTTP.request(method, process.url + path, timeout=10, **kwargs)
    assert time.monotonic() - started < 3.5, f"{path} took too long"
    return response.status_code, response.text


def assert_unavailable(process: ServiceProcess) -> None:
    """Health fails and the API answers 503 with a JSON error."""
    assert status_of(process, "/health") == (503, "FAIL")
    for method, kwargs in (("GET", {}), ("POST", {"json": CITY})):
        status, body = status_of(process, "/api/cities", method, **kwargs)
        assert status == 503 and '"error":"unavailable"' in body, body


def test_database_down_at_start_then_up_then_down_then_up(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    proxy = TcpProxy(mysql.host, mysql.port)
    try:
        process = start_service(
            "location", fresh_database, wait="listening", DB_PORT=str(proxy.port)
        )
        assert_unavailable(process)

        proxy.start()  # the database "comes up": the schema is created in the background
        wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
        assert status_of(process, "/api/cities", "POST", json=CITY)[0] == 201

        proxy.stop()  # it goes away, pooled connections are cut
        assert_unavailable(process)

        proxy.start()
        wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
        status, body = status_of(process, "/api/cities")
        assert status == 200 and "Lisbon" in body
        assert process.proc is not None and process.proc.poll() is None, (
            "the process never restarted"
        )
    finally:
        proxy.stop()


def test_database_dropped_and_recreated(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    process = start_service("location", fresh_database)
    assert status_of(process, "/api/cities", "POST", json=CITY)[0] == 201

    mysql.drop_database(fresh_database)
    # The first request after the drop fails; the service then recreates the
    # database and the schema by itself (an operator's CREATE could race it).
    assert status_of(process, "/health") == (503, "FAIL")
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    assert mysql.database_exists(fresh_database)
    status, body = status_of(process, "/api/cities", "POST", json=CITY)
    assert status == 201 and '"id":1' in body


def messages_since(process: ServiceProcess, mark: int) -> list[str]:
    """The messages of the log records after *mark*, access lines left out."""
    return [r["message"] for r in process.log_records()[mark:] if r.get("type") != "access"]


def test_dropped_table_is_recreated_and_health_recovers(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    process = start_service("location", fresh_database)
    assert status_of(process, "/api/cities", "POST", json=CITY)[0] == 201
    mark = process.log_mark()

    mysql.execute("DROP TABLE `City`", database=fresh_database)
    assert status_of(process, "/health") == (503, "FAIL")
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    process.wait_for_record(lambda r: r["message"] == "schema ready", since=mark)

    records = [r for r in process.log_records()[mark:] if r.get("type") != "access"]
    messages = [r["message"] for r in records]
    # What happened, in order: no "schema ready" before the table is back.
    expected = [
        "health check failed",
        "schema check failed; checking the schema again",
        "table missing; re-creating it",
        "applied schema version",
        "schema ready",
    ]
    assert set(expected) <= set(messages), messages
    first = [messages.index(m) for m in expected]
    assert first == sorted(first), messages
    failed = records[messages.index("health check failed")]
    assert "City" in failed["reason"] and "1146" in failed["reason"]
    recreated = records[messages.index("table missing; re-creating it")]
    assert (recreated["level"], recreated["table"], recreated["recorded_version"]) == (
        "WARNING",
        "City",
        1,
    )
    status, body = status_of(process, "/api/cities", "POST", json=CITY)
    assert status == 201 and json.loads(body)["id"] == 1, "a new, empty table"


def test_damaged_table_is_reported_until_repaired(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    """A table missing a column is not re-created (its rows would be lost): 503 and an ERROR."""
    process = start_service("location", fresh_database)
    assert status_of(process, "/api/cities", "POST", json=CITY)[0] == 201
    mark = process.log_mark()

    mysql.execute("ALTER TABLE `City` DROP COLUMN `district`", database=fresh_database)
    assert status_of(process, "/health") == (503, "FAIL")
    report = process.wait_for_record(
        lambda r: r["message"] == "schema damaged; retrying", since=mark
    )
    assert report["level"] == "ERROR" and "lacks column(s) `district`" in report["reason"]
    repair = re.findall(r"ALTER TABLE [^;]+;", report["reason"])
    assert repair == ["ALTER TABLE `City` ADD COLUMN `district` VARCHAR(20) NULL;"]
    assert status_of(process, "/health") == (503, "FAIL"), "still failing, never repaired by itself"
    assert "schema ready" not in messages_since(process, mark)
    assert mysql.execute("SELECT COUNT(*) FROM `City`", database=fresh_database) == [(1,)]

    mysql.execute(repair[0], database=fresh_database)  # the operator follows the log's advice
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    process.wait_for_record(lambda r: r["message"] == "schema ready", since=mark)
    status, body = status_of(process, "/api/cities")
    assert status == 200 and [item["name"] for item in json.loads(body)["items"]] == ["Lisbon"]


def test_a_column_narrower_than_the_definition_fails_the_health_check_until_widened(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    """A definition that accepts more than its table holds (a field widened in service.json
    without a migration): the task reports it and fails its health check, so a rollout of such a
    version never takes traffic, instead of answering those requests with a server error."""
    process = start_service("location", fresh_database)
    assert status_of(process, "/api/cities", "POST", json=CITY)[0] == 201
    mark = process.log_mark()

    # the table as an older definition made it: district up to 10 characters (this one: 20)
    mysql.execute("ALTER TABLE `City` MODIFY COLUMN `district` VARCHAR(10) NULL",
                  database=fresh_database)
    assert status_of(process, "/health") == (503, "FAIL")
    report = process.wait_for_record(
        lambda r: r["message"] == "schema damaged; retrying", since=mark
    )
    assert report["level"] == "ERROR", report
    assert "`district` is varchar(10), but the service accepts up to 20" in report["reason"]
    repair = re.findall(r"ALTER TABLE [^;]+;", report["reason"])
    assert repair == ["ALTER TABLE `City` MODIFY COLUMN `district` VARCHAR(20) NULL;"]
    assert status_of(process, "/health") == (503, "FAIL"), "still failing until widened"

    mysql.execute(repair[0], database=fresh_database)  # the migration the log names
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    process.wait_for_record(lambda r: r["message"] == "schema ready", since=mark)
    assert status_of(process, "/api/cities", "POST", json={**CITY, "district": "x" * 20})[0] == 201


def test_missing_column_is_found_even_when_schema_version_has_one_of_that_name(
    mysql: MySQL, fresh_database: str
) -> None:
    """A field called ``version``: unqualified, its missing column would be schema_version's."""
    data = json.loads((DOCKER_DIR / "location" / "service.json").read_text())
    data["fields"].append({"name": "version", "type": "integer", "minimum": 0})
    definition = parse_definition(data)
    settings = DatabaseSettings(mysql.host, mysql.port, mysql.user, mysql.password, fresh_database)
    pool = ConnectionPool(settings)
    try:
        assert pool.run(lambda conn: migrate(conn, fresh_database, definition)) == 1
        assert pool.run(lambda conn: schema_problem(conn, definition)) is None
        mysql.execute("ALTER TABLE `City` DROP COLUMN `version`", database=fresh_database)
        problem = pool.run(lambda conn: schema_problem(conn, definition))
    finally:
        pool.close()
    assert problem is not None and "lacks column(s) `version`" in problem, problem


def test_tasks_repairing_a_dropped_table_together_recreate_it_once(
    mysql: MySQL, fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Four tasks (one pool each) notice the dropped table at once: one re-creates it.

    The test plays a fifth task that holds the migration lock: all four must queue on it
    (none may look at the table or re-create it meanwhile), then take it one at a time.
    """
    definition = load_definition(DOCKER_DIR / "location" / "service.json")
    settings = DatabaseSettings(mysql.host, mysql.port, mysql.user, mysql.password, fresh_database)
    pools = [ConnectionPool(settings) for _ in range(4)]
    keepers = [SchemaKeeper(pool, fresh_database, definition) for pool in pools]
    holder = mysql.connect(fresh_database)
    lock = lock_name(fresh_database, definition)
    city_tables = (
        "SELECT COUNT(*) FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'City'"
    )
    try:
        assert keepers[0].migrate_creating_database() == 1
        mysql.execute("DROP TABLE `City`", database=fresh_database)
        caplog.clear()
        with (
            caplog.at_level(logging.INFO, logger="ecs_service.schema"),
            ThreadPoolExecutor(max_workers=len(keepers)) as executor,
        ):
            with holder.cursor() as cur:
                cur.execute("SELECT GET_LOCK(%s, 0)", (lock,))
                assert cur.fetchone() == (1,)
            futures = [executor.submit(k.migrate_creating_database) for k in keepers]
            try:
                mysql.wait_for_lock_waits(fresh_database, count=len(keepers))
                assert mysql.execute(city_tables, (fresh_database,)) == [(0,)], (
                    "re-created without holding the migration lock"
                )
            finally:
                with holder.cursor() as cur:
                    cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
            versions = [future.result(timeout=20) for future in futures]
    finally:
        holder.close()
        for pool in pools:
            pool.close()
    assert versions == [1] * len(keepers)
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("table missing; re-creating it") == 1, messages
    assert messages.count("applied schema version") == 1, messages
    rows = mysql.execute("SELECT component, version FROM schema_version", database=fresh_database)
    assert rows == [("City", 1)]
    mysql.execute(
        "INSERT INTO `City` (`name`, `country_code`) VALUES ('Porto', 'PRT')",
        database=fresh_database,
    )


@pytest.mark.parametrize("database_fixture", ["fresh_database", "missing_database"])
def test_two_tasks_start_together_on_an_empty_database(
    mysql: MySQL, database_fixture: str, start_service: StartService,
    request: pytest.FixtureRequest,
) -> None:
    """Empty database, or none at all (a fresh RDS instance): one task creates and migrates."""
    fresh_database = request.getfixturevalue(database_fixture)
    first = start_service("location", fresh_database, wait="no")
    second = start_service("location", fresh_database, wait="no")
    for process in (first, second):
        process.wait_listening()
        process.wait_healthy()
    rows = mysql.execute("SELECT component, version FROM schema_version", database=fresh_database)
    assert rows == [("City", 1)]
    applied = [
        r
        for p in (first, second)
        for r in p.log_records()
        if r["message"] == "applied schema version"
    ]
    assert len(applied) == 1, "exactly one task applies the migration"
    assert status_of(first, "/api/cities", "POST", json=CITY)[0] == 201
    status, body = status_of(second, "/api/cities")
    assert status == 200 and "Lisbon" in body


def test_concurrent_migrations_apply_each_step_once(mysql: MySQL, fresh_database: str) -> None:
    """Eight migrators released at once; the ALTER would fail if any step ran twice."""
    data = json.loads((DOCKER_DIR / "location" / "service.json").read_text())
    data["migrations"] = [["ALTER TABLE `City` ADD COLUMN `area_km2` INT NULL"]]
    definition = parse_definition(data)
    settings = DatabaseSettings(mysql.host, mysql.port, mysql.user, mysql.password, fresh_database)
    pool = ConnectionPool(settings)
    barrier = threading.Barrier(8)

    def migrator(conn: DictConnection) -> int:
        barrier.wait(timeout=10)
        return migrate(conn, fresh_database, definition)

    try:
        with ThreadPoolExecutor(max_workers=8) as executor:
            versions = list(executor.map(lambda _: pool.run(migrator), range(8)))
    finally:
        pool.close()
    assert versions == [2] * 8
    rows = mysql.execute("SELECT component, version FROM schema_version", database=fresh_database)
    assert rows == [("City", 2)]


def test_unexpected_error_is_a_generic_500(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    process = start_service("location", fresh_database)
    mysql.execute("ALTER TABLE `City` DROP COLUMN `district`", database=fresh_database)
    response = HTTP.get(process.url + "/api/cities", timeout=10)
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "Internal server error"}
    time.sleep(0.2)
    errors = [r for r in process.log_records() if r["level"] == "ERROR"]
    assert errors and "Unknown column" in errors[0]["traceback"], "details go to the log only"
    access = [
        r for r in process.log_records() if r.get("type") == "access" and r["path"] == "/api/cities"
    ]
    assert [r["status"] for r in access] == [500]


def test_sigterm_drains_in_flight_request_and_exits_0(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    process = start_service("location", fresh_database)
    assert process.proc is not None
    locker = mysql.connect(fresh_database)
    result: dict[str, Any] = {}
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES `City` WRITE")  # the service's SELECT now waits
        request = threading.Thread(
            target=lambda: result.update(
                response=HTTP.get(process.url + "/api/cities", timeout=20)
            )
        )
        request.start()
        mysql.wait_for_query(fresh_database, "SELECT %City%")

        process.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.proc.poll() is None, "it waits for the in-flight request"
        with (
            pytest.raises(OSError),
            socket.create_connection(("127.0.0.1", process.port), timeout=1),
        ):
            pass  # no new connections once draining

        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        request.join(timeout=10)
    finally:
        locker.close()
    assert result["response"].status_code == 200 and result["response"].json()["items"] == []
    assert process.proc.wait(timeout=10) == 0
    messages = [r["message"] for r in process.log_records()]
    assert messages[-1] == "stopped"


def test_missing_configuration_exits_2_with_a_json_log(
    mysql: MySQL, fresh_database: str, start_service: StartService
) -> None:
    process = start_service("user", fresh_database, wait="no", DB_HOST="")
    assert process.proc is not None and process.proc.wait(timeout=15) == 2
    (record,) = process.log_records()
    assert record["level"] == "ERROR" and "DB_HOST" in record["reason"]
