"""SQL for the service's one table, generated from its definition.

Every function takes an open connection and is meant to run in a worker
thread through :meth:`ecs_service.db.ConnectionPool.run`.  Identifiers come
from the validated definition; values are always passed as parameters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ecs_service.db import DictConnection
from ecs_service.definition import ServiceDefinition
from ecs_service.schema import quote, table_columns
from ecs_service.validation import Page

Record = dict[str, Any]


class Repository:
    """List, fetch and insert records of one service's table."""

    def __init__(self, definition: ServiceDefinition) -> None:
        self._definition = definition
        names = [name for name, _ in table_columns(definition)]
        table = quote(definition.table)
        columns = ", ".join(quote(n) for n in names)
        inserted = [f.name for f in definition.fields]
        placeholders = ", ".join(["%s"] * len(inserted))
        # Identifiers are validated by the definition; values are parameters.
        self._select = f"SELECT {columns} FROM {table}"
        self._insert = (
            f"INSERT INTO {table} ({', '.join(quote(n) for n in inserted)}) VALUES ({placeholders})"
        )
        self._inserted = inserted

    def list_page(self, conn: DictConnection, page: Page) -> list[Record]:
        """Up to ``page.limit`` records with ``id > page.after``, by ascending id."""
        with conn.cursor() as cur:
            cur.execute(
                f"{self._select} WHERE `id` > %s ORDER BY `id` LIMIT %s", (page.after, page.limit)
            )
            return [to_json(row) for row in cur.fetchall()]

    def get(self, conn: DictConnection, record_id: int) -> Record | None:
        """The record with this id, or None."""
        with conn.cursor() as cur:
            cur.execute(f"{self._select} WHERE `id` = %s", (record_id,))
            row = cur.fetchone()
        return to_json(row) if row else None

    def create(self, conn: DictConnection, values: Record) -> Record:
        """Insert a validated record and return it as stored."""
        with conn.cursor() as cur:
            cur.execute(self._insert, tuple(values[n] for n in self._inserted))
            new_id = cur.lastrowid
        created = self.get(conn, new_id)
        if created is None:  # pragma: no cover - only if someone deletes it in between
            raise LookupError(f"record {new_id} vanished after insert")
        return created


def to_json(row: Record) -> Record:
    """Make a database row JSON-serialisable (timestamps as ISO 8601 UTC)."""
    out: Record = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            value = value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
        out[key] = value
    return out
