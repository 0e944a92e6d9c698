"""A fresh server (only the master user, no database yet), with real processes.

On a new RDS instance the database named by ``DB_NAME`` does not exist; the
service creates it before migrating, even when several tasks start together,
and keeps answering 503 (without exiting) when its user may not create it.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from ecs_service.db import ConnectionPool
from ecs_service.definition import load_definition
from ecs_service.schema import SchemaKeeper
from ecs_service.settings import DatabaseSettings

from tests.services.service_harness import (
    DOCKER_DIR,
    HTTP,
    MySQL,
    ServiceProcess,
    quote_identifier,
    sample_record,
    wait_for_status,
)

StartService = Callable[..., ServiceProcess]
_counter = itertools.count(1)


def wait_for_log(process: ServiceProcess, message: str, timeout: float = 10.0) -> dict[str, object]:
    """The first log record with *message*, waiting for it to appear."""
    return process.wait_for_record(lambda r: r.get("message") == message, timeout=timeout)


def test_missing_database_is_created_then_served(
    mysql: MySQL, missing_database: str, start_service: StartService
) -> None:
    process = start_service("location", missing_database)  # waits for /health 200
    assert HTTP.get(process.url + "/health", timeout=10).text == "PASS"

    rows = mysql.execute(
        "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
        (missing_database,),
    )
    assert rows == [("utf8mb4",)]
    versions = mysql.execute(
        "SELECT component, version FROM schema_version", database=missing_database
    )
    assert versions == [("City", 1)]

    record = sample_record("location")
    created = HTTP.post(process.url + "/api/cities", json=record, timeout=10)
    assert created.status_code == 201, created.text
    fetched = HTTP.get(process.url + created.headers["location"], timeout=10)
    assert fetched.status_code == 200 and fetched.json()["name"] == record["name"]
    listed = HTTP.get(process.url + "/api/cities", timeout=10).json()
    assert [item["name"] for item in listed["items"]] == [record["name"]]
    assert [r["message"] for r in process.log_records()].count("creating the database") == 1


def test_concurrent_creators_create_the_database_once(mysql: MySQL, missing_database: str) -> None:
    """Four migrators (one pool each, like four tasks) released at once on a missing database."""
    definition = load_definition(DOCKER_DIR / "location" / "service.json")
    settings = DatabaseSettings(
        mysql.host, mysql.port, mysql.user, mysql.password, missing_database
    )
    pools = [ConnectionPool(settings) for _ in range(4)]
    barrier = threading.Barrier(len(pools))

    def migrator(pool: ConnectionPool) -> int:
        keeper = SchemaKeeper(pool, missing_database, definition)
        barrier.wait(timeout=10)
        return keeper.migrate_creating_database()

    try:
        with ThreadPoolExecutor(max_workers=len(pools)) as executor:
            versions = list(executor.map(migrator, pools))
    finally:
        for pool in pools:
            pool.close()
    assert versions == [1] * len(pools)
    rows = mysql.execute("SELECT component, version FROM schema_version", database=missing_database)
    assert rows == [("City", 1)]


LIMITED_USER_HOSTS = ("%", "localhost", "127.0.0.1")  # specific hosts beat anonymous ''@localhost


def grant(mysql: MySQL, privileges: str, database: str, user: str) -> None:
    """Grant *privileges* on every table of *database* to *user* at each test host."""
    conn = mysql.connect()
    try:
        with conn.cursor() as cur:
            for host in LIMITED_USER_HOSTS:
                cur.execute(
                    f"GRANT {privileges} ON {quote_identifier(database)}.* TO %s@%s", (user, host)
                )
    finally:
        conn.close()


@pytest.fixture
def limited_user(mysql: MySQL, missing_database: str) -> Iterator[tuple[str, str]]:
    """A user with data privileges on *missing_database* but no CREATE; dropped at the end."""
    user = f"ecs_svc_{secrets.token_hex(6)}"
    password = secrets.token_hex(12)
    conn = mysql.connect()
    try:
        with conn.cursor() as cur:
            for host in LIMITED_USER_HOSTS:
                cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        grant(mysql, "SELECT, INSERT, UPDATE, DELETE", missing_database, user)
        yield user, password
    finally:
        with conn.cursor() as cur:
            for host in LIMITED_USER_HOSTS:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        conn.close()


def test_user_without_create_privilege_reports_503_and_retries(
    mysql: MySQL,
    missing_database: str,
    limited_user: tuple[str, str],
    start_service: StartService,
) -> None:
    user, password = limited_user
    process = start_service(
        "location", missing_database, wait="listening", DB_USER=user, DB_PWD=password
    )
    record = wait_for_log(process, "cannot create the database; retrying")
    assert record["level"] == "ERROR" and record["database"] == missing_database
    assert "CREATE" in str(record["reason"]) and "1044" in str(record["reason"])
    response = HTTP.get(process.url + "/health", timeout=10)
    assert (response.status_code, response.text) == (503, "FAIL")
    assert HTTP.get(process.url + "/api/cities", timeout=10).status_code == 503
    assert process.proc is not None and process.proc.poll() is None, "no crash loop"
    assert not mysql.database_exists(missing_database)

    grant(mysql, "CREATE", missing_database, user)  # the operator fixes it: the service recovers
    wait_for_status(process.url + "/health", 200, timeout=10, describe=process.log_text)
    assert process.proc.poll() is None


def test_invalid_database_name_exits_2(mysql: MySQL, start_service: StartService) -> None:
    """One process (each costs ~0.5 s); the other rules are unit-tested in test_service_units."""
    name = "loca`tion"
    process = start_service("location", name, wait="no")
    assert process.proc is not None and process.proc.wait(timeout=15) == 2
    (record,) = process.log_records()
    assert record["level"] == "ERROR" and record["message"] == "configuration error"
    assert record["reason"] == (
        "DB_NAME contains a backtick: 'loca`tion' is not a valid MySQL database name"
    )
    assert not mysql.database_exists(name)
