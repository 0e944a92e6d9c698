"""The README fits on a screen and the pages of docs/ it links stay true: every link resolves (to
a file and, with a #fragment, to one of its headings), every page is linked from the README,
every `make` verb named exists in the Makefile, and every `-c KEY=` names a configuration key of
docs/configuration.md's table (which tests/test_docs.py keeps equal to the code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .tutorial import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 300


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a shell comment there is not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", _prose(page.read_text()), re.M)}


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text()))


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][\w-]*):(?!=)", makefile, re.M))


def _configuration_keys() -> tuple[set[str], set[str]]:
    """The table's keys: plain ones (`db.instanceClass`) and per-service fields (`image`)."""
    keys = set(re.findall(r"^\| `([^`]+)` \|", (DOCS / "configuration.md").read_text(), re.M))
    service = {k.removeprefix("<service>.") for k in keys if k.startswith("<service>.")}
    return {k for k in keys if not k.startswith("<service>.")}, service


def test_the_readme_fits_on_a_screen() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move the detail to a page "
        "of docs/ and link it")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in _anchors(path):
            broken.append(f"{link}: no heading '#{fragment}' in {path.name}")
    assert not broken, f"{page.name}: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / link.partition("#")[0]).resolve() for link in _links(README)}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"pages of docs/ the README does not link: {unlinked}"


def test_every_make_verb_named_in_the_docs_exists() -> None:
    targets = _make_targets()
    assert {"local", "test", "synth", "review", "regenerate"} <= targets, targets
    unknown = {f"{page.name}: make {verb}" for page in PAGES
               for verb in re.findall(r"(?:`|^|\$ )make ([a-z][\w-]*)", page.read_text(), re.M)
               if verb not in targets}
    assert not unknown, f"verbs the Makefile does not have: {sorted(unknown)}"


def test_every_context_key_named_in_the_docs_is_a_configuration_key() -> None:
    plain, per_service = _configuration_keys()
    assert {"stackName", "db.instanceClass"} <= plain and "image" in per_service
    # the deploy-role app's own keys (make deploy-role), as its module reads them
    deploy_role = (ROOT / "ecs_playground_app" / "deploy_role.py").read_text()
    plain |= set(re.findall(r'context\.get\("(deployRole\.\w+)"', deploy_role))
    unknown = set()
    for page in PAGES:
        for key in re.findall(r"-c ([a-z][\w.]*)=", page.read_text()):
            head, _, field = key.partition(".")
            if key not in plain and not (field in per_service and head not in {"cluster", "db"}):
                unknown.add(f"{page.name}: -c {key}")
    assert not unknown, f"keys that are not in docs/configuration.md: {sorted(unknown)}"


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    # a broken link, a missing heading and GitHub's anchor of a heading with code in it
    page = tmp_path / "page.md"
    page.write_text("# Deploying without an AWS account: `make local`\n\n"
                    "[a](nowhere.md) [b](#no-such-heading)\n```\n# not a heading\n```\n")
    assert _anchors(page) == {"deploying-without-an-aws-account-make-local"}
    assert _links(page) == ["nowhere.md", "#no-such-heading"]
    with pytest.raises(AssertionError, match=r"no such file.*no heading"):
        test_every_relative_link_resolves(page)
