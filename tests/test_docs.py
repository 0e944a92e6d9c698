"""The README's configuration table is generated from the props: it lists every key, no other."""

from __future__ import annotations

from ecs_playground.config import markdown_table

from .conftest import CDK_CONTEXT, ROOT


def test_readme_configuration_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- config-table:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- config-table:end -->")
    assert readme[start:end].strip() == markdown_table(CDK_CONTEXT), (
        "README configuration table is stale: regenerate it with "
        "`python -m ecs_playground.config_table`"
    )
