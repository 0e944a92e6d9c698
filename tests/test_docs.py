"""The README's configuration table is generated from the props: it lists every key, no other."""

from __future__ import annotations

from ecs_playground.platform.config_docs import markdown_table

from .conftest import CDK_CONTEXT, ROOT


def test_readme_configuration_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- config-table:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- config-table:end -->")
    assert readme[start:end].strip() == markdown_table(CDK_CONTEXT), (
        "README configuration table is stale: regenerate it with "
        "`python -m ecs_playground.platform.config_docs`"
    )


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
