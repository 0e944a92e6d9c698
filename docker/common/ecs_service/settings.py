"""Runtime configuration, read from environment variables only.

| variable        | meaning                                   | default                 |
| --------------- | ----------------------------------------- | ----------------------- |
| DB_HOST         | MySQL/MariaDB host                        | required                |
| DB_PORT         | MySQL/MariaDB port                        | 3306                    |
| DB_USER         | database user                             | required                |
| DB_PWD          | database password                         | empty                   |
| DB_NAME         | database (schema) name; created if missing | required               |
| DB_POOL_SIZE    | most connections one process opens        | 10                      |
| DB_SECRET_ARN   | secret re-read when MySQL refuses DB_PWD  | none: never re-read     |
| DB_SECRET_REFETCH_SECONDS | least seconds between re-reads  | 30                      |
| PORT            | HTTP listen port                          | the definition's port   |
| LISTEN_HOST     | HTTP listen address                       | 0.0.0.0                 |
| LOG_LEVEL       | DEBUG, INFO, WARNING, ERROR               | INFO                    |
| HTTP_IDLE_TIMEOUT_SECONDS | close a connection idle this long (before or between requests) | 75 |
| HTTP_HEAD_TIMEOUT_SECONDS | most seconds from a request's first byte to its headers' end | 10 |
| SERVICE_DEFINITION | path of the service's JSON definition  | /app/service/service.json |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ecs_service.definition import ServiceDefinition
from ecs_service.validation import parse_decimal

_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})


class SettingsError(ValueError):
    """An environment variable is missing or malformed."""


@dataclass(frozen=True)
class DatabaseSettings:
    """How to reach the database."""

    host: str
    port: int
    user: str
    password: str
    name: str
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    write_timeout: float = 10.0
    pool_size: int = 10
    pool_timeout: float = 5.0
    secret_arn: str | None = None
    """Secret holding ``username``/``password``, re-read after an access-denied (None: never)."""
    secret_refetch_seconds: float = 30.0


# Longer than the load balancer's default 60 s idle timeout (ALB and classic ELB), so the
# balancer closes idle connections first and never sends a request on one we are closing.
DEFAULT_IDLE_TIMEOUT_S = 75
# A balancer sends a request's head in one piece; 10 s is ample for any honest client.
DEFAULT_HEAD_TIMEOUT_S = 10
# The most a classic ELB's or an ALB's idle timeout can be set to.
MAX_IDLE_TIMEOUT_S = 4000


@dataclass(frozen=True)
class Settings:
    """Everything the process needs besides the service definition."""

    database: DatabaseSettings
    listen_host: str
    listen_port: int
    log_level: str
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    """A connection that sends nothing this long (before its first request or between two) is
    closed. Keep it above the load balancer's idle timeout."""
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S
    """Most seconds from a request's first byte to the end of its head (request line and
    headers); a slower client gets a 408 and the connection is closed."""


def _required(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "")
    if not value:
        raise SettingsError(f"environment variable {key} is required")
    return value


def _port(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key, "") or str(default)
    port = parse_decimal(raw, 1, 65535)
    if port is None:
        raise SettingsError(
            f"environment variable {key} must be a port number (1..65535), got {_shown(raw)}"
        )
    return port


def _shown(raw: str, limit: int = 40) -> str:
    """*raw* quoted for a message, cut to *limit* characters."""
    return repr(raw) if len(raw) <= limit else f"{raw[:limit]!r}... ({len(raw)} characters)"


MAX_IDENTIFIER_CHARS = 64


def database_name(env: Mapping[str, str]) -> str:
    """``DB_NAME``, checked against MySQL's identifier rules.

    The service creates the database when it is missing, so the name is
    quoted into SQL: 1 to 64 characters, no backtick, no NUL, no character
    beyond the Basic Multilingual Plane (MySQL refuses those), and no trailing
    whitespace (MySQL refuses a trailing space; a trailing newline is a
    copy-paste mistake).
    """
    name = _required(env, "DB_NAME")
    problem = None
    if len(name) > MAX_IDENTIFIER_CHARS:
        problem = f"is {len(name)} characters long (at most {MAX_IDENTIFIER_CHARS})"
    elif "`" in name:
        problem = "contains a backtick"
    elif "\0" in name:
        problem = "contains a NUL character"
    elif any(ord(c) > 0xFFFF for c in name):
        problem = "contains a character outside the Basic Multilingual Plane"
    elif name[-1].isspace():
        problem = "ends with whitespace"
    if problem:
        raise SettingsError(f"DB_NAME {problem}: {name!r} is not a valid MySQL database name")
    return name


def _pool_size(env: Mapping[str, str]) -> int:
    raw = env.get("DB_POOL_SIZE", "") or "10"
    size = parse_decimal(raw, 1, 100)
    if size is None:
        raise SettingsError(f"DB_POOL_SIZE must be 1..100, got {_shown(raw)}")
    return size


def _seconds(env: Mapping[str, str], key: str, default: int, most: int) -> float:
    raw = env.get(key, "") or str(default)
    seconds = parse_decimal(raw, 1, most)
    if seconds is None:
        raise SettingsError(f"{key} must be whole seconds, 1..{most}, got {_shown(raw)}")
    return float(seconds)


def load_settings(definition: ServiceDefinition, env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from *env* (default ``os.environ``)."""
    env = os.environ if env is None else env
    log_level = (env.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}")
    database = DatabaseSettings(
        host=_required(env, "DB_HOST"),
        port=_port(env, "DB_PORT", 3306),
        user=_required(env, "DB_USER"),
        password=env.get("DB_PWD", ""),
        name=database_name(env),
        pool_size=_pool_size(env),
        secret_arn=env.get("DB_SECRET_ARN") or None,
        secret_refetch_seconds=_seconds(env, "DB_SECRET_REFETCH_SECONDS", 30, 3600),
    )
    return Settings(
        database=database,
        listen_host=env.get("LISTEN_HOST") or "0.0.0.0",
        listen_port=_port(env, "PORT", definition.port),
        log_level=log_level,
        idle_timeout_s=_seconds(
            env, "HTTP_IDLE_TIMEOUT_SECONDS", DEFAULT_IDLE_TIMEOUT_S, MAX_IDLE_TIMEOUT_S
        ),
        head_timeout_s=_seconds(env, "HTTP_HEAD_TIMEOUT_SECONDS", DEFAULT_HEAD_TIMEOUT_S, 300),
    )
