"""The review of two assemblies, and its markdown report (meant to be pasted as a PR comment as is).

The first screen: the verdict (which sets the exit status, status.py), a change to what the review
itself runs, and a summary of what matters (stacks added or removed, what is replaced, restarted
or fails, data at risk, the total monthly cost change, the security widenings); then the AWS quotas
head's plan exceeds, and per stack the sections of sections.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import cost, rollout, security
from .diagram import review_diagram
from .diff import StackDiff, diff_stacks
from .inputs import InputChange
from .replacement import Impact, Verdict, acknowledge, assess
from .schemas import schema_date
from .sections import (
    cost_section,
    destructive_section,
    diagram_section,
    plural,
    resources_section,
    rollout_section,
    security_section,
    verdict_line,
)
from .status import ExitStatus
from .template import DEFAULT_ENVIRONMENT, Stack, short_type

QUOTA_INCREASES_METADATA_KEY = "EcsPlayground::QuotaIncreases"
"""Template metadata under which a stack may list the adjustable AWS quotas its plan exceeds
(rendered lines; ecs_playground's stacks write it at synth): the report shows what a change adds."""

MARKER = "<!-- ecs-playground-review -->"
"""Hidden first line: CI finds its own PR comment by it and updates it."""
IGNORED_TYPES = {"AWS::CDK::Metadata": "CDK's usage metadata"}
_LISTED = 6
"""Items named per line of the summary before '… and N more'."""


@dataclass
class StackReview:
    """Everything the report says about one stack."""

    diff: StackDiff
    verdicts: list[Verdict]
    security: security.SecurityChanges
    rollouts: list[rollout.ServiceRollout]
    fleet: list[rollout.FleetChange]
    cost_base: cost.Estimate | None
    cost_head: cost.Estimate | None
    diagram: str

    @property
    def name(self) -> str:
        """The stack's name."""
        return self.diff.name

    @property
    def environment(self) -> str:
        """The named environment (CDK Stage) of the stack; 'default' for a top-level stack."""
        stack = self.diff.head or self.diff.base
        return stack.environment if stack else DEFAULT_ENVIRONMENT

    @property
    def changed(self) -> bool:
        """True when any resource of the stack changes (or the stack is added or removed)."""
        return bool(self.verdicts) or self.diff.base is None or self.diff.head is None


@dataclass
class Review:
    """The review of a change: every stack, and what was acknowledged."""

    stacks: list[StackReview]
    base_label: str = "BASE"
    head_label: str = "head"
    cdk_args: Sequence[str] = ()
    allowed: Sequence[str] = ()
    unused_acknowledgements: list[str] = field(default_factory=list)
    inputs: Sequence[InputChange] = ()
    """Changes to what the synth executes (cdk.json's app, the Makefile, requirements...)."""
    synthesized: bool = True
    """True when the review synthesized both sides (`run`); False for two assemblies given as
    they are (`compare`): no synth to speak of."""

    @property
    def unacknowledged(self) -> list[tuple[str, Verdict]]:
        """(stack, verdict) of destructive changes nobody acknowledged."""
        return [(s.name, v) for s in self.stacks for v in s.verdicts
                if v.destructive and not v.acknowledged]

    @property
    def failing(self) -> list[tuple[str, Verdict]]:
        """(stack, verdict) of changes CloudFormation would refuse: the deployment fails."""
        return [(s.name, v) for s in self.stacks for v in s.verdicts if v.warnings]

    @property
    def status(self) -> ExitStatus:
        """The verdict class, worst first: data loss, then a failing deployment, else safe."""
        if self.unacknowledged:
            return ExitStatus.DATA_LOSS
        if self.failing:
            return ExitStatus.DEPLOY_FAILS
        return ExitStatus.SAFE

    @property
    def exit_code(self) -> int:
        """The exit status of the verdict (status.py): 0 only when safe to merge."""
        return int(self.status)


def review(base: Mapping[str, Stack], head: Mapping[str, Stack], *,
           allowed: Iterable[str] = (), base_label: str = "BASE", head_label: str = "head",
           cdk_args: Sequence[str] = (), inputs: Sequence[InputChange] = (),
           synthesized: bool = True) -> Review:
    """Compare two assemblies (stacks by name); `synthesized`: see :attr:`Review.synthesized`."""
    allowed = [a for a in allowed if a.strip()]
    stacks = []
    unused: set[str] = set(allowed)
    for stack_diff in diff_stacks(base, head):
        verdicts = [v for v in assess(stack_diff) if v.type not in IGNORED_TYPES]
        unused &= set(acknowledge(verdicts, allowed))
        stacks.append(StackReview(
            diff=stack_diff,
            verdicts=verdicts,
            security=security.compare(stack_diff.base, stack_diff.head),
            rollouts=rollout.services(verdicts, stack_diff.base, stack_diff.head),
            fleet=rollout.fleet(verdicts, stack_diff.head),
            cost_base=cost.estimate(stack_diff.base) if stack_diff.base else None,
            cost_head=cost.estimate(stack_diff.head) if stack_diff.head else None,
            diagram=review_diagram(stack_diff.base, stack_diff.head, verdicts),
        ))
    return Review(stacks, base_label, head_label, tuple(cdk_args), tuple(allowed), sorted(unused),
                  tuple(inputs), synthesized)


def _quota_increases(result: Review, side: str) -> set[str]:
    """The adjustable quotas a side's plan exceeds, as its stacks recorded them at synth."""
    return {line for s in result.stacks for stack in [getattr(s.diff, side)] if stack
            for line in stack.template.get("Metadata", {}).get(QUOTA_INCREASES_METADATA_KEY, [])}


def _quotas(result: Review) -> list[str]:
    """Adjustable AWS quotas head's plan exceeds (new ones marked), and those it no longer does.
    Hard limits never get here: they fail the synth."""
    head, base = _quota_increases(result, "head"), _quota_increases(result, "base")
    if not head and not base:
        return []
    lines = ["### AWS quotas", ""]
    if head:
        lines += ["Needs a quota increase before this deploys (Service Quotas; `make synth` "
                  "prints the same):", ""]
        lines += [f"- {line}" + (" — 🆕 with this change" if line not in base else "")
                  for line in sorted(head)]
        lines.append("")
    if base - head:
        lines += ["No longer needed with this change:", ""]
        lines += [f"- ~~{line}~~" for line in sorted(base - head)]
        lines.append("")
    return lines


# -- the first screen -----------------------------------------------------------------------------


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f", … and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _title(result: Review, changed: Sequence[StackReview]) -> str:
    status = result.status
    if status is ExitStatus.DATA_LOSS:
        return (f"## 🔴 Review: {plural(len(result.unacknowledged), 'stateful resource')} would "
                "be replaced or deleted, not acknowledged")
    if status is ExitStatus.DEPLOY_FAILS:
        return ("## 🟠 Review: no data at risk, but the deployment would fail "
                f"({plural(len(result.failing), 'resource')} CloudFormation would refuse)")
    return "## 🟢 Review: safe to merge" if changed else "## 🟢 Review: no changes"


def _inputs(result: Review) -> list[str]:
    if not result.inputs:
        return []
    return ["> ⚠️ **This change edits what the review itself runs**: "
            + "; ".join(change.text() for change in result.inputs)
            + ". Everything below comes from synthesizing with that code: read its diff "
              "before trusting this report.", ""]


def _acknowledged(result: Review) -> list[str]:
    if not result.allowed:
        return []
    line = f"Acknowledged with ALLOW_REPLACE: {', '.join(f'`{a}`' for a in result.allowed)}"
    if result.unused_acknowledgements:
        line += (" (⚠️ matched no destructive change: "
                 f"{', '.join(f'`{a}`' for a in result.unused_acknowledgements)}; a typo, or "
                 "the change no longer replaces it)")
    return [line, ""]


def _named(stack: str, verdict: Verdict, many_stacks: bool) -> str:
    where = f", stack `{stack}`" if many_stacks else ""
    return f"`{verdict.logical_id}` ({short_type(verdict.type)}{where})"


def _widenings(changes: security.SecurityChanges) -> list[tuple[bool, str]]:
    """(flagged, text) of every addition that widens access."""
    found = [(bool(s.widening), f"IAM {s.subject}: Allow {s.actions} on {s.resources}"
              + (f" ⚠️ {', '.join(s.widening)}" if s.widening else ""))
             for s in changes.statements_added if s.effect == "Allow"]
    found += [(False, f"IAM {s.subject}: Deny {s.actions} removed")
              for s in changes.statements_removed if s.effect == "Deny"]
    found += [(False, f"managed policy {m.policy} on {m.subject}") for m in changes.managed_added]
    found += [(bool(r.widening), f"security group {r.group} {r.direction} {r.protocol} {r.ports} "
               f"{'from' if r.direction == 'in' else 'to'} {r.peer}"
               + (f" ⚠️ {', '.join(r.widening)}" if r.widening else ""))
              for r in changes.rules_added]
    return found


def _cost_total(result: Review) -> str:
    base = [s.cost_base for s in result.stacks if s.cost_base]
    head = [s.cost_head for s in result.stacks if s.cost_head]
    estimates = (*base, *head)
    if estimates and all(e.priced_region is None for e in estimates):  # never $0.00 for no prices
        return "unpriced: " + "; ".join(sorted({e.region_note for e in estimates}))
    before = round(sum(e.total for e in base), 2)
    after = round(sum(e.total for e in head), 2)
    unpriced = sorted({f"{u.kind} {u.item}" for e in (*base, *head) for u in e.unpriced})
    text = (f"{cost.money(before)} → {cost.money(after)} (**{cost.signed(after - before)}**/month "
            f"over every stack, on-demand; usage-based charges not counted)")
    return text + (f"; unpriced, not counted: {_some(unpriced)}" if unpriced else "")


def _environments(result: Review) -> list[str]:
    """Per named environment (none for an app without them): whether this change touches it,
    and its monthly cost priced in its own region."""
    names = list(dict.fromkeys(s.environment for s in result.stacks))
    if names == [DEFAULT_ENVIRONMENT]:
        return []
    parts = []
    for name in names:
        mine = [s for s in result.stacks if s.environment == name]
        changed = [s for s in mine if s.changed]
        region = next((s.diff.region for s in mine if s.diff.region), None)
        base = [s.cost_base for s in mine if s.cost_base]
        head = [s.cost_head for s in mine if s.cost_head]
        if any(e.priced_region is None for e in (*base, *head)):
            price = "cost unpriced: " + next(e.region_note for e in (*base, *head)
                                             if e.priced_region is None)
        else:
            before, after = (round(sum(e.total for e in side), 2) for side in (base, head))
            price = (f"cost {cost.money(before)} → {cost.money(after)} "
                     f"({cost.signed(after - before)}/month)")
        touched = (f"**{plural(len(changed), 'stack')} changed**" if changed
                   else "unchanged")
        parts.append(f"`{name}` ({region or 'environment-agnostic'}): {touched}, {price}")
    return [f"- **Environments:** {' · '.join(parts)}"]


def summary(result: Review) -> list[str]:
    """What matters, on the first screen: stacks added/removed, what is replaced, restarted or
    would fail, data at risk, the total monthly cost change and the security widenings."""
    many = len(result.stacks) > 1
    added = [s.name for s in result.stacks if s.diff.base is None]
    removed = [s.name for s in result.stacks if s.diff.head is None]
    changed = [s for s in result.stacks if s.changed and s.diff.base and s.diff.head]
    unchanged = [s for s in result.stacks if not s.changed]
    stacks = (f"🆕 {len(added)} added{': ' + _some([f'`{n}`' for n in added]) if added else ''}"
              f" · 🗑️ {len(removed)} removed"
              f"{': ' + _some([f'`{n}`' for n in removed]) if removed else ''}"
              f" · {len(changed)} changed · {len(unchanged)} unchanged")
    replaced = [_named(s.name, v, many) for s in result.stacks for v in s.verdicts
                if v.impact in (Impact.REPLACE, Impact.MAY_REPLACE) and s.diff.base and s.diff.head]
    restarts = [f"{_named(s.name, v, many)}: {'; '.join(v.interruptions)}"
                for s in result.stacks for v in s.verdicts if v.interruptions]
    restarts += [f"container instances (`{f.launch_template}`): {f.when}"
                 for s in result.stacks for f in s.fleet if "replaces the instances" in f.when]
    failing = [_named(stack, v, many) for stack, v in result.failing]
    at_risk = [f"{_named(stack, v, many)} **{v.impact.label}**"
               + (" (acknowledged)" if v.acknowledged else " — not acknowledged")
               for s in result.stacks for v in s.verdicts if v.destructive for stack in [s.name]]
    widenings = sorted((w for s in result.stacks for w in _widenings(s.security)),
                       key=lambda w: (not w[0], w[1]))
    security_line = (f"{plural(len(widenings), 'addition')} widening access: "
                     + _some([text for _flagged, text in widenings]) if widenings else
                     "no access widened")
    lines = ["**Summary**", "", *_environments(result),
             f"- **Stacks:** {stacks}",
             f"- **Replaced:** {len(replaced)}" + (f": {_some(replaced)}" if replaced else ""),
             "- **Restarts and downtime:** " + ("; ".join(restarts) if restarts else "none"),
             "- **Data at risk:** " + ("; ".join(at_risk) if at_risk else "none")]
    if failing:
        lines.append(f"- **Would fail to deploy:** {_some(failing)} (why: in the stack's section)")
    lines += [f"- **Monthly cost:** {_cost_total(result)}",
              f"- **Security:** {security_line}", ""]
    return lines


# -- the report ------------------------------------------------------------------------------------


ARGUMENTS_SHOWN = 300
"""Characters of CDK_ARGS the report's header shows: a catalog's hundreds of -c keys would push
the verdict off the first screen (plan.json and the log keep them all)."""


def _shown_arguments(cdk_args: Sequence[str]) -> str:
    text = (" ".join(cdk_args) or "none").replace("`", "'")
    if len(text) <= ARGUMENTS_SHOWN:
        return text
    return f"{text[:ARGUMENTS_SHOWN].rsplit(' ', 1)[0]} … ({len(cdk_args)} arguments in all)"


def render(result: Review) -> str:
    """The whole markdown report."""
    changed = [s for s in result.stacks if s.changed]
    args = _shown_arguments(result.cdk_args)
    origin = (f"CDK_ARGS: `{args}` · synthesized offline with the same context on both sides"
              if result.synthesized else "two cloud assemblies compared as given")
    lines = [MARKER, _title(result, changed), "",
             f"BASE {result.base_label} → head {result.head_label} · {origin}", ""]
    lines += _inputs(result)
    lines += _acknowledged(result)
    if not changed:
        return "\n".join([*lines, "Both sides synthesize to the same templates: nothing to "
                          "deploy.", ""])
    lines += summary(result)
    lines += _quotas(result)
    unchanged = [s.name for s in result.stacks if not s.changed]
    for stack in changed:
        lines += [f"### Stack `{stack.name}`", "", verdict_line(stack), ""]
        warnings = [(v.logical_id, w) for v in stack.verdicts for w in v.warnings]
        for logical_id, warning in warnings:
            lines.append(f"> ⚠️ **Will fail to deploy:** `{logical_id}` {warning}.")
        if warnings:
            lines.append("")
        lines += destructive_section(stack, result.synthesized)
        lines += resources_section(stack)
        lines += security_section(stack)
        lines += rollout_section(stack)
        lines += cost_section(stack)
        lines += diagram_section(stack)
    if unchanged:
        lines += [f"Stacks without changes: {', '.join(f'`{n}`' for n in unchanged)}.", ""]
    lines += [f"<sub>Replacement rules: CloudFormation resource provider schemas of "
              f"{schema_date()[:10]} (bundled with cfn-lint), renamed logical IDs, references "
              "to replaced resources; CDK's usage metadata (AWS::CDK::Metadata) ignored.</sub>", ""]
    return "\n".join(lines)
