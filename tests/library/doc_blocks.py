"""Run ```python blocks of Markdown pages as written: each in a fresh namespace, all in one process
(one jsii start, not one per block), in an empty directory and a clean environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ..conftest import ROOT

_RUN = """
import sys, traceback
blocks = {blocks!r}
failed = []
for i, (page, code) in enumerate(blocks):
    try:
        exec(compile(code, f"{{page}} python block {{i}}", "exec"), {{"__name__": "__main__"}})
    except BaseException:
        failed.append(f"{{page}} #{{i}}")
        traceback.print_exc()
print(f"ran {{len(blocks)}} blocks")
sys.exit(f"documented Python blocks that failed: {{failed}}" if failed else 0)
"""


def python_blocks(*pages: Path) -> list[tuple[str, str]]:
    """The ```python blocks of the pages, in order, each with its page (relative to the
    repository)."""
    return [(page.relative_to(ROOT).as_posix(), code) for page in pages
            for code in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"),
                                   re.S)]


def run_blocks(blocks: list[tuple[str, str]], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the blocks; the result's stdout ends with 'ran N blocks'."""
    return subprocess.run(
        [sys.executable, "-c", _RUN.format(blocks=blocks)], cwd=workdir,
        capture_output=True, text=True, timeout=600, check=False,
        # a clean environment, but the user's HOME: jsii's package cache lives there (a fresh
        # HOME makes jsii unpack aws-cdk-lib again, ~10 s of CPU that no user pays twice)
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "HOME": os.environ.get("HOME", str(workdir)), "PYTHONPATH": str(ROOT)},
    )
