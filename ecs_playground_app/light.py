"""Run an app-layer module as `python -m` does, without the package's ``__init__``:

    python ecs_playground_app/light.py assembly_review run --base=main

``ecs_playground/__init__.py`` re-exports every construct, so `python -m ecs_playground.X` first
imports aws_cdk and starts its Node runtime (jsii): ~1.5 s of CPU and, on a busy machine, many
seconds of wall time, for tools (`make synth`'s gates and summary, `make review`) that read
templates with the standard library. Here ``ecs_playground`` is a bare package of this checkout
instead; a module that does need the CDK still imports it itself. (Run as a file: as a module it
would need the package it replaces.)
"""

from __future__ import annotations

import runpy
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bare_package() -> None:
    """Make ``ecs_playground`` a package without its ``__init__`` (unless already imported)."""
    package = types.ModuleType("ecs_playground")
    package.__path__ = [str(ROOT / "ecs_playground")]
    sys.modules.setdefault("ecs_playground", package)


def main(argv: list[str]) -> None:
    """Run the module named first with the arguments after it, as its ``__main__``."""
    if len(argv) < 2:
        raise SystemExit("usage: python ecs_playground_app/light.py MODULE [ARGS...]")
    # this file's folder (the Python path's first entry for a script) holds modules named like
    # common ones (config, layout): the checkout's root replaces it
    sys.path[0] = str(ROOT)
    bare_package()
    sys.argv = [argv[1], *argv[2:]]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
