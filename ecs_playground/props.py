"""How a props field declares itself: its documentation, and whether an app may set it from
configuration.

Every field of an `XxxProps` dataclass carries its documentation in the field's metadata::

    cpu: int = field(default=512, metadata=setting("CPU units reserved for the container."))
    vpc: ec2.IVpc = field(metadata=doc("VPC for the container instances."))

`setting(...)` marks a plain value that an app may read from configuration (the app layer turns
`location.cpu` into `cpu`); `doc(...)` marks an object that only code can pass (a VPC, a key, an
image). `@documented` appends every field's documentation to the class docstring, so `help()`
and IDE hovers on the class show it, without parsing any source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

DOC = "ecs_playground.doc"
CONFIGURABLE = "ecs_playground.configurable"

T = TypeVar("T")


def doc(text: str) -> Mapping[str, Any]:
    """Metadata of a field that only code can set (an object such as a VPC or a key)."""
    return {DOC: " ".join(text.split()), CONFIGURABLE: False}


def setting(text: str) -> Mapping[str, Any]:
    """Metadata of a plain value that an app may also read from its configuration."""
    return {DOC: " ".join(text.split()), CONFIGURABLE: True}


def field_doc(f: dataclasses.Field[Any]) -> str:
    """The documentation a field declared (empty when it declared none)."""
    return str(f.metadata.get(DOC, ""))


def configurable_fields(cls: type) -> Iterator[dataclasses.Field[Any]]:
    """The fields of a props class marked with `setting(...)`, in declaration order."""
    return (f for f in dataclasses.fields(cls) if f.metadata.get(CONFIGURABLE) is True)


def is_required(f: dataclasses.Field[Any]) -> bool:
    """Whether a field has no default: the caller must give it."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def default_of(f: dataclasses.Field[Any]) -> Any:
    """What an unset field means: its default, or None when it is required."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def documented(cls: type[T]) -> type[T]:
    """Append an 'Attributes' section built from the fields' metadata to the class docstring."""
    lines = [(cls.__doc__ or "").rstrip(), "", "Attributes:"]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default = " Required." if is_required(f) else f" Default: {default_of(f)!r}."
        lines.append(f"    {f.name}: {field_doc(f)}{default}")
    cls.__doc__ = "\n".join(lines)
    return cls
