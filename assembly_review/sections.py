"""The per-stack sections of the review's markdown report: destructive changes, resources grouped
by service, security, rollout, cost and diagram, and the markdown helpers they share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import cost, rollout
from .diagram import DRAWN, LEGEND
from .diff import MISSING
from .replacement import Cause, Impact, Verdict
from .template import construct_path, short_type
from .template import render as render_value

if TYPE_CHECKING:
    from .report import StackReview

_VALUE_WIDTH = 48
_CAUSES_PER_ROW = 4
SHARED = "Platform (shared)"
"""The group of a stack's resources that belong to none of its ECS services."""
ALL_RESOURCES = "All resources"
"""The one group of a stack without ECS services: nothing to group by."""


# -- markdown helpers ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def code(value: Any) -> str:
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
        return f"{code(before)} → {code(after)}"
    old, new = _window(render_value(before), render_value(after))
    return "`" + old.replace("`", "'") + "` → `" + new.replace("`", "'") + "`"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- sections --------------------------------------------------------------------------------------


def counts(verdicts: Sequence[Verdict]) -> str:
    """"1 added · 2 changed in place · 1 attributes only · 0 replaced · 0 removed"."""
    def count(*impacts: Impact) -> int:
        return sum(1 for v in verdicts if v.impact in impacts and not v.attributes_only)

    attributes = sum(1 for v in verdicts if v.attributes_only)
    parts = [f"{count(Impact.ADD)} added", f"{count(Impact.IN_PLACE)} changed in place"]
    if attributes:
        parts.append(f"{attributes} attributes only (resource untouched)")
    parts.append(f"{count(Impact.REPLACE)} replaced")
    if count(Impact.MAY_REPLACE):
        parts.append(f"{count(Impact.MAY_REPLACE)} may be replaced")
    parts.append(f"{count(Impact.REMOVE)} removed")
    return " · ".join(parts)


def verdict_line(stack: StackReview) -> str:
    """The stack's verdict: its counts and the stateful resources at risk."""
    if stack.diff.base is None:
        return f"**Verdict:** 🆕 new stack: {counts(stack.verdicts)}"
    if stack.diff.head is None:
        return ("**Verdict:** 🗑️ stack removed: every resource is deleted "
                f"({counts(stack.verdicts)})")
    destructive = [v for v in stack.verdicts if v.destructive]
    icon = "🔴" if any(not v.acknowledged for v in destructive) else (
        "🟠" if any(v.warnings for v in stack.verdicts) else "🟡" if destructive else "🟢")
    line = f"**Verdict:** {icon} {counts(stack.verdicts)}"
    if destructive:
        named = ", ".join(
            f"`{v.logical_id}` ({short_type(v.type)}) **{what(v)}**"
            + (" — acknowledged" if v.acknowledged else " — not acknowledged")
            for v in destructive)
        line += f" — stateful: {named}"
    else:
        line += " — no stateful resource replaced or removed"
    return line


def change_label(verdict: Verdict) -> str:
    """The Change column: in-place, REPLACE, ..., or attributes only."""
    return "attributes only" if verdict.attributes_only else verdict.impact.label


def what(verdict: Verdict) -> str:
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


def destructive_section(stack: StackReview, synthesized: bool = True) -> list[str]:
    """The destructive changes of a stack, and how to acknowledge them: `make review
    ALLOW_REPLACE=` after a synthesized review, `--allow-replace` for two given assemblies."""
    destructive = [v for v in stack.verdicts if v.destructive]
    if not destructive:
        return []
    rows = [[f"`{v.logical_id}`" + (f" (was `{v.renamed_from}`)" if v.renamed_from else ""),
             v.stateful or "", what(v), _main_cause(v), _old_resource(v),
             "✅ ALLOW_REPLACE" if v.acknowledged else "❌ no"] for v in destructive]
    lines = ["#### 🔥 Destructive changes", ""]
    lines += table(["Resource", "Holds", "Change", "Cause", "Old resource", "Acknowledged"], rows)
    if any(not v.acknowledged for v in destructive):
        names = ",".join(v.logical_id for v in destructive if not v.acknowledged)
        rerun = (f"make review ALLOW_REPLACE={names}" if synthesized else
                 f"python -m assembly_review compare BASE_DIR HEAD_DIR --allow-replace {names}")
        lines += ["", f"To accept, rerun with `{rerun}` (per resource)."]
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
    return SHARED if prefixes else ALL_RESOURCES


def resources_section(stack: StackReview) -> list[str]:
    prefixes = _service_prefixes(stack)
    groups: dict[str, list[Verdict]] = {}
    for verdict in stack.verdicts:
        groups.setdefault(_group_of(verdict, prefixes), []).append(verdict)
    lines = ["#### Resources", ""]
    order = sorted(groups, key=lambda g: (g != SHARED, g))
    for group in order:
        verdicts = sorted(groups[group], key=lambda v: (-v.impact, v.logical_id))
        lines += [f"**{group}** — {counts(verdicts)}", ""]
        rows = [[change_label(v), f"`{v.logical_id}`"
                 + (f"<br>(was `{v.renamed_from}`)" if v.renamed_from else ""),
                 short_type(v.type), v.path or "", _causes(v)] for v in verdicts]
        lines += table(["Change", "Logical ID", "Type", "Construct", "Why (property paths)"],
                        rows)
        lines.append("")
    untouched = sorted(set(prefixes.values()) - {g.split("`")[1] for g in groups if "`" in g})
    if untouched:
        lines += [f"_Services without changes: {', '.join(untouched)}._", ""]
    return lines


def security_section(stack: StackReview) -> list[str]:
    changes = stack.security
    if changes.empty:
        return ["#### Security", "", "No IAM statement, managed policy or security-group rule "
                "added or removed.", ""]
    lines = ["#### Security", "",
             f"{plural(changes.widening_count, 'addition')} widening access "
             "(every added Allow statement, managed policy or rule counts, as in `cdk diff`'s "
             "security tables).", ""]
    statements = ([("+", s) for s in changes.statements_added]
                  + [("-", s) for s in changes.statements_removed])
    if statements:
        lines += ["**IAM statements**", ""]
        lines += table(
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
        lines += table(["", "Attached to", "Managed policy"],
                        [[sign, m.subject, m.policy] for sign, m in managed])
        lines.append("")
    found = [("+", r) for r in changes.rules_added] + [("-", r) for r in changes.rules_removed]
    if found:
        lines += ["**Security group rules**", ""]
        lines += table(
            ["", "Group", "Dir", "Protocol", "Ports", "Peer", "Widening"],
            [[sign, r.group, r.direction, r.protocol, r.ports, r.peer,
              ("⚠️ " + ", ".join(r.widening)) if sign == "+" and r.widening else
              ("yes" if sign == "+" else "")] for sign, r in found])
        lines.append("")
    return lines


def rollout_section(stack: StackReview) -> list[str]:
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
        lines += table(["Service", "Task definition", "Container", "Image before",
                         "Image after", "Other task changes"], rows)
        lines.append("")
    for change in stack.fleet:
        lines.append(f"- Container instances (`{change.launch_template}`: "
                     f"{', '.join(f'`{c}`' for c in change.changes)}): {change.when}.")
    if stack.fleet:
        lines.append("")
    return lines


def cost_section(stack: StackReview) -> list[str]:
    base, head = stack.cost_base, stack.cost_head
    lines = [f"#### Cost (monthly, {cost.price_basis()})", ""]
    absent = object()
    rows: dict[tuple[str, str], list[Any]] = {}
    for index, estimate in enumerate((base, head)):
        for line in estimate.lines if estimate else ():
            rows.setdefault((line.kind, line.item), [absent, absent])[index] = line.monthly

    def amount(value: Any) -> str:
        return "—" if value is absent else cost.money(value)

    priced = []
    for (kind, item), (old, new) in sorted(rows.items()):
        if old is None or new is None:
            delta = "unpriced"
        else:
            before = 0.0 if old is absent else old
            after = 0.0 if new is absent else new
            delta = "—" if old == new else cost.signed(after - before)
        priced.append([kind, item, amount(old), amount(new), delta])
    lines += table(["Kind", "Item", "BASE", "head", "Delta"], priced)
    old_total = base.total if base else 0.0
    new_total = head.total if head else 0.0
    estimate = head or base
    assert estimate is not None
    if estimate.priced_region is None:  # another region: no total, never a $0.00
        lines[0] = f"#### Cost (monthly, unpriced: {estimate.region_note.split(':')[0]})"
        lines += ["", "**Total:** unpriced (the table has no prices for this stack's region)."]
    else:
        lines += ["", f"**Total:** BASE {cost.money(old_total)} → head {cost.money(new_total)} "
                  f"(**{cost.signed(new_total - old_total)}**/month)."]
    unpriced = sorted({f"{u.kind} {u.item}" for e in (base, head) if e for u in e.unpriced})
    notes = []
    if estimate.region_note:
        notes.append(estimate.region_note.capitalize() + ".")
    notes.append(f"Unpriced (not in the table, never counted as 0): {', '.join(unpriced)}."
                 if unpriced else "Unpriced: none.")
    notes.append("Not counted (usage-based): " + "; ".join(estimate.excluded) + ".")
    return [*lines, "", " ".join(notes), ""]


def diagram_section(stack: StackReview) -> list[str]:
    if not stack.diagram:
        return ["#### Diagram", "", f"Nothing to draw: {DRAWN}.", ""]
    return ["#### Diagram", "", "```mermaid", stack.diagram.rstrip(), "```", "", LEGEND, ""]


