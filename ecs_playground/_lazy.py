"""Lazy values computed at synth time from plain Python callables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsii
from aws_cdk import IResolvable, IStableAnyProducer, Lazy


@jsii.implements(IStableAnyProducer)
class _Producer:
    def __init__(self, produce: Callable[[], Any]) -> None:
        self._produce = produce

    def produce(self) -> Any:
        return self._produce()


def lazy_any(produce: Callable[[], Any]) -> IResolvable:
    """A token whose value `produce()` computes once, when the template is synthesized."""
    return Lazy.any(_Producer(produce))
