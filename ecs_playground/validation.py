"""Collect every problem with a construct's props, then fail once with all of them.

Each problem says what is wrong, the value received, what is allowed and how to fix it, so a
user reads one error at synth time instead of a failed deployment twenty minutes later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Token

PORT_MIN = 1
PORT_MAX = 65535


@dataclass(frozen=True)
class Problem:
    """One invalid prop: what, the value received, what is allowed, how to fix it."""

    prop: str
    value: Any
    allowed: str
    fix: str

    def render(self) -> str:
        """One line for the combined error message."""
        return f"{self.prop} = {self.value!r}: allowed {self.allowed}; {self.fix}"


class PropsValidationError(ValueError):
    """Raised before any child construct is created when props are invalid."""

    def __init__(self, construct: str, name: str, problems: Iterable[Problem]) -> None:
        self.construct = construct
        self.name = name
        self.problems = tuple(problems)
        lines = [f"{construct} '{name}': {len(self.problems)} invalid prop(s):"]
        lines += [f"  - {p.render()}" for p in self.problems]
        super().__init__("\n".join(lines))


def is_token(value: Any) -> bool:
    """True when the value is only known at deploy time, so synth-time checks must skip it."""
    return isinstance(value, (str, int, float)) and Token.is_unresolved(value)


def known(*values: Any) -> bool:
    """True when every value is known at synth time (no tokens), so values can be compared."""
    return not any(is_token(v) for v in values)


@dataclass
class Checker:
    """Accumulates problems; the check helpers skip unresolved tokens."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, prop: str, value: Any, allowed: str, fix: str) -> None:
        """Record a problem found by a check that has no helper."""
        self.problems.append(Problem(prop, value, allowed, fix))

    def int_range(
        self, prop: str, value: int, low: int, high: int | None = None, fix: str = ""
    ) -> bool:
        """Check low <= value <= high (no upper bound when high is None)."""
        if is_token(value):
            return True
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        ok = ok and (high is None or value <= high)
        if not ok:
            allowed = f"an integer {low}-{high}" if high is not None else f"an integer >= {low}"
            self.add(prop, value, allowed, fix or f"set {prop} to {allowed}")
        return ok

    def port(self, prop: str, value: int) -> bool:
        """Check a TCP port number."""
        return self.int_range(
            prop, value, PORT_MIN, PORT_MAX, f"use a TCP port between {PORT_MIN} and {PORT_MAX}"
        )

    def pattern(self, prop: str, value: str, regex: str, allowed: str, fix: str) -> bool:
        """Check that a string fully matches a regular expression."""
        if is_token(value):
            return True
        ok = isinstance(value, str) and re.fullmatch(regex, value) is not None
        if not ok:
            self.add(prop, value, allowed, fix)
        return ok

    def raise_if_any(self, construct: str, name: str) -> None:
        """Fail with every collected problem at once."""
        if self.problems:
            raise PropsValidationError(construct, name, self.problems)
