"""Named environments as data: cdk.json's `environments` (pure: no constructs).

    "environments": {
      "dev":  {"account": "111111111111", "region": "eu-west-1",
               "overrides": {"vpc.natGateways": 1}},
      "prod": {"account": "222222222222", "region": "eu-central-1",
               "overrides": {"vpc.maxAzs": 3, "db.multiAz": true, "location.desiredCount": 6}}
    }

Each environment is the app's context with its `overrides` on top (any configuration key, a
per-service key too), deployed to its own account and region: one CDK Stage per environment,
whose ID is the environment's name. With no environments the app is today's single
environment-agnostic stack, which the plan and the review call `default`.

What a verb works on is the context key `environment` (the Makefile's `ENV=`): unset, every
environment; a name, that environment only (every environment is still validated). An empty
value means "a verb that needs one environment" (`make diff`, `make deploy`): with environments
declared it is an error that lists them. `environmentTarget` (`aws://ACCOUNT/REGION`, set by
`make local`) deploys the chosen environment's configuration into another account and region
(the emulator's), as top-level stacks; `dev` is chosen when no ENV is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assembly_review.template import DEFAULT_ENVIRONMENT

from .keys import ENVIRONMENT_KEYS, ENVIRONMENTS, SELECTED, TARGET, is_ours

DEFAULT = DEFAULT_ENVIRONMENT
"""The one environment of an app that declares none (the plan and the review name it so)."""
LOCAL_DEFAULT = "dev"
"""The environment `make local` deploys when no ENV is given."""
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
ACCOUNT_PATTERN = re.compile(r"\d{12}")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
TARGET_PATTERN = re.compile(r"aws://(\d{12})/([a-z]{2}(?:-[a-z]+)+-\d{1,2})")
FIELDS = ("account", "region", "overrides")
APP_WIDE = {"nag.compliancePacks": "the security gates run once over the whole app"}
"""Keys an environment may not override, and why."""


@dataclass(frozen=True)
class Environment:
    """One declared environment: where it deploys and what it changes."""

    name: str
    """Its name: the CDK Stage ID, and the prefix of its stacks' names (`prod-EcsPlayground`)."""
    account: str | None
    """The 12-digit AWS account it deploys to (None: missing or malformed, reported)."""
    region: str | None
    """The AWS region it deploys to, its AZs from cdk.context.json (None: missing or
    malformed, reported)."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Configuration keys and their values in this environment, over the app's context."""

    def context(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration of this environment: `base` (the app's context, without the
        environment keys) with the overrides on top."""
        merged = {k: v for k, v in base.items() if k not in ENVIRONMENT_KEYS}
        merged.update(self.overrides)
        return merged


@dataclass(frozen=True)
class Selection:
    """The environments an app declares, and which of them this run builds."""

    declared: Mapping[str, Environment]
    """Every declared environment, by name, in cdk.json's order (empty: the default app)."""
    chosen: tuple[str, ...]
    """The names this run builds into the assembly (all, or the one ENV names)."""
    target: tuple[str, str] | None = None
    """(account, region) replacing the chosen environment's (make local), or None."""
    problems: tuple[str, ...] = ()
    """Problems of the declarations and of the selection, each named by its key."""


def _parsed(raw: Any) -> Any:
    """cdk.json gives an object; `-c environments=...` gives text (JSON)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _declared(raw: Any, problems: list[str]) -> dict[str, Environment]:
    raw = _parsed(raw)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{ENVIRONMENTS} = {json.dumps(raw)}: expected an object of environment "
                        'names, e.g. {"dev": {"account": "111111111111", "region": "eu-west-1", '
                        '"overrides": {}}} (docs/environments.md)')
        return {}
    found = {}
    for name, spec in raw.items():
        where = f"{ENVIRONMENTS}.{name}"
        if not NAME_PATTERN.fullmatch(name):
            problems.append(f"{where}: the name is not allowed; allowed 1-64 letters, digits and "
                            "'-', starting with a letter (it is the CDK Stage ID and the prefix "
                            "of its stack names), e.g. prod")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where} = {json.dumps(spec)}: expected an object with account, "
                            "region and (optional) overrides")
            continue
        problems += [f"{where}.{key}: unknown field; allowed {', '.join(FIELDS)}"
                     for key in spec if key not in FIELDS]
        account = _field(spec, f"{where}.account", ACCOUNT_PATTERN, problems,
                         missing='give the 12-digit AWS account it deploys to, as text, e.g. '
                                 '"account": "111111111111"',
                         malformed='allowed 12 digits, as text (a number would lose leading '
                                   'zeros), e.g. "111111111111"')
        region = _field(spec, f"{where}.region", REGION_PATTERN, problems,
                        missing='give the AWS region it deploys to, e.g. "region": "eu-west-1"',
                        malformed="not an AWS region name; e.g. eu-west-1, us-east-1")
        overrides = spec.get("overrides", {})
        if not isinstance(overrides, dict):
            problems.append(f"{where}.overrides = {json.dumps(overrides)}: expected an object of "
                            'configuration keys, e.g. {"vpc.natGateways": 1}')
            overrides = {}
        for key in overrides:
            if not is_ours(key) or key in ENVIRONMENT_KEYS:
                problems.append(f"{where}.overrides.{key}: not a configuration key an "
                                "environment can set (CDK's feature flags and lookups, and the "
                                "environment keys, apply to the whole app)")
            elif key in APP_WIDE:
                problems.append(f"{where}.overrides.{key}: set it for the whole app, not one "
                                f"environment: {APP_WIDE[key]}")
        # kept with a bad account or region: its overrides are still checked
        found[name] = Environment(name, account, region, {
            k: v for k, v in overrides.items()
            if is_ours(k) and k not in ENVIRONMENT_KEYS and k not in APP_WIDE})
    return found


def _field(spec: Mapping[str, Any], where: str, pattern: re.Pattern[str], problems: list[str],
           *, missing: str, malformed: str) -> str | None:
    """A required text field of an environment (None, reported, when missing or malformed)."""
    value = spec.get(where.rsplit(".", 1)[1])
    if value is None:
        problems.append(f"{where} is missing: {missing}")
    elif not (isinstance(value, str) and pattern.fullmatch(value)):
        problems.append(f"{where} = {json.dumps(value)}: {malformed}")
    else:
        return value
    return None


def select(context: Mapping[str, Any]) -> Selection:
    """The declared environments and this run's choice, from the app's context. Problems are
    returned, not raised, so that they are reported with every environment's own."""
    problems: list[str] = []
    declared = _declared(context.get(ENVIRONMENTS), problems)
    has_declarations = context.get(ENVIRONMENTS) is not None
    names = ", ".join(declared) or "none valid"
    selected = context.get(SELECTED)
    target = _target(context.get(TARGET), problems)
    if selected is not None and not isinstance(selected, str):
        problems.append(f"{SELECTED} = {json.dumps(selected)}: expected an environment name")
        selected = None
    if not has_declarations:
        if selected not in (None, "", DEFAULT):
            problems.append(
                f"ENV={selected}: cdk.json declares no environments (the app is one "
                f"environment-agnostic stack, '{DEFAULT}'); leave ENV unset, or declare "
                f"'{ENVIRONMENTS}' in cdk.json (docs/environments.md)"
            )
        return Selection({}, (), None, tuple(problems))
    if selected is None and target is not None:
        if LOCAL_DEFAULT not in declared:
            problems.append(f"ENV is not given and there is no '{LOCAL_DEFAULT}' environment to "
                            f"deploy by default; choose one: ENV=<{'|'.join(declared)}>")
        selected = LOCAL_DEFAULT
    elif selected == "":
        problems.append(f"ENV is required: this verb works on one environment and cdk.json "
                        f"declares {names}; e.g. ENV={next(iter(declared), 'dev')}")
    elif selected is not None and selected not in declared:
        problems.append(f"ENV={selected} is not a declared environment; declared: {names} "
                        f"(cdk.json context '{ENVIRONMENTS}')")
    chosen = tuple(declared) if selected is None else (selected,)
    return Selection(declared, tuple(n for n in chosen if n in declared), target,
                     tuple(problems))


def _target(raw: Any, problems: list[str]) -> tuple[str, str] | None:
    if raw is None:
        return None
    match = TARGET_PATTERN.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        problems.append(f"{TARGET} = {json.dumps(raw)}: expected aws://ACCOUNT/REGION, e.g. "
                        "aws://123456789012/us-east-1")
        return None
    return match.group(1), match.group(2)


def named(environment: Environment, problems: Sequence[str]) -> list[str]:
    """An environment's problems named by environment and key: a problem of a key the
    environment overrides is `environments.<name>.overrides.<key> ...`, any other
    `environments.<name>: ...`."""
    keys = sorted(environment.overrides, key=len, reverse=True)
    out = []
    for problem in problems:
        unknown = re.match(r"unknown key '([^']+)'[;:]? ?(.*)", problem, re.DOTALL)
        if unknown and unknown.group(1) in environment.overrides:
            out.append(f"{ENVIRONMENTS}.{environment.name}.overrides.{unknown.group(1)}: "
                       f"unknown key; {unknown.group(2)}")
            continue
        key = next((k for k in keys if re.match(rf"{re.escape(k)}(?=[\s\[=:])", problem)), None)
        prefix = f"{ENVIRONMENTS}.{environment.name}"
        out.append(f"{prefix}.overrides.{problem}" if key else f"{prefix}: {problem}")
    return out
