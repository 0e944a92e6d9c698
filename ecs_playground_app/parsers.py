"""Generic parsers of configuration values: a context value (typed from cdk.json, a string from
`-c KEY=VALUE`) -> the type of the prop it sets. Each error says what was expected, with an
example. `PARSERS` names the parser of each type a configurable prop may have."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Parser = Callable[[Any], Any]


class ParseError(ValueError):
    """A value that does not parse; the message says what was expected, with an example."""


def parse_int(raw: Any) -> int:
    """A whole number: 4 in cdk.json, "4" from -c."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", raw):
        return int(raw)
    raise ParseError("expected a whole number, e.g. 4")


def parse_bool(raw: Any) -> bool:
    """true or false (any case)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ParseError("expected true or false")


def parse_str(raw: Any) -> str:
    """Text, as given."""
    if isinstance(raw, str):
        return raw
    raise ParseError(f"expected text, got {type(raw).__name__} {json.dumps(raw)}")


def parse_str_list(raw: Any) -> tuple[str, ...]:
    """A list of text: `a,b` (no quoting needed on a command line) or a JSON list."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                raise ParseError(
                    'expected a list: a,b or a JSON list like ["a","b"] (in a shell, quote '
                    "JSON with single quotes, or use the a,b form)"
                ) from None
        else:
            return tuple(item.strip() for item in text.split(",") if item.strip())
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return tuple(raw)
    raise ParseError('expected a list of text: a,b or ["a","b"]')


def parse_str_map(raw: Any) -> dict[str, str]:
    """A map of text: `k=v,k2=v2` (no quoting needed) or a JSON object."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                raise ParseError(
                    'expected a map: k=v,k2=v2 or a JSON object like {"k":"v"} (in a shell, '
                    "quote JSON with single quotes, or use the k=v form)"
                ) from None
        else:
            pairs = [item.strip() for item in text.split(",") if item.strip()]
            if not all("=" in pair for pair in pairs):
                raise ParseError("expected a map: k=v,k2=v2 (each entry KEY=VALUE)")
            return dict(tuple(p.strip() for p in pair.split("=", 1)) for pair in pairs)  # type: ignore[misc]
    if isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        return dict(raw)
    raise ParseError('expected a map of text: k=v,k2=v2 or {"k":"v"}')


def parse_stack(raw: Any) -> str:
    """'platform' or a stack number: 3 in cdk.json, "3" from -c (kept as text)."""
    if isinstance(raw, str) and not raw.strip().isdigit():
        return raw.strip()
    return str(parse_int(raw))


def optional(parse: Parser) -> Parser:
    """The same parser, with null (JSON null or the text "null") for 'unset'."""

    def parse_optional(raw: Any) -> Any:
        return None if raw is None or raw == "null" else parse(raw)

    return parse_optional


PARSERS: dict[Any, Parser] = {
    int: parse_int,
    bool: parse_bool,
    str: parse_str,
    int | None: optional(parse_int),
    str | None: optional(parse_str),
    Sequence[str]: parse_str_list,
    Mapping[str, str]: parse_str_map,
}
"""The parser for each type a configurable prop may have. A new type needs a row here (a test
checks that every configurable prop has one)."""
