"""The generated docs follow the user's cdk.json and the code: the README's configuration table
(every key, no other, with cdk.json's values) and docs/architecture.md (the default app as a
diagram). `make regenerate` rewrites both; a stale one names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs_playground.platform.config_docs import END, markdown_table, table_in, with_table
from ecs_playground.platform.review.diagram import architecture_markdown

from .default_app import stale, written_context
from .tutorial import ROOT, TUTORIAL_CONTEXT

ARCHITECTURE = ROOT / "docs" / "architecture.md"


@pytest.mark.follows_cdk_json
def test_readme_configuration_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert table_in(readme) == markdown_table(written_context()), stale(
        "The README's configuration table (it shows cdk.json's values)")


@pytest.mark.follows_cdk_json
def test_docs_architecture_is_current(default_app_cli: Path) -> None:
    assert ARCHITECTURE.read_text() == architecture_markdown(default_app_cli), stale(
        "docs/architecture.md (the default app, as cdk.json configures it)")


def test_the_table_shows_a_changed_value_and_a_new_service() -> None:
    # given the README's table for the tutorial, when cdk.json changes a value and adds a service
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


def test_readme_lists_every_acknowledged_finding() -> None:
    import re

    readme = (ROOT / "README.md").read_text().replace("\\*", "*")
    source = "\n".join(p.read_text() for p in (ROOT / "ecs_playground").rglob("*.py"))
    named = set(re.findall(r'"(AwsSolutions-[A-Z]+\d+)', source))
    named |= set(re.findall(r'"(CKV_AWS_\d+)"', source))
    named |= set(re.findall(r'"(W\d{4})"', source))
    assert named, "no acknowledgments found in the source"
    missing = sorted(n for n in named if n.split("_")[-1] not in readme and n not in readme)
    assert not missing, f"acknowledged in code but not explained in the README: {missing}"
