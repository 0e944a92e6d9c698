"""Synthesize the app in this process exactly as `cdk synth -o DIR -c KEY=VALUE` does.

`app.py` (the composition root) runs unchanged: its `cdk.App()` receives cdk.json's context, the
overrides (strings, as `-c` passes them) and the context keys the CLI adds (construct paths in the
template metadata, the CDKMetadata resource). A first synth costs ~7 s (jsii, cdk-nag); each next
one ~1 s, against ~30 s for the CLI.
"""

from __future__ import annotations

import json
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


def synth_app(outdir: Path, overrides: Mapping[str, str]) -> Path:
    """Run app.py with `-c` overrides into outdir (a cloud assembly); returns outdir."""
    import aws_cdk as cdk  # here, not above: fake_cdk.py imports CLI_CONTEXT before jsii starts

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context = {**context, **CLI_CONTEXT, **overrides}
    context["imagesDirectory"] = str(ROOT / context["imagesDirectory"])
    real_app = cdk.App

    class App(real_app):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{**kwargs, "context": context, "outdir": str(outdir)})

    cdk.App = App
    try:
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    finally:
        cdk.App = real_app
    return outdir
