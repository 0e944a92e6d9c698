"""Validation of JSON request bodies and query parameters against a definition."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecs_service.definition import UINT64_MAX, FieldSpec, ServiceDefinition

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Every integer the service accepts fits in 20 decimal digits (UINT64_MAX has 20).
MAX_DIGITS = len(str(UINT64_MAX))
_BEYOND_EVERY_RANGE: int = 10**MAX_DIGITS  # the smallest integer of MAX_DIGITS + 1 digits


def parse_decimal(raw: str, low: int, high: int) -> int | None:
    """The integer that *raw* spells in ASCII decimal digits, if it lies in low..high; else None.

    Every numeric input from outside (path ids, query parameters, environment
    variables) goes through here.  Only ``0-9`` count: ``str.isdigit`` also
    accepts characters such as ``²`` that ``int`` refuses.  Input longer than
    :data:`MAX_DIGITS` is refused before ``int`` sees it, because ``int`` raises
    on more than 4300 digits (and is slow well before that).
    """
    if not (0 < len(raw) <= MAX_DIGITS and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def json_integer(text: str) -> int:
    """``parse_int`` for :func:`json.loads`: an integer of more than 20 digits becomes ±10**20.

    JSON has no leading zeros, so such an integer is at least 10**20 in size:
    outside every range a definition allows (at most 0..UINT64_MAX), whatever
    its digits.  Standing in ±10**20 keeps its sign and lets validation name
    the field ("must be 0..4294967295"), where ``int`` would raise on a
    number of thousands of digits.
    """
    if len(text.lstrip("-")) > MAX_DIGITS:
        return -_BEYOND_EVERY_RANGE if text.startswith("-") else _BEYOND_EVERY_RANGE
    return int(text)


@dataclass(frozen=True)
class Problem:
    """One reason why a value was rejected."""

    field: str
    message: str


class ValidationFailed(Exception):
    """The request was well-formed but its content is invalid (HTTP 422)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class BadRequest(Exception):
    """The request itself is malformed (HTTP 400)."""


def _check_string(field: FieldSpec, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    if not field.min_length <= len(value) <= field.max_length:
        return f"length must be {field.min_length}..{field.max_length}"
    if field.pattern is not None and re.fullmatch(field.pattern, value) is None:
        return f"must match the pattern {field.pattern}"
    return None


def _check_integer(field: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if not field.minimum <= value <= field.maximum:
        return f"must be {field.minimum}..{field.maximum}"
    return None


_CHECKS = {"string": _check_string, "integer": _check_integer}


def check_field(field: FieldSpec, value: Any) -> str | None:
    """The problem with *value* for *field*, or None when it is acceptable."""
    if value is None:
        return "is required" if field.required else None
    return _CHECKS[field.type](field, value)


def validate_record(definition: ServiceDefinition, payload: Any) -> dict[str, Any]:
    """Check a decoded JSON body for a new record; return the values to insert."""
    if not isinstance(payload, dict):
        raise ValidationFailed([Problem("$", "the body must be a JSON object")])
    known = {f.name for f in definition.fields}
    problems = [Problem(str(key), "unknown field") for key in payload if key not in known]
    for field in definition.fields:
        message = check_field(field, payload.get(field.name))
        if message is not None:
            problems.append(Problem(field.name, message))
    if problems:
        raise ValidationFailed(problems)
    return {f.name: payload.get(f.name) for f in definition.fields}


def _bounded_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    value = parse_decimal(raw, low, high)
    if value is None:
        raise BadRequest(f"query parameter {name!r} must be an integer in {low}..{high}")
    return value


@dataclass(frozen=True)
class Page:
    """Keyset pagination: up to ``limit`` records with an id greater than ``after``."""

    limit: int
    after: int


def parse_page(params: Mapping[str, str]) -> Page:
    """Read ``limit`` (1..100, default 20) and ``after`` (an id: 0..UINT64_MAX, default 0)."""
    unknown = sorted(set(params) - {"limit", "after"})
    if unknown:
        raise BadRequest(f"unknown query parameters: {', '.join(unknown)}")
    return Page(
        limit=_bounded_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        after=_bounded_int(params, "after", 0, 0, UINT64_MAX),
    )
