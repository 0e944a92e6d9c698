"""The default app: ``app.py`` as the user's own ``cdk.json`` configures it.

It is the one scenario that follows ``cdk.json``, and three files follow it: the default app's
snapshots (how a reviewer sees a template change in a pull request), docs/configuration.md's
table and ``docs/architecture.md``. ``make regenerate`` rewrites all three; every check that finds
one stale names it. Tests of the tutorial's platform build it from ``tests/tutorial.py`` instead,
so a routine change of ``cdk.json`` never breaks them; ``tests/app/test_scenarios.py`` keeps every
other test module away from ``cdk.json``.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from .tutorial import ROOT

CDK_JSON = ROOT / "cdk.json"
"""The user's ``cdk.json``: read here and nowhere else in the tests."""
REGENERATE = "make regenerate"
"""The verb that rewrites everything that follows ``cdk.json``."""
FOLLOWS_CDK_JSON = "follows_cdk_json"
"""Marker of the checks that follow ``cdk.json``: a failure of one also prints REGENERATE."""
CLI_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}
"""Context the CDK CLI adds to every synth (construct paths in the metadata, which the diagram
labels its nodes with; the CDKMetadata resource)."""


def stale(what: str) -> str:
    """The message of a check that found the generated file ``what`` out of step."""
    return f"{what} is stale: run `{REGENERATE}`, then review the diff like code and commit it"


def written_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The context of the user's ``cdk.json`` as written (what docs/configuration.md shows)."""
    context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8"))["context"]
    return context


def user_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The context of the user's ``cdk.json``, its ``imagesDirectory`` made absolute (relative
    to the app's directory, as ``app.py`` reads it), so that it works from any directory."""
    context = written_context(cdk_json)
    images = context.get("imagesDirectory")
    if isinstance(images, str):
        context["imagesDirectory"] = str(cdk_json.parent / images)
    return context


def run_app(outdir: Path, context: Mapping[str, Any], *, cli: bool = False) -> Path:
    """Run ``app.py`` unchanged in this process, with ``context`` as its ``cdk.json`` context,
    into ``outdir`` (a cloud assembly: the gates and the quota check run as in ``cdk synth``).
    ``cli`` adds the context the CDK CLI adds. A configuration that ``app.py`` rejects fails
    with its message. Returns ``outdir``."""
    real_app = cdk.App
    apps: list[cdk.App] = []
    full = {**context, **(CLI_CONTEXT if cli else {})}

    class App(real_app):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, "context": full, "outdir": str(outdir)})
            apps.append(self)

    cdk.App = App  # type: ignore[misc]
    try:
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    except SystemExit as exit_:  # app.py printed the problems of the configuration
        raise AssertionError(f"app.py rejected the configuration (status {exit_.code}); "
                             "its message is in the captured stderr") from None
    finally:
        cdk.App = real_app
    assert len(apps) == 1, f"app.py created {len(apps)} apps"
    return outdir


def templates(outdir: Path) -> dict[str, dict[str, Any]]:
    """Every stack's template of an assembly, by stack name."""
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    stacks = {name: json.loads((outdir / artifact["properties"]["templateFile"]).read_text(
                  encoding="utf-8"))
              for name, artifact in manifest["artifacts"].items()
              if artifact["type"] == "aws:cloudformation:stack"}
    assert stacks, f"no stack in {outdir}"
    return stacks
