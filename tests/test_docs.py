"""The generated docs follow the user's cdk.json and the code: docs/configuration.md's table
(every key, no other, with cdk.json's values) and docs/architecture.md (the default app as a
diagram). `make regenerate` rewrites both; a stale one names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assembly_review.diagram import architecture_markdown
from ecs_playground_app.config_docs import END, markdown_table, table_in, with_table

from .default_app import stale, written_context
from .tutorial import ROOT, TUTORIAL_CONTEXT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
SECURITY = ROOT / "docs" / "security.md"


@pytest.mark.follows_cdk_json
def test_configuration_table_is_current() -> None:
    page = CONFIGURATION.read_text()
    assert table_in(page) == markdown_table(written_context()), stale(
        "docs/configuration.md's table (it shows cdk.json's values)")


@pytest.mark.follows_cdk_json
def test_docs_architecture_is_current(default_app_cli: Path) -> None:
    assert ARCHITECTURE.read_text() == architecture_markdown(default_app_cli), stale(
        "docs/architecture.md (the default app, as cdk.json configures it)")


def test_the_table_shows_a_changed_value_and_a_new_service() -> None:
    # given the tutorial's configuration table, when cdk.json changes a value and adds a service
    table = markdown_table(TUTORIAL_CONTEXT)
    changed = markdown_table({**TUTORIAL_CONTEXT, "db.instanceClass": "db.t3.small",
                              "services": ["location", "user", "billing"],
                              "billing.desiredCount": 3})
    # then the regenerated table shows both, and writing it replaces only the table
    assert '| `db.instanceClass` | `"db.t3.small"` |' in changed
    assert "location: `4`, user: `4`, billing: `3`" in changed
    document = f"intro\n<!-- config-table:start (generated) -->\n{table}\n{END}\noutro\n"
    assert with_table(document, changed) == document.replace(table, changed)
    assert table_in(with_table(document, changed)) == changed


def acknowledged_in_table(page: str) -> set[str]:
    """The finding IDs the first column of the acknowledgments table names: `CKV_AWS_115/116/117`
    is three findings, `AwsSolutions-IAM5[Resource::*]` is AwsSolutions-IAM5; text outside the
    table (a bare number in a sentence) names nothing."""
    found: set[str] = set()
    for row in page.splitlines():
        if not row.startswith("| ") or row.startswith("| finding") or row.startswith("|---"):
            continue
        first = row.split(" | ")[0]
        found |= set(re.findall(r"AwsSolutions-[A-Z]+\d+", first))
        found |= set(re.findall(r"\bW\d{4}\b", first))
        for head, tail in re.findall(r"CKV_AWS_(\d+)((?:/\d+)*)", first):
            found |= {f"CKV_AWS_{n}" for n in [head, *tail.split("/")[1:]]}
    return found


def test_security_page_lists_every_acknowledged_finding() -> None:
    page = SECURITY.read_text().replace("\\*", "*")
    source = "\n".join(p.read_text() for p in (ROOT / "ecs_playground").rglob("*.py"))
    named = set(re.findall(r'"(AwsSolutions-[A-Z]+\d+)', source))
    named |= set(re.findall(r'"(CKV_AWS_\d+)"', source))
    named |= set(re.findall(r'"(W\d{4})"', source))
    assert len(named) >= 20, f"the acknowledgments in the source were not found: {named}"
    missing = sorted(named - acknowledged_in_table(page))
    assert not missing, f"acknowledged in code but not in docs/security.md's table: {missing}"


def test_a_bare_number_in_a_sentence_does_not_count_as_an_acknowledgment() -> None:
    page = ("CKV_AWS_16 is mentioned in a sentence, W3005 too.\n\n| finding | on | reason |\n"
            "|---|---|---|\n| checkov CKV_AWS_115/116; cfn-lint W3011 | f | r |\n")
    assert acknowledged_in_table(page) == {"CKV_AWS_115", "CKV_AWS_116", "W3011"}
