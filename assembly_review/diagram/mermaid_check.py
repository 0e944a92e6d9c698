"""Mermaid's own parser on generated diagrams: mermaid_check.mjs, beside this file, under Node
with the mermaid and jsdom packages pinned in package.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

MERMAID_CHECK = Path(__file__).with_name("mermaid_check.mjs")


class MermaidUnavailable(RuntimeError):
    """Node or the pinned mermaid/jsdom packages are missing (run `make install`)."""


def parse_errors(files: Iterable[Path]) -> dict[str, str]:
    """Mermaid's own parser (the pinned npm package, under Node) on every ```mermaid block of the
    files (or the whole file when it has none): '<file>#<n>' -> error, for each that fails."""
    node = shutil.which("node", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                       f"{os.environ.get('PATH', '')}")
    if node is None:
        raise MermaidUnavailable("node is not on PATH: run `make install` (Node comes from .venv)")
    result = subprocess.run([node, str(MERMAID_CHECK), *map(str, files)], capture_output=True,
                            text=True, timeout=120, check=False)
    if "ERR_MODULE_NOT_FOUND" in result.stderr or "Cannot find package" in result.stderr:
        raise MermaidUnavailable(f"mermaid/jsdom are not installed: run `make install` "
                                 f"({result.stderr.strip().splitlines()[-1]})")
    errors = {}
    seen = 0
    for line in result.stdout.splitlines():
        outcome = json.loads(line)
        seen += 1
        if not outcome["ok"]:
            errors[f"{outcome['file']}#{outcome['index']}"] = outcome["error"]
    if seen == 0:
        raise MermaidUnavailable(f"the Mermaid check printed nothing: {result.stderr[-2000:]}")
    return errors
