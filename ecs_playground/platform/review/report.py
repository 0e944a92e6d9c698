"""The review of two assemblies, and its markdown report (meant to be pasted as a PR comment as is).

The adjustable AWS quotas head's plan exceeds (new ones marked); then per stack: the verdict line,
destructive changes, resources grouped by service, security changes, the rollout, the monthly cost
of BASE and head, and a Mermaid diagram with the changes marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...quotas import INCREASES_METADATA_KEY
from . import cost, rollout, security
from .diagram import LEGEND, review_diagram
from .diff import MISSING, StackDiff, diff_stacks
from .replacement import Cause, Impact, Verdict, acknowledge, assess
from .schemas import schema_date
from .template import Stack, construct_path, short_type
from .template import render as render_value

MARKER = "<!-- ecs-playground-review -->"
"""Hidden first line: CI finds its own PR comment by it and updates it."""
IGNORED_TYPES = {"AWS::CDK::Metadata": "CDK's usage metadata"}
_VALUE_WIDTH = 48
_CAUSES_PER_ROW = 4


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

    @property
    def unacknowledged(self) -> list[tuple[str, Verdict]]:
        """(stack, verdict) of destructive changes nobody acknowledged."""
        return [(s.name, v) for s in self.stacks for v in s.verdicts
                if v.destructive and not v.acknowledged]

    @property
    def exit_code(self) -> int:
        """0: safe to merge; 2: a stateful resource would be replaced or deleted, unacknowledged."""
        return 2 if self.unacknowledged else 0


def review(base: Mapping[str, Stack], head: Mapping[str, Stack], *,
           allowed: Iterable[str] = (), base_label: str = "BASE", head_label: str = "head",
           cdk_args: Sequence[str] = ()) -> Review:
    """Compare two assemblies (stacks by name)."""
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
    return Review(stacks, base_label, head_label, tuple(cdk_args), tuple(allowed), sorted(unused))


# -- markdown helpers ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if value is MISSING:
        return "_(absent)_"
    return "`" + _clip(render_value(value)).replace("`", "'") + "`"


def _clip(text: str) -> str:
    if len(text) <= _VALUE_WIDTH:
        return text
    # keep both ends: the tail carries what differs (an asset hash, an image tag, a suffix)
    half = (_VALUE_WIDTH - 1) // 2
    return text[:half] + "…" + text[-half:]


def _window(before: str, after: str) -> tuple[str, str]:
    """Both values cut to the part where they differ, with a little context on each side."""
    if len(before) <= _VALUE_WIDTH and len(after) <= _VALUE_WIDTH:
        return before, after
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while (end < min(len(before), len(after)) - start
           and before[-1 - end] == after[-1 - end]):
        end += 1
    context = 18
    first = max(0, start - context)

    def cut(text: str) -> str:
        last = min(len(text), len(text) - end + context)
        piece = text[first:last]
        if len(piece) > _VALUE_WIDTH:
            piece = piece[: _VALUE_WIDTH - 1] + "…"
        return ("…" if first else "") + piece + ("…" if last < len(text) else "")

    return cut(before), cut(after)


def _change(before: Any, after: Any) -> str:
    if before is MISSING or after is MISSING:
        return f"{_code(before)} → {_code(after)}"
    old, new = _window(render_value(before), render_value(after))
    return "`" + old.replace("`", "'") + "` → `" + new.replace("`", "'") + "`"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- sections --------------------------------------------------------------------------------------


def _counts(verdicts: Sequence[Verdict]) -> str:
    def count(*impacts: Impact) -> int:
        return sum(1 for v in verdicts if v.impact in impacts)

    parts = [f"{count(Impact.ADD)} added", f"{count(Impact.IN_PLACE)} changed in place",
             f"{count(Impact.REPLACE)} replaced"]
    if count(Impact.MAY_REPLACE):
        parts.append(f"{count(Impact.MAY_REPLACE)} may be replaced")
    parts.append(f"{count(Impact.REMOVE)} removed")
    return " · ".join(parts)


def _verdict_line(stack: StackReview) -> str:
    if stack.diff.base is None:
        return f"**Verdict:** 🆕 new stack: {_counts(stack.verdicts)}"
    if stack.diff.head is None:
        return ("**Verdict:** 🗑️ stack removed: every resource is deleted "
                f"({_counts(stack.verdicts)})")
    destructive = [v for v in stack.verdicts if v.destructive]
    icon = "🔴" if any(not v.acknowledged for v in destructive) else (
        "🟡" if destructive else "🟢")
    line = f"**Verdict:** {icon} {_counts(stack.verdicts)}"
    if destructive:
        named = ", ".join(
            f"`{v.logical_id}` ({short_type(v.type)}) **{_what(v)}**"
            + (" — acknowledged" if v.acknowledged else " — not acknowledged")
            for v in destructive)
        line += f" — stateful: {named}"
    else:
        line += " — no stateful resource replaced or removed"
    return line


def _what(verdict: Verdict) -> str:
    return {Impact.REPLACE: "REPLACED", Impact.MAY_REPLACE: "MAY BE REPLACED",
            Impact.REMOVE: "REMOVED"}.get(verdict.impact, verdict.impact.label)


def _old_resource(verdict: Verdict) -> str:
    policy = verdict.deletion_policy
    if policy in ("Retain", "RetainExceptOnCreate"):
        return "kept in the account, unmanaged (Retain): the new one starts empty" if (
            verdict.impact is not Impact.REMOVE) else "kept in the account, unmanaged (Retain)"
    if policy == "Snapshot":
        return "deleted after a final snapshot (Snapshot)"
    return "deleted"


def _destructive(stack: StackReview) -> list[str]:
    destructive = [v for v in stack.verdicts if v.destructive]
    if not destructive:
        return []
    rows = [[f"`{v.logical_id}`" + (f" (was `{v.renamed_from}`)" if v.renamed_from else ""),
             v.stateful or "", _what(v), _main_cause(v), _old_resource(v),
             "✅ ALLOW_REPLACE" if v.acknowledged else "❌ no"] for v in destructive]
    lines = ["#### 🔥 Destructive changes", ""]
    lines += _table(["Resource", "Holds", "Change", "Cause", "Old resource", "Acknowledged"], rows)
    if any(not v.acknowledged for v in destructive):
        names = ",".join(v.logical_id for v in destructive if not v.acknowledged)
        lines += ["", f"To accept, rerun with `make review ALLOW_REPLACE={names}` (per resource)."]
    return [*lines, ""]


def _main_cause(verdict: Verdict) -> str:
    causes = [c for c in verdict.causes if c.impact is verdict.impact] or verdict.causes
    return "; ".join(f"{c.path}: {c.reason}" for c in causes[:2])


def _cause_text(cause: Cause) -> str:
    text = f"`{cause.path}`"
    if cause.before is not MISSING or cause.after is not MISSING:
        text += f" {_change(cause.before, cause.after)}"
    if cause.impact in (Impact.REPLACE, Impact.MAY_REPLACE):
        text += f" **{cause.impact.label}**"
    return f"{text}: {cause.reason}"


def _causes(verdict: Verdict) -> str:
    if verdict.impact is Impact.ADD:
        return "new resource"
    causes = sorted(verdict.causes, key=lambda c: -c.impact)
    shown = [_cause_text(c) for c in causes[:_CAUSES_PER_ROW]]
    if len(causes) > _CAUSES_PER_ROW:
        shown.append(f"… and {len(causes) - _CAUSES_PER_ROW} more paths")
    shown += [f"⚠️ {w}" for w in verdict.warnings]
    return "<br>".join(shown)


def _service_prefixes(stack: StackReview) -> dict[str, str]:
    """Construct-path prefix -> service name, for grouping resources by service."""
    prefixes: dict[str, str] = {}
    for side in (stack.diff.base, stack.diff.head):
        resources = side.resources if side else {}
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::ECS::Service":
                continue
            paths = [construct_path(resource) or ""]
            task = resource.get("Properties", {}).get("TaskDefinition", {})
            task_id = task.get("Ref") if isinstance(task, dict) else None
            if isinstance(task_id, str) and task_id in resources:
                paths.append(construct_path(resources[task_id]) or "")
            common = _common_prefix(paths)
            if common:
                prefixes[common] = rollout.service_name(logical_id, resource, resources)
    return prefixes


def _common_prefix(paths: Sequence[str]) -> str:
    if len(paths) < 2 or not all(paths):
        return ""
    split = [p.split("/") for p in paths]
    common = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _group_of(verdict: Verdict, prefixes: Mapping[str, str]) -> str:
    path = verdict.path or ""
    for prefix, name in sorted(prefixes.items(), key=lambda p: -len(p[0])):
        if path == prefix or path.startswith(prefix + "/"):
            return f"Service `{name}`"
    return "Platform (shared)"


def _resources(stack: StackReview) -> list[str]:
    prefixes = _service_prefixes(stack)
    groups: dict[str, list[Verdict]] = {}
    for verdict in stack.verdicts:
        groups.setdefault(_group_of(verdict, prefixes), []).append(verdict)
    lines = ["#### Resources", ""]
    order = sorted(groups, key=lambda g: (g != "Platform (shared)", g))
    for group in order:
        verdicts = sorted(groups[group], key=lambda v: (-v.impact, v.logical_id))
        lines += [f"**{group}** — {_counts(verdicts)}", ""]
        rows = [[v.impact.label, f"`{v.logical_id}`"
                 + (f"<br>(was `{v.renamed_from}`)" if v.renamed_from else ""),
                 short_type(v.type), v.path or "", _causes(v)] for v in verdicts]
        lines += _table(["Change", "Logical ID", "Type", "Construct", "Why (property paths)"],
                        rows)
        lines.append("")
    untouched = sorted(set(prefixes.values()) - {g.split("`")[1] for g in groups if "`" in g})
    if untouched:
        lines += [f"_Services without changes: {', '.join(untouched)}._", ""]
    return lines


def _security(stack: StackReview) -> list[str]:
    changes = stack.security
    if changes.empty:
        return ["#### Security", "", "No IAM statement, managed policy or security-group rule "
                "added or removed.", ""]
    lines = ["#### Security", "",
             f"{_plural(changes.widening_count, 'addition')} widening access "
             "(every added Allow statement, managed policy or rule counts, as in `cdk diff`'s "
             "security tables).", ""]
    statements = ([("+", s) for s in changes.statements_added]
                  + [("-", s) for s in changes.statements_removed])
    if statements:
        lines += ["**IAM statements**", ""]
        lines += _table(
            ["", "Attached to", "Effect", "Action", "Resource", "Principal", "Condition",
             "Widening"],
            [[sign, s.subject, s.effect, s.actions, s.resources, s.principals,
              s.conditions or "-",
              ("⚠️ " + ", ".join(s.widening)) if sign == "+" and s.widening else
              ("yes" if sign == "+" and s.effect == "Allow" else "")]
             for sign, s in statements])
        lines.append("")
    managed = ([("+", m) for m in changes.managed_added]
               + [("-", m) for m in changes.managed_removed])
    if managed:
        lines += ["**Managed policies**", ""]
        lines += _table(["", "Attached to", "Managed policy"],
                        [[sign, m.subject, m.policy] for sign, m in managed])
        lines.append("")
    found = [("+", r) for r in changes.rules_added] + [("-", r) for r in changes.rules_removed]
    if found:
        lines += ["**Security group rules**", ""]
        lines += _table(
            ["", "Group", "Dir", "Protocol", "Ports", "Peer", "Widening"],
            [[sign, r.group, r.direction, r.protocol, r.ports, r.peer,
              ("⚠️ " + ", ".join(r.widening)) if sign == "+" and r.widening else
              ("yes" if sign == "+" else "")] for sign, r in found])
        lines.append("")
    return lines


def _rollout(stack: StackReview) -> list[str]:
    if not stack.rollouts and not stack.fleet:
        return ["#### Rollout", "", "No task definition or launch template changes.", ""]
    lines = ["#### Rollout", ""]
    if stack.rollouts:
        rows = []
        for item in stack.rollouts:
            for container, before, after in item.images:
                rows.append([f"`{item.service}`", item.status, container, before, after,
                             ", ".join(f"`{p}`" for p in item.other_changes[:6])
                             + (" …" if len(item.other_changes) > 6 else "") or "-"])
        lines += _table(["Service", "Task definition", "Container", "Image before",
                         "Image after", "Other task changes"], rows)
        lines.append("")
    for change in stack.fleet:
        lines.append(f"- Container instances (`{change.launch_template}`: "
                     f"{', '.join(f'`{c}`' for c in change.changes)}): {change.when}.")
    if stack.fleet:
        lines.append("")
    return lines


def _cost(stack: StackReview) -> list[str]:
    base, head = stack.cost_base, stack.cost_head
    lines = [f"#### Cost (monthly, {cost.price_basis()})", ""]
    absent = object()
    rows: dict[tuple[str, str], list[Any]] = {}
    for index, estimate in enumerate((base, head)):
        for line in estimate.lines if estimate else ():
            rows.setdefault((line.kind, line.item), [absent, absent])[index] = line.monthly

    def amount(value: Any) -> str:
        return "—" if value is absent else cost.money(value)

    table = []
    for (kind, item), (old, new) in sorted(rows.items()):
        if old is None or new is None:
            delta = "unpriced"
        else:
            before = 0.0 if old is absent else old
            after = 0.0 if new is absent else new
            delta = "—" if old == new else cost.signed(after - before)
        table.append([kind, item, amount(old), amount(new), delta])
    lines += _table(["Kind", "Item", "BASE", "head", "Delta"], table)
    old_total = base.total if base else 0.0
    new_total = head.total if head else 0.0
    lines += ["", f"**Total:** BASE {cost.money(old_total)} → head {cost.money(new_total)} "
              f"(**{cost.signed(new_total - old_total)}**/month)."]
    estimate = head or base
    assert estimate is not None
    unpriced = sorted({f"{u.kind} {u.item}" for e in (base, head) if e for u in e.unpriced})
    notes = []
    if estimate.region_note:
        notes.append(estimate.region_note.capitalize() + ".")
    notes.append(f"Unpriced (not in the table, never counted as 0): {', '.join(unpriced)}."
                 if unpriced else "Unpriced: none.")
    notes.append("Not counted (usage-based): " + "; ".join(estimate.excluded) + ".")
    return [*lines, "", " ".join(notes), ""]


def _quota_increases(result: Review, side: str) -> set[str]:
    """The adjustable quotas a side's plan exceeds, as its stacks recorded them at synth."""
    return {line for s in result.stacks for stack in [getattr(s.diff, side)] if stack
            for line in stack.template.get("Metadata", {}).get(INCREASES_METADATA_KEY, [])}


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


def _diagram(stack: StackReview) -> list[str]:
    return ["#### Diagram", "", "```mermaid", stack.diagram.rstrip(), "```", "", LEGEND, ""]


# -- the report ------------------------------------------------------------------------------------


def render(result: Review) -> str:
    """The whole markdown report."""
    changed = [s for s in result.stacks if s.changed]
    blocking = result.unacknowledged
    failing = [v for s in result.stacks for v in s.verdicts if v.warnings]
    if not changed:
        title = "## 🟢 Review: no changes"
    elif blocking:
        title = (f"## 🔴 Review: {_plural(len(blocking), 'stateful resource')} would be replaced "
                 "or deleted, not acknowledged")
    elif failing:
        title = (f"## 🟠 Review: no data at risk, but the deployment would fail "
                 f"({_plural(len(failing), 'custom-named resource')} replaced under the same "
                 "name)")
    else:
        title = "## 🟢 Review: safe to merge"
    args = " ".join(result.cdk_args) or "none"
    lines = [MARKER, title, "",
             f"BASE {result.base_label} → head {result.head_label} · CDK_ARGS: `{args}` · "
             "synthesized offline with the same context on both sides", ""]
    if not changed:
        return "\n".join([*lines, "Both sides synthesize to the same templates: nothing to "
                          "deploy.", ""])
    if result.allowed:
        lines += [f"Acknowledged with ALLOW_REPLACE: {', '.join(f'`{a}`' for a in result.allowed)}"
                  + (f" (⚠️ matched no destructive change: "
                     f"{', '.join(f'`{a}`' for a in result.unused_acknowledgements)})"
                     if result.unused_acknowledgements else ""), ""]
    lines += _quotas(result)
    unchanged = [s.name for s in result.stacks if not s.changed]
    for stack in changed:
        lines += [f"### Stack `{stack.name}`", "", _verdict_line(stack), ""]
        warnings = [(v.logical_id, w) for v in stack.verdicts for w in v.warnings]
        for logical_id, warning in warnings:
            lines.append(f"> ⚠️ **Will fail to deploy:** `{logical_id}` {warning}.")
        if warnings:
            lines.append("")
        lines += _destructive(stack)
        lines += _resources(stack)
        lines += _security(stack)
        lines += _rollout(stack)
        lines += _cost(stack)
        lines += _diagram(stack)
    if unchanged:
        lines += [f"Stacks without changes: {', '.join(f'`{n}`' for n in unchanged)}.", ""]
    lines += [f"<sub>Replacement rules: CloudFormation resource provider schemas of "
              f"{schema_date()[:10]} (bundled with cfn-lint), renamed logical IDs, references "
              "to replaced resources; CDK's usage metadata (AWS::CDK::Metadata) ignored.</sub>", ""]
    return "\n".join(lines)
