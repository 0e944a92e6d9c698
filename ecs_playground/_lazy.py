"""Lazy values computed at synth time from plain Python callables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import (
    IResolvable,
    IStableAnyProducer,
    IStableNumberProducer,
    IStableStringProducer,
    Lazy,
)


@jsii.implements(IStableAnyProducer)
class _Producer:
    def __init__(self, produce: Callable[[], Any]) -> None:
        self._produce = produce

    def produce(self) -> Any:
        return self._produce()


def lazy_any(produce: Callable[[], Any]) -> IResolvable:
    """A token whose value `produce()` computes once, when the template is synthesized."""
    return Lazy.any(_Producer(produce))


@jsii.implements(IStableStringProducer)
class _StringProducer(_Producer):
    """`_Producer` for `Lazy.string`."""


def lazy_string(produce: Callable[[], str]) -> str:
    """A string token whose value `produce()` computes once, when the template is synthesized
    (as `Token.as_string(lazy_any(produce))`, one jsii round trip fewer)."""
    return Lazy.string(_StringProducer(produce))


@jsii.implements(IStableNumberProducer)
class _NumberProducer:
    def __init__(self, produce: Callable[[], int | float]) -> None:
        self._produce = produce

    def produce(self) -> int | float:
        return self._produce()


def lazy_number(produce: Callable[[], int | float]) -> float:
    """A number token whose value `produce()` computes once, when the template is synthesized."""
    return Lazy.number(_NumberProducer(produce))
