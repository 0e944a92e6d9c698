"""Synthesize the app in this process exactly as `cdk synth -o DIR -c KEY=VALUE` does.

`app.py` (the composition root) runs unchanged: its `cdk.App()` receives the scenario's context
(the tutorial's fixed scenario of tests/tutorial_cdk.json unless told otherwise), the overrides
(strings, as `-c` passes them) and the context keys the CLI adds (construct paths in the template
metadata, the CDKMetadata resource). A first synth costs ~7 s (jsii, cdk-nag); each next one ~1 s,
against ~30 s for the CLI.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}


def synth_app(outdir: Path, overrides: Mapping[str, str],
              context: Mapping[str, Any] | None = None) -> Path:
    """Run app.py with `-c` overrides on top of a context (default: the tutorial's fixed
    scenario) into outdir (a cloud assembly); returns outdir."""
    import aws_cdk as cdk  # here, not above: fake_cdk.py imports CLI_CONTEXT before jsii starts

    from tests.tutorial import TUTORIAL_CONTEXT

    scenario = dict(TUTORIAL_CONTEXT if context is None else context)
    merged = {**scenario, **CLI_CONTEXT, **overrides}
    real_app = cdk.App

    class App(real_app):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, "context": merged, "outdir": str(outdir)})

    cdk.App = App
    try:
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    finally:
        cdk.App = real_app
    return outdir
