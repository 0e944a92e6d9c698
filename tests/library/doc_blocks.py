"""Run ```python blocks of Markdown pages as written: each in a fresh namespace, all in one process
(one jsii start, not one per block or page), in an empty directory and a clean environment.

Every page's blocks run in one process per test session (`DocumentedBlocks`, the
`documented_blocks` fixture): a second process would start Python, jsii and aws-cdk-lib again,
~3 s of CPU for nothing the blocks check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..conftest import ROOT

_RUN = """
import sys, traceback
blocks = {blocks!r}
failed = []
for i, (page, code) in enumerate(blocks):
    print(f"--- block {{page}} #{{i}}", flush=True)
    try:
        exec(compile(code, f"{{page}} python block {{i}}", "exec"), {{"__name__": "__main__"}})
    except BaseException:
        failed.append(f"{{page}} #{{i}}")
        print(f"--- FAILED {{page}} #{{i}}", flush=True)
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


def documented_pages() -> list[Path]:
    """The pages whose Python blocks a user copies: the README and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def run_blocks(blocks: list[tuple[str, str]], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the blocks; the result's stdout ends with 'ran N blocks'."""
    return subprocess.run(
        [sys.executable, "-c", _RUN.format(blocks=blocks)], cwd=workdir,
        capture_output=True, text=True, timeout=600, check=False,
        # a clean environment, but the user's HOME: jsii's package cache lives there (a fresh
        # HOME makes jsii unpack aws-cdk-lib again, ~10 s of CPU that no user pays twice).
        # CDK_VALIDATION=false: aws-cdk-lib's built-in CloudFormation schema check (a WASM
        # module, ~3.3 s of CPU a process, measured) is not what these tests check; cfn-lint
        # checks the constructs' templates in every scenario (tests/app/gates/).
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
             "HOME": os.environ.get("HOME", str(workdir)), "PYTHONPATH": str(ROOT),
             "CDK_VALIDATION": "false"},
    )


@dataclass(frozen=True)
class DocumentedBlocks:
    """Every documented page's Python blocks, run once in one process."""

    blocks: list[tuple[str, str]]
    result: subprocess.CompletedProcess[str]

    def pages(self) -> set[str]:
        return {page for page, _ in self.blocks}

    def failed(self, page: str) -> list[str]:
        """The page's blocks that raised."""
        marks = re.findall(r"^--- FAILED (.+) #(\d+)$", self.result.stdout, re.M)
        return [f"{p} #{i}" for p, i in marks if p == page]

    def ran(self, page: str) -> int:
        """How many blocks of the page were started."""
        return len(re.findall(rf"^--- block {re.escape(page)} #\d+$", self.result.stdout, re.M))

    def output(self, page: str) -> str:
        """What the page's blocks printed (stdout between their block markers)."""
        parts = re.split(r"^(--- block .+ #\d+)$", self.result.stdout, flags=re.M)
        return "".join(text for mark, text in zip(parts[1::2], parts[2::2], strict=True)
                       if mark.startswith(f"--- block {page} #"))

    def assert_page_ran(self, page: str) -> None:
        """Every block of the page ran without raising (the run's stderr on failure)."""
        expected = sum(1 for p, _ in self.blocks if p == page)
        assert expected, f"{page} has no ```python block"
        assert self.ran(page) == expected, (self.ran(page), expected, self.result.stderr[-4000:])
        assert not self.failed(page), (self.failed(page), self.result.stderr[-4000:])


def run_documented_blocks(workdir: Path) -> DocumentedBlocks:
    """Run every documented page's blocks, in one process."""
    blocks = python_blocks(*documented_pages())
    return DocumentedBlocks(blocks, run_blocks(blocks, workdir))
