"""Collect every problem with a construct's props, then fail once with all of them.

Each problem says what is wrong, the value received, what is allowed and how to fix it, so a
user reads one error at synth time instead of a failed deployment twenty minutes later.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import struct
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aws_cdk import Token

PORT_MIN = 1
PORT_MAX = 65535
PHYSICAL_NAME_PATTERN = r"[A-Za-z0-9_-]{1,255}"
"""A physical name a caller may give instead of CloudFormation's generated one: an ECS cluster,
service or task family, a CloudWatch dashboard."""
PHYSICAL_NAME_ALLOWED = "1-255 letters, digits, '-' or '_'"
BOUNDS = "ecs_playground.bounds"
TYPE_FIX = "ecs_playground.type_fix"
"""Field metadata: what to pass instead, added to the message of a value of the wrong type."""
"""Field metadata: the (low, high) range of an integer prop, which `Checker.bounds` checks."""

PropsT = TypeVar("PropsT")


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
    """Raised before any child construct is created when props are invalid.

    `problems` holds each problem; the message lists them all, one per line.
    """

    def __init__(self, construct: str, name: str, problems: Iterable[Problem]) -> None:
        self.construct = construct
        self.name = name
        self.problems = tuple(problems)
        lines = [f"{construct} '{name}': {len(self.problems)} invalid prop(s):"]
        lines += [f"  - {p.render()}" for p in self.problems]
        super().__init__("\n".join(lines))


# aws-cdk-lib's own pre-tests in `Token.isUnresolved` (core/lib/private/encoding.ts): a string token
# always contains ANY_TOKEN_MARKER; a number token is a double whose top 16 bits are 0xFBFF
# (DOUBLE_TOKEN_MARKER_BITS). Values that fail them are never tokens, so they need no jsii call.
_TOKEN_MARKER = "Token["
_DOUBLE_TOKEN_TOP_BITS = 0xFBFF


def is_token(value: Any) -> bool:
    """True when the value is only known at deploy time, so synth-time checks must skip it.

    Same answer as `Token.is_unresolved`, which it asks only for values that can be tokens:
    validating a catalog of services checks tens of thousands of plain values, and each jsii
    call is a round trip to Node."""
    if isinstance(value, str):
        return _TOKEN_MARKER in value and Token.is_unresolved(value)
    if isinstance(value, (int, float)):
        try:
            bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
        except OverflowError:  # an int beyond any double: JavaScript would see Infinity
            return False
        return bits >> 48 == _DOUBLE_TOKEN_TOP_BITS and Token.is_unresolved(value)
    return False


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

    def optional_pattern(
        self, prop: str, value: str | None, regex: str, allowed: str, fix: str
    ) -> bool:
        """`pattern` for an optional prop: unset (None) is valid."""
        return value is None or self.pattern(prop, value, regex, allowed, fix)

    def physical_name(self, prop: str, value: str | None, fix: str) -> bool:
        """An optional physical name (`PHYSICAL_NAME_PATTERN`); unset, CloudFormation generates
        one."""
        return self.optional_pattern(prop, value, PHYSICAL_NAME_PATTERN, PHYSICAL_NAME_ALLOWED,
                                     fix)

    def bounds(self, props: Any) -> None:
        """Check every field of `props` that declares a range (`BOUNDS` in its metadata)."""
        for f in dataclasses.fields(props):
            declared = f.metadata.get(BOUNDS)
            if declared is not None:
                self.int_range(f.name, getattr(props, f.name), *declared)


def validator(
    checks: Callable[[PropsT, Checker], None],
) -> Callable[[PropsT], list[Problem]]:
    """The `validate()` of a props class, from a method that records its checks on a `Checker`.

    Every props class validates the same way: the field types first (a value of the wrong type
    is reported alone, since the other checks would only misread it), then the class's own
    checks; the result lists every problem (empty when all props are valid)::

        @validator
        def validate(self, check: Checker) -> None:
            check.int_range("cpu", self.cpu, 128, 10240)
    """

    @functools.wraps(checks)
    def validate(props: PropsT) -> list[Problem]:
        wrong_types = type_problems(props)
        if wrong_types:
            return wrong_types
        check = Checker()
        checks(props, check)
        return check.problems

    validate.__doc__ = ("Every invalid prop, without creating anything (an empty list when all "
                        "are valid): the field types first, then the values.")
    return validate



# --- images ---------------------------------------------------------------------------------
# One rule for every registry image, in the library and in an app's configuration: a deployment
# must say which image it runs, so a redeploy is reproducible and a rollout is one visible change.

IMAGE_REFERENCE_PATTERN = r"[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_.-]{1,128}|@sha256:[0-9a-f]{64})"
"""REPO:TAG or REPO@sha256:<64 hex> (REPO may start with a registry host and port)."""
_UNTAGGED_PATTERN = r"[a-z0-9][a-z0-9._/:-]*"
PIN_IMAGE_FIX = (
    "pin a version tag or a digest, e.g. 'nginx:1.27' or 'nginx@sha256:<64 hex>', so a "
    "deployment is reproducible and a rollout is one visible change"
)


def image_problems(prop: str, image: str) -> list[Problem]:
    """A problem when a registry image reference does not pin a version: ':latest', no tag at
    all (Docker then pulls ':latest'), or not a reference (REPO:TAG or REPO@sha256:<digest>).
    A reference with deploy-time parts is judged by its literal ':latest' ending only."""
    if is_token(image):
        pinned = not image.endswith(":latest")
    elif re.fullmatch(IMAGE_REFERENCE_PATTERN, image) is None:
        if re.fullmatch(_UNTAGGED_PATTERN, image) is None:
            return [Problem(prop, image, "REPO:TAG or REPO@sha256:<64 hex>, e.g. 'nginx:1.27'",
                            "write the image reference in one of those forms")]
        return [Problem(prop, image, "REPO:TAG or REPO@sha256:<64 hex>, not an untagged image "
                        "(Docker pulls ':latest', a moving tag)", PIN_IMAGE_FIX)]
    else:
        name = image.split("@", 1)[0]
        pinned = "@" in image or not name.endswith(":latest")
    if pinned:
        return []
    return [Problem(prop, image, "a version tag or a digest, not ':latest' (a moving tag)",
                    PIN_IMAGE_FIX)]


def raise_if_invalid(construct: str, name: str, problems: Sequence[Problem]) -> None:
    """Fail with every problem at once (do nothing when there is none)."""
    if problems:
        raise PropsValidationError(construct, name, problems)


# --- types ----------------------------------------------------------------------------------
# Props are plain dataclasses: Python does not check their types, and jsii reports a wrong type
# deep inside JavaScript (or not at all: "1024" reaches CloudFormation as a string). So every
# props class checks its fields' types first, from its annotations, with these rules.

def _interface_members() -> dict[Any, tuple[str, ...]]:
    """jsii interfaces cannot be checked with isinstance: probe members every implementation has."""
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_rds as rds
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_secretsmanager as secretsmanager

    return {
        ec2.IVpc: ("vpc_id", "select_subnets"),
        ec2.IConnectable: ("connections",),
        ecs.ICluster: ("cluster_name", "cluster_arn", "connections"),
        kms.IKey: ("key_arn", "grant_decrypt"),
        s3.IBucket: ("bucket_name", "arn_for_objects"),
        secretsmanager.ISecret: ("secret_arn", "secret_value_from_json"),
        rds.IDatabaseInstance: ("db_instance_endpoint_address", "instance_identifier"),
    }


_INTERFACES = functools.cache(_interface_members)


# Letters whose spoken name starts with a vowel sound, for acronyms ("an SNS topic").
_VOWEL_SOUND_LETTERS = "AEFHILMNORSX"
# Words that start with a vowel letter but a consonant sound ("a Union", "a one-off").
_CONSONANT_SOUND_PREFIXES = ("uni", "use", "usa", "one")


def with_article(noun: str) -> str:
    """'int' -> 'an int', 'ICluster or ContainerCluster' -> 'an ICluster or ContainerCluster',
    'str' -> 'a str', 'SNSTopic' -> 'an SNSTopic', 'None' -> 'None': what every generated message
    writes before a type or thing name."""
    if not noun or noun == "None":
        return noun
    acronym = len(noun) > 1 and noun[0].isupper() and noun[1].isupper()
    if acronym:
        vowel_sound = noun[0] in _VOWEL_SOUND_LETTERS
    else:
        vowel_sound = (noun[0].lower() in "aeiou"
                       and not noun.lower().startswith(_CONSONANT_SOUND_PREFIXES))
    return f"{'an' if vowel_sound else 'a'} {noun}"


def _type_name(kind: Any) -> str:
    if kind is type(None):
        return "None"
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(kind))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(kind))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(kind, "__name__", str(kind))


def _is_a(value: Any, kind: Any) -> bool:
    """Whether a value fits an annotation (the kinds that props use)."""
    if kind is Any:
        return True
    if kind is type(None):
        return value is None
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        return any(_is_a(value, arm) for arm in typing.get_args(kind))
    if origin is not None:
        args = typing.get_args(kind)
        if origin in (Mapping, dict):
            return isinstance(value, Mapping) and all(
                _is_a(k, args[0]) and _is_a(v, args[1]) for k, v in value.items()
            )
        if origin in (Sequence, list, tuple):
            return (isinstance(value, (list, tuple))
                    and all(_is_a(item, args[0]) for item in value))
        raise TypeError(f"no type rule for {kind!r}")  # a bug in a props class, not user input
    if kind is int:
        return (isinstance(value, int) and not isinstance(value, bool)) or is_token(value)
    if kind is bool:
        return isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if getattr(kind, "_is_runtime_protocol", False) and kind.__module__.startswith(
        "ecs_playground."
    ):  # one of this library's own protocols (IServiceCluster, IMySqlDatabase)
        return isinstance(value, kind)
    if getattr(kind, "_is_protocol", False):
        members = _INTERFACES().get(kind)
        if members is None:
            raise TypeError(f"no member list for jsii interface {kind!r}")
        # On the class first: a jsii class declares its members there, and hasattr on the
        # instance would read each property from Node (a round trip per member and props).
        return value is not None and all(
            hasattr(type(value), m) or hasattr(value, m) for m in members
        )
    return isinstance(value, kind)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def field_type(props_class: type, name: str) -> str:
    """'an int', 'an IVpc or None': the annotated type of a props field, as messages write it."""
    return with_article(_type_name(_hints(props_class)[name]))


def type_problems(props: Any) -> list[Problem]:
    """A problem for every field whose value does not have the annotated type."""
    hints = _hints(type(props))
    problems = []
    for f in dataclasses.fields(props):
        value = getattr(props, f.name)
        kind = hints[f.name]
        if not _is_a(value, kind):
            hint = ""
            if kind in (int, int | None) and isinstance(value, str) and value.strip().isdigit():
                hint = f" (write {int(value)}, not {value!r})"
            elif kind is bool and isinstance(value, str):
                hint = " (write True or False, not a string)"
            elif TYPE_FIX in f.metadata:
                hint = f" ({f.metadata[TYPE_FIX]})"
            problems.append(Problem(
                f.name, value, f"a value of type {_type_name(kind)}",
                f"pass {with_article(_type_name(kind))}, not "
                f"{'None' if value is None else with_article(type(value).__name__)}{hint}",
            ))
    return problems


_HAS_SUBNETS: weakref.WeakKeyDictionary[Any, dict[Any, bool]] = weakref.WeakKeyDictionary()
"""Per VPC, whether it has subnets of a type: a VPC's subnets are fixed once it is constructed
(ec2.Vpc and the imported VPCs have no API to add any), and every service of a catalog asks."""


def _has_subnets(vpc: Any, subnet_type: Any) -> bool:
    try:
        known_types = _HAS_SUBNETS.setdefault(vpc, {})
    except TypeError:  # not weakly referenceable: ask every time
        known_types = {}
    if subnet_type not in known_types:
        try:
            known_types[subnet_type] = bool(vpc.select_subnets(subnet_type=subnet_type).subnet_ids)
        except Exception:  # jsii: "There are no '...' subnet groups in this VPC"
            known_types[subnet_type] = False
    return known_types[subnet_type]


def subnet_problems(prop: str, vpc: Any, subnet_types: Sequence[Any], fix: str) -> list[Problem]:
    """A problem when the VPC has no subnets of any of the given types (`ec2.SubnetType`)."""
    if any(_has_subnets(vpc, subnet_type) for subnet_type in subnet_types):
        return []
    wanted = " or ".join(t.name.lower().replace("_", " ") for t in subnet_types)
    return [Problem(prop, f"a VPC without {wanted} subnets", f"a VPC with {wanted} subnets", fix)]
