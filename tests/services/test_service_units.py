"""Pure functions of the shared package (no database, no process)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest
from ecs_service.definition import UINT64_MAX, DefinitionError, load_definition, parse_definition
from ecs_service.logs import JsonFormatter
from ecs_service.pages import render_home
from ecs_service.schema import (
    create_database_ddl,
    create_table_ddl,
    lock_name,
    migration_steps,
    narrow_columns,
    quote,
)
from ecs_service.settings import SettingsError, load_settings
from ecs_service.validation import (
    BadRequest,
    ValidationFailed,
    json_integer,
    parse_decimal,
    parse_page,
    validate_record,
)
from ecs_service.web import SlashRedirect
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message

from tests.services.service_harness import DOCKER_DIR

LOCATION = load_definition(DOCKER_DIR / "location" / "service.json")
MINIMAL: dict[str, Any] = {
    "name": "demo",
    "port": 8000,
    "table": "Demo",
    "resource": "demos",
    "fields": [{"name": "label", "type": "string", "max_length": 10}],
}


def test_home_page_escapes_everything() -> None:
    page = render_home('<script>alert("t")</script>', "<img src=x onerror=1>", "<now>", "/api/<x>")
    assert "<script>" not in page and "<img" not in page and "<now>" not in page
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=1&gt;" in page


def test_titles_and_paths_come_from_the_definition() -> None:
    assert (LOCATION.title, LOCATION.api_path, LOCATION.legacy_list_path) == (
        "Location Service",
        "/api/cities",
        "/location.php",
    )
    user = load_definition(DOCKER_DIR / "user" / "service.json")
    assert (user.title, user.table, user.port) == ("User Service", "User", 9091)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"table": "City`; DROP TABLE x; --"}, "bad table name"),
        ({"table": "schema_version"}, "table name 'schema_version' is reserved"),
        ({"port": 0}, "port must be 1..65535"),
        ({"port": "80"}, "'port' must be of type int"),
        ({"name": "Bad Name"}, "bad service name"),
        ({"resource": "../etc"}, "bad resource"),
        ({"fields": []}, "at least one field is needed"),
        ({"fields": [{"name": "id", "type": "integer"}]}, "field name 'id' is reserved"),
        ({"fields": [{"name": "a", "type": "float"}]}, "field 'a': type must be one of"),
        ({"fields": [{"name": "a", "type": "string"}]}, "field 'a': max_length must be"),
        (
            {"fields": [{"name": "a", "type": "string", "max_length": 5, "pattern": "("}]},
            "field 'a': bad pattern",
        ),
        (
            {"fields": [{"name": "a", "type": "integer", "minimum": 5, "maximum": 1}]},
            "field 'a': bad minimum/maximum",
        ),
        (
            {"fields": [{"name": "a", "type": "integer", "required": "yes"}]},
            "'required' must be of type bool",
        ),
        (
            {"fields": [{"name": "a", "type": "integer", "colour": "red"}]},
            "field 'a': unknown keys ['colour']",
        ),
        ({"migrations": [[]]}, "each migration must be a non-empty list"),
        ({"extra": 1}, "unknown keys ['extra']"),
    ],
)
def test_bad_definitions_are_rejected(change: dict[str, Any], problem: str) -> None:
    """Each case is refused for its own reason (not by some other check that happens to fail)."""
    with pytest.raises(DefinitionError) as caught:
        parse_definition({**MINIMAL, **change})
    assert str(caught.value).startswith(problem)


def test_ddl_and_migrations() -> None:
    ddl = create_table_ddl(LOCATION)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `City` (")
    assert (
        "`country_code` VARCHAR(3) NOT NULL" in ddl and "`population` BIGINT UNSIGNED NULL" in ddl
    )
    extra = parse_definition(
        {**MINIMAL, "migrations": [["ALTER TABLE `Demo` ADD COLUMN `n` INT NULL"]]}
    )
    assert extra.schema_version == 2 and len(migration_steps(extra)) == 2
    assert len(lock_name("x" * 64, LOCATION)) <= 64
    assert lock_name("a", LOCATION) != lock_name("b", LOCATION)


def _column(name: str, column_type: str, nullable: str = "YES") -> dict[str, object]:
    """An information_schema.COLUMNS row as schema_problem reads it."""
    data_type = column_type.split("(")[0].split()[0]
    length = int(column_type.split("(")[1].split(")")[0]) if "char" in data_type else None
    if data_type.endswith("text"):
        length = 65535
    return {"name": name, "data_type": data_type, "length": length, "column_type": column_type,
            "nullable": nullable}


def test_a_column_that_cannot_hold_what_the_service_accepts_is_named_with_its_repair() -> None:
    # the columns the service creates fit, as MariaDB and as MySQL 8 describe them
    created = [_column("name", "varchar(35)", "NO"), _column("country_code", "varchar(3)", "NO"),
               _column("district", "varchar(20)"), _column("population", "bigint(20) unsigned")]
    assert narrow_columns(created, LOCATION) is None
    mysql8 = [*created[:3], _column("population", "bigint unsigned")]
    assert narrow_columns(mysql8, LOCATION) is None
    # wider than needed fits too (a migration may widen ahead of the definition)
    wider = [*created[:2], _column("district", "text"), _column("population", "bigint")]
    wider[3]["column_type"] = "bigint(20)"  # signed 64 bits hold 0..4294967295
    assert narrow_columns(wider, LOCATION) is None

    # a field widened in the definition without a migration
    problem = narrow_columns([*created[:2], _column("District", "varchar(10)"), created[3]],
                             LOCATION)
    assert problem is not None
    assert "`district` is varchar(10), but the service accepts up to 20 characters" in problem
    assert "ALTER TABLE `City` MODIFY COLUMN `district` VARCHAR(20) NULL;" in problem
    # a range the column cannot store, a NOT NULL column for an optional field, a string column
    # for an integer field: each named, each with its repair
    for column, said in (
        (_column("population", "int(10)"), "is int(10), but the service accepts 0..4294967295"),
        (_column("population", "bigint unsigned", "NO"), "NOT NULL, but the field is optional"),
        (_column("population", "varchar(20)"), "is varchar(20), not an integer column"),
    ):
        problem = narrow_columns([*created[:3], column], LOCATION)
        assert problem is not None and said in problem, (column, problem)
        assert "MODIFY COLUMN `population` BIGINT UNSIGNED NULL;" in problem, problem
    # a column that is missing is another check's (missing_columns)
    assert narrow_columns(created[:3], LOCATION) is None


def test_record_validation() -> None:
    values = validate_record(LOCATION, {"name": "Porto", "country_code": "PRT"})
    assert values == {"name": "Porto", "country_code": "PRT", "district": None, "population": None}
    with pytest.raises(ValidationFailed) as caught:
        validate_record(
            LOCATION, {"name": "x" * 36, "country_code": None, "population": 2**40 * 2**40}
        )
    assert {p.field for p in caught.value.problems} == {"name", "country_code", "population"}


def test_page_parameters() -> None:
    assert parse_page({}) == parse_page({"limit": "20", "after": "0"})
    assert parse_page({"after": str(UINT64_MAX)}).after == UINT64_MAX, "any id is a cursor"
    for bad in ({"limit": "٣"}, {"limit": " 5"}, {"after": "1.0"}):
        with pytest.raises(BadRequest, match="must be an integer in"):
            parse_page(bad)
    with pytest.raises(BadRequest, match="unknown query parameters: cursor"):
        parse_page({"cursor": "1"})


@pytest.mark.parametrize(
    ("raw", "low", "high", "value"),
    [
        ("0", 0, 10, 0),
        ("10", 0, 10, 10),
        ("11", 0, 10, None),
        ("0", 1, 10, None),
        ("", 0, 10, None),
        ("-1", -5, 10, None),  # signs are not digits: no input here is negative
        ("+1", 0, 10, None),
        (" 1", 0, 10, None),
        ("1_0", 0, 100, None),
        ("\u00b2", 0, 10, None),  # superscript two: str.isdigit() says yes, int() refuses
        ("\u0663", 0, 10, None),  # Arabic-Indic three: int() would read 3
        ("0" * 19 + "1", 0, 10, 1),  # 20 characters: still read
        ("0" * 20 + "1", 0, 10, None),  # 21: refused before int()
        (str(UINT64_MAX), 0, UINT64_MAX, UINT64_MAX),
        (str(UINT64_MAX + 1), 0, UINT64_MAX, None),  # 20 digits, out of range
        ("9" * 5000, 0, UINT64_MAX, None),  # int() would raise ValueError
    ],
)
def test_parse_decimal(raw: str, low: int, high: int, value: int | None) -> None:
    assert parse_decimal(raw, low, high) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("-5", -5),
        (str(UINT64_MAX), UINT64_MAX),
        ("-" + str(UINT64_MAX), -UINT64_MAX),
        ("1" + "0" * 20, 10**20),
        ("9" * 5000, 10**20),
        ("-" + "9" * 5000, -(10**20)),
    ],
)
def test_json_integers_beyond_20_digits_keep_only_their_sign(text: str, value: int) -> None:
    assert json_integer(text) == value
    assert json.loads(f"[{text}]", parse_int=json_integer) == [value]


def test_settings_from_environment() -> None:
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_NAME": "n"}
    settings = load_settings(LOCATION, env)
    assert (settings.listen_port, settings.listen_host, settings.database.port) == (
        8081,
        "0.0.0.0",
        3306,
    )
    assert load_settings(LOCATION, {**env, "PORT": "9000"}).listen_port == 9000
    # idle connections outlive the load balancer's 60 s idle timeout; a head gets 10 s
    assert (settings.idle_timeout_s, settings.head_timeout_s) == (75, 10)
    timeouts = {"HTTP_IDLE_TIMEOUT_SECONDS": "400", "HTTP_HEAD_TIMEOUT_SECONDS": "20"}
    custom = load_settings(LOCATION, {**env, **timeouts})
    assert (custom.idle_timeout_s, custom.head_timeout_s) == (400, 20)
    for bad, problem in (
        ({"DB_HOST": ""}, "environment variable DB_HOST is required"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ):
        with pytest.raises(SettingsError) as caught:
            load_settings(LOCATION, {**env, **bad})
        assert str(caught.value).startswith(problem)


@pytest.mark.parametrize(
    "variable",
    [
        "PORT",
        "DB_PORT",
        "DB_POOL_SIZE",
        "DB_SECRET_REFETCH_SECONDS",
        "HTTP_IDLE_TIMEOUT_SECONDS",
        "HTTP_HEAD_TIMEOUT_SECONDS",
    ],
)
@pytest.mark.parametrize(
    "raw", ["x", "0", "70000", "-1", " 80", "8O", "\u00b2", "\u0663", "9" * 5000]
)
def test_numeric_settings_are_checked_as_a_class(variable: str, raw: str) -> None:
    """A configuration error naming the variable (exit 2), never a ValueError traceback."""
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_NAME": "n", variable: raw}
    with pytest.raises(SettingsError) as caught:
        load_settings(LOCATION, env)
    message = str(caught.value)
    assert variable in message and len(message) < 200, message


@pytest.mark.parametrize(
    "name", ["location", "x" * 64, "é" * 64, "my-app.db 2", "%_$", "1", " leading"]
)
def test_valid_database_names(name: str) -> None:
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_NAME": name}
    assert load_settings(LOCATION, env).database.name == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "environment variable DB_NAME is required"),
        ("x" * 65, "DB_NAME is 65 characters long (at most 64)"),
        ("loca`tion", "DB_NAME contains a backtick"),
        ("`; DROP DATABASE mysql; --", "DB_NAME contains a backtick"),
        ("loca\0tion", "DB_NAME contains a NUL character"),
        ("emoji_\U0001f600", "DB_NAME contains a character outside the Basic Multilingual Plane"),
        ("location ", "DB_NAME ends with whitespace"),
        ("location\n", "DB_NAME ends with whitespace"),
        (" ", "DB_NAME ends with whitespace"),
    ],
)
def test_invalid_database_names(name: str, problem: str) -> None:
    env = {"DB_HOST": "db", "DB_USER": "u", "DB_NAME": name}
    with pytest.raises(SettingsError) as caught:
        load_settings(LOCATION, env)
    assert str(caught.value).startswith(problem)


def test_create_database_quotes_the_name() -> None:
    assert create_database_ddl("my-app.db 2") == (
        "CREATE DATABASE IF NOT EXISTS `my-app.db 2` CHARACTER SET utf8mb4"
    )
    assert quote("a`b") == "`a``b`"  # never reached (names are validated), still safe


def test_json_log_lines_carry_fields_and_tracebacks() -> None:
    formatter = JsonFormatter("location")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )
    record.fields = {"path": "/a"}
    line = json.loads(formatter.format(record))
    assert (
        line["message"] == "failed once" and line["path"] == "/a" and line["service"] == "location"
    )
    assert "RuntimeError: boom" in line["traceback"]


async def _endpoint(request: Request) -> Response:
    return Response()


def redirect_for(path: str, query: bytes = b"") -> tuple[int, dict[str, str]]:
    """Status and headers :class:`SlashRedirect` answers for *path*, behind a catch-all route."""
    redirect = SlashRedirect([Route("/{rest:path}", _endpoint, methods=["GET"])])
    scope = {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": []}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(redirect(scope, receive, send))
    start = sent[0]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], headers


def test_slash_redirect_is_relative_and_never_to_another_host() -> None:
    """Even where a route would match it, a Location starting with // (a host) is never sent."""
    assert redirect_for("/a/b/", b"x=1&y=%2F") == (
        307,
        {"location": "/a/b?x=1&y=%2F", "content-length": "0", "cache-control": "no-store"},
    )
    # the path as decoded (the client sent %3F): re-encoded, it does not become a query
    assert redirect_for("/a/?/")[1]["location"] == "/a/%3F"
    for hostile in ("//evil.example/", "///evil.example/", "//evil.example"):
        with pytest.raises(HTTPException) as caught:
            redirect_for(hostile)
        assert caught.value.status_code == 404
