"""Declarative service definitions: one JSON file per service.

A definition names the service, its default port, its table, the URL
resource of its JSON API and the fields of a record.  Everything the shared
code does for a service (DDL, validation, SQL, routes, page title) is
derived from it, so the per-service directories hold data only.

This module uses the standard library only: the image's HEALTHCHECK and the
build-time consistency check import it without the web stack.

Run ``python -m ecs_service.definition [--port N] [PATH]`` to validate a
definition (the Dockerfile does so at build time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DEFINITION_ENV = "SERVICE_DEFINITION"
DEFAULT_DEFINITION_PATH = "/app/service/service.json"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
VARCHAR_MAX = 16383  # utf8mb4 row-size limit per column in MySQL/MariaDB

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
_RESOURCE = re.compile(r"[a-z][a-z0-9-]{0,63}")
_RESERVED_FIELDS = frozenset({"id", "created_at"})

FieldType = Literal["string", "integer"]


class DefinitionError(ValueError):
    """The service definition file is missing or invalid."""


@dataclass(frozen=True)
class FieldSpec:
    """One column of the service's table and one key of its JSON records."""

    name: str
    type: FieldType
    required: bool = False
    unique: bool = False
    min_length: int = 0
    max_length: int = 0
    pattern: str | None = None
    minimum: int = INT64_MIN
    maximum: int = INT64_MAX

    @property
    def unsigned(self) -> bool:
        """Whether an integer column can be stored UNSIGNED."""
        return self.type == "integer" and self.minimum >= 0


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that differs between two services built from this code."""

    name: str
    port: int
    table: str
    resource: str
    fields: tuple[FieldSpec, ...]
    migrations: tuple[tuple[str, ...], ...] = ()

    @property
    def title(self) -> str:
        """Human-readable name shown on the home page, e.g. ``User Service``."""
        return f"{self.name.replace('-', ' ').title()} Service"

    @property
    def legacy_list_path(self) -> str:
        """The tutorial's PHP page that listed the table, e.g. ``/user.php``."""
        return f"/{self.name}.php"

    @property
    def api_path(self) -> str:
        """Collection path of the JSON API, e.g. ``/api/users``."""
        return f"/api/{self.resource}"

    @property
    def schema_version(self) -> int:
        """Version the schema has once every migration is applied."""
        return 1 + len(self.migrations)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise DefinitionError(message)


def _get(data: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = data.get(key, default)
    is_bool = isinstance(value, bool)
    _require(
        isinstance(value, kind) and (kind is bool or not is_bool),
        f"{key!r} must be of type {kind.__name__}",
    )
    return value


def _string_options(name: str, data: dict[str, Any]) -> dict[str, Any]:
    max_length = _get(data, "max_length", int, 0)
    min_length = _get(data, "min_length", int, 0)
    pattern = data.get("pattern")
    _require(0 < max_length <= VARCHAR_MAX, f"field {name!r}: max_length must be 1..{VARCHAR_MAX}")
    _require(0 <= min_length <= max_length, f"field {name!r}: min_length must be 0..max_length")
    _require(pattern is None or isinstance(pattern, str), f"field {name!r}: bad pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DefinitionError(f"field {name!r}: bad pattern: {exc}") from exc
    return {"min_length": min_length, "max_length": max_length, "pattern": pattern}


def _integer_options(name: str, data: dict[str, Any]) -> dict[str, Any]:
    minimum = _get(data, "minimum", int, INT64_MIN)
    maximum = _get(data, "maximum", int, INT64_MAX)
    upper = UINT64_MAX if minimum >= 0 else INT64_MAX
    _require(INT64_MIN <= minimum <= maximum <= upper, f"field {name!r}: bad minimum/maximum")
    return {"minimum": minimum, "maximum": maximum}


# type -> (parser of the type's own options, the keys a field of that type may have)
_FIELD_TYPES = {
    "string": (_string_options, frozenset({"min_length", "max_length", "pattern"})),
    "integer": (_integer_options, frozenset({"minimum", "maximum"})),
}
_COMMON_KEYS = frozenset({"name", "type", "required", "unique"})


def _parse_field(data: Any) -> FieldSpec:
    _require(isinstance(data, dict), "each field must be an object")
    name = _get(data, "name", str, "")
    _require(_IDENTIFIER.fullmatch(name) is not None, f"bad field name {name!r}")
    _require(name.lower() not in _RESERVED_FIELDS, f"field name {name!r} is reserved")
    kind = data.get("type")
    _require(kind in _FIELD_TYPES, f"field {name!r}: type must be one of {sorted(_FIELD_TYPES)}")
    parse_options, own_keys = _FIELD_TYPES[kind]
    unknown = sorted(set(data) - _COMMON_KEYS - own_keys)
    _require(not unknown, f"field {name!r}: unknown keys {unknown}")
    return FieldSpec(
        name=name,
        type=kind,
        required=_get(data, "required", bool, False),
        unique=_get(data, "unique", bool, False),
        **parse_options(name, data),
    )


def _parse_migrations(data: Any) -> tuple[tuple[str, ...], ...]:
    _require(isinstance(data, list), "'migrations' must be a list of lists of SQL statements")
    steps: list[tuple[str, ...]] = []
    for step in data:
        ok = (
            isinstance(step, list)
            and bool(step)
            and all(isinstance(s, str) and s.strip() for s in step)
        )
        _require(ok, "each migration must be a non-empty list of SQL statements")
        steps.append(tuple(step))
    return tuple(steps)


def parse_definition(data: Any) -> ServiceDefinition:
    """Validate decoded JSON and build a :class:`ServiceDefinition`."""
    _require(isinstance(data, dict), "the definition must be a JSON object")
    unknown = sorted(set(data) - {"name", "port", "table", "resource", "fields", "migrations"})
    _require(not unknown, f"unknown keys {unknown}")
    name = _get(data, "name", str, "")
    port = _get(data, "port", int, 0)
    table = _get(data, "table", str, "")
    resource = _get(data, "resource", str, "")
    fields = tuple(_parse_field(f) for f in _get(data, "fields", list, []))
    _require(_SERVICE_NAME.fullmatch(name) is not None, f"bad service name {name!r}")
    _require(0 < port < 65536, "port must be 1..65535")
    _require(_IDENTIFIER.fullmatch(table) is not None, f"bad table name {table!r}")
    _require(table.lower() != "schema_version", "table name 'schema_version' is reserved")
    _require(_RESOURCE.fullmatch(resource) is not None, f"bad resource {resource!r}")
    _require(bool(fields), "at least one field is needed")
    names = [f.name.lower() for f in fields]
    _require(len(set(names)) == len(names), "field names must be unique")
    migrations = _parse_migrations(data.get("migrations", []))
    return ServiceDefinition(name, port, table, resource, fields, migrations)


def load_definition(path: str | os.PathLike[str] | None = None) -> ServiceDefinition:
    """Load the definition from *path*, ``$SERVICE_DEFINITION`` or the image default."""
    source = Path(path or os.environ.get(DEFINITION_ENV) or DEFAULT_DEFINITION_PATH)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"cannot read service definition {source}: {exc}") from exc
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{source}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Validate a definition; with ``--port``, also check its port (build-time guard)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("path", nargs="?", help=f"definition file (default: ${DEFINITION_ENV})")
    parser.add_argument(
        "--port", type=int, help="port the image EXPOSEs; must match the definition"
    )
    args = parser.parse_args(argv)
    try:
        definition = load_definition(args.path)
    except DefinitionError as exc:
        print(f"invalid service definition: {exc}", file=sys.stderr)
        return 1
    if args.port is not None and args.port != definition.port:
        print(
            f"port {args.port} does not match the definition's port {definition.port}",
            file=sys.stderr,
        )
        return 1
    d = definition
    print(f"{d.name}: port {d.port}, table {d.table}, {d.api_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
