"""Every construct takes its props as one `XxxProps` object or as keyword arguments.

Python users of aws-cdk-lib write `ecs.Cluster(self, "Cluster", vpc=vpc)`; ours accept the same
style and build the props from the keywords, so both forms get the same validation::

    ContainerCluster(stack, "Apps", ContainerClusterProps(vpc=vpc, min_capacity=3))
    ContainerCluster(stack, "Apps", vpc=vpc, min_capacity=3)

A construct declares it with two typing overloads and one runtime decorator::

    @overload
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None: ...
    @overload
    @keywords_of(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, /) -> None: ...
    @props_or_keywords(ContainerClusterProps)
    def __init__(self, scope: Construct, id: str, props: ContainerClusterProps) -> None:
        ...  # the body sees a valid props object, whichever form the caller used

`keywords_of` only informs the type checker: the second form's keywords are the props class's
own fields, with their types and defaults (mypy reads them from the dataclass, nothing is
repeated). `props_or_keywords` does the work at run time: a props object is passed through; keywords
build one; both at once, an unknown keyword (with the closest field name) or a missing required
field fail with one `PropsKeywordError` listing every problem; then the props' own `validate()`
runs, and its problems fail with one `PropsValidationError`: all before the body creates any child.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from constructs import Construct

from .props import default_of, is_required
from .validation import (
    Problem,
    PropsValidationError,
    field_type,
    raise_if_invalid,
    with_article,
)

P = ParamSpec("P")
class ValidatedProps(Protocol):
    """What the decorator needs of a props class: its checks, every problem at once."""

    def validate(self) -> Sequence[Problem]: ...


PropsT = TypeVar("PropsT", bound=ValidatedProps)
C = TypeVar("C", bound=Construct)


_KeywordInit = Callable[Concatenate[C, Construct, str, P], None]
"""An __init__ that takes scope, id and then the keywords P."""


class PropsKeywordError(PropsValidationError, TypeError):
    """The props given to a construct cannot even be built: a props object and keywords at once,
    an unknown keyword, a missing required field, or something else than the props class.

    A `PropsValidationError` (one message, every problem) and a `TypeError`, as Python raises for
    a wrong call."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING_VALUE = _Missing()
"""The value a problem shows for a required field the caller did not give."""


def keywords_of(
    props_class: Callable[P, Any],
) -> Callable[[Callable[[C, Construct, str], None]], _KeywordInit[C, P]]:
    """For the type checker only: the decorated overload takes `props_class`'s fields as keywords
    (after scope and id). Returns the overload unchanged at run time."""

    def declare(overload: Callable[[C, Construct, str], None]) -> _KeywordInit[C, P]:
        return overload  # type: ignore[return-value]

    return declare


def props_or_keywords(
    props_class: type[PropsT],
) -> Callable[[Callable[[C, Construct, str, PropsT], None]], Callable[..., None]]:
    """Let a construct's `__init__(self, scope, id, props)` also be called with the props' fields
    as keywords; see the module documentation."""
    fields = dataclasses.fields(props_class)  # type: ignore[arg-type]

    def decorate(init: Callable[[C, Construct, str, PropsT], None]) -> Callable[..., None]:
        construct = init.__qualname__.split(".")[0]

        @functools.wraps(init)
        def __init__(
            self: C, scope: Construct, id: str, props: PropsT | None = None, **keywords: Any
        ) -> None:
            built = build_props(construct, id, props_class, props, keywords)
            raise_if_invalid(construct, id, built.validate())
            init(self, scope, id, built)

        # help() and IDEs that read the signature at run time show both forms.
        __init__.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("scope", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Construct),
            inspect.Parameter("id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
            inspect.Parameter("props", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              default=None, annotation=f"{props_class.__name__} | None"),
            *(inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if is_required(f) else default_of(f),
                annotation=f.type,
            ) for f in fields),
        ])
        __init__.__doc__ = (
            f"Create a {construct} from a {props_class.__name__}, or from its fields as keyword "
            f"arguments (the same validation either way): {construct}(scope, id, "
            f"{props_class.__name__}(...)) or {construct}(scope, id, "
            f"{fields[0].name}=..., ...). See help({props_class.__name__})."
        )
        return __init__

    return decorate


def build_props(
    construct: str, id: str, props_class: type[PropsT], props: object,
    keywords: Mapping[str, Any],
) -> PropsT:
    """The props object, from `props` or from `keywords` (exactly one of them); every problem
    that prevents building it raises one `PropsKeywordError`."""
    name = props_class.__name__
    fields = {f.name: f for f in dataclasses.fields(props_class)}  # type: ignore[arg-type]
    problems: list[Problem] = []
    if props is not None and keywords:
        problems.append(Problem(
            "props", f"a {type(props).__name__} and the keywords {', '.join(keywords)}",
            f"{with_article(name)} or its fields as keywords, not both",
            f"move {', '.join(f'{k}=...' for k in keywords)} into the {name}(...), or pass "
            "every value as a keyword",
        ))
    elif props is not None and not isinstance(props, props_class):
        problems.append(Problem(
            "props", props, with_article(name),
            f"pass {name}(...), or the fields as keywords: {construct}(scope, id, "
            f"{next(iter(fields))}=..., ...)",
        ))
    elif props is None:
        allowed = f"the fields of {name}: {', '.join(fields)}"
        moved: Mapping[str, str] = getattr(props_class, "MOVED_FIELDS", {})
        for key, value in keywords.items():
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
                fix = f"did you mean {close[0]!r}?" if close else "remove it, or use one of those"
                problems.append(Problem(key, value, allowed, moved.get(key, fix)))
        problems += [
            Problem(field_name, MISSING_VALUE,
                    f"{field_type(props_class, field_name)} (required: it has no default)",
                    f"pass {field_name}=... (see help({name}))")
            for field_name, f in fields.items() if is_required(f) and field_name not in keywords
        ]
    if problems:
        raise PropsKeywordError(construct, id, problems)
    if props is not None:
        return props  # type: ignore[return-value]
    return props_class(**keywords)
