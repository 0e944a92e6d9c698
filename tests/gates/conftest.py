"""Synthesize every scenario once with the gates registered, then run the scanners once.

cfn-lint and checkov run as background processes over all templates at once, started as soon
as the templates exist, so their start-up overlaps the other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from ..conftest import ROOT, Gated, synth_gated
from .bad_tutorial import LAUNCH_TEMPLATE_FLAG, bad_tutorial_stack

CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@dataclass
class Scans:
    """The scanners' raw results, per template file name."""

    gated: dict[str, Gated]
    templates: dict[str, list[Path]]
    """Copies of each scenario's templates, which the scanners read."""
    cfn_lint: subprocess.Popen[str]
    checkov: subprocess.Popen[str]
    _cfn_lint_out: list[dict[str, Any]] | None = None
    _checkov_out: list[dict[str, Any]] | None = field(default=None)

    def cfn_lint_findings(self, template: Path) -> list[str]:
        if self._cfn_lint_out is None:
            out, err = self.cfn_lint.communicate(timeout=300)
            assert self.cfn_lint.returncode in (0, 2, 4, 6, 8, 10, 12, 14), err
            self._cfn_lint_out = json.loads(out or "[]")
        return [f"{m['Rule']['Id']} {m['Message']}" for m in self._cfn_lint_out
                if Path(m["Filename"]).resolve() == template.resolve()]

    def checkov_failed(self, template: Path) -> list[str]:
        if self._checkov_out is None:
            out, err = self.checkov.communicate(timeout=300)
            assert out.strip(), f"checkov printed nothing: {err[-2000:]}"
            data = json.loads(out)
            self._checkov_out = data if isinstance(data, list) else [data]
        return [
            f"{c['check_id']} {c['resource']}"
            for report in self._checkov_out
            for c in report.get("results", {}).get("failed_checks", [])
            if Path(c["file_abs_path"]).name == template.name
            and Path(c["file_abs_path"]).parent.name == template.parent.name
        ]


@pytest.fixture(scope="session")
def scans(
    gated: dict[str, Gated], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scans]:
    """All scenarios plus the bad fixture, gated; scanners started in the background on copies
    of their templates (one folder per scenario)."""
    bad = bad_tutorial_stack(cdk.App(context={LAUNCH_TEMPLATE_FLAG: False}))
    every = {**gated, "bad_tutorial": synth_gated("bad_tutorial", bad)}
    root = tmp_path_factory.mktemp("scan")
    copies: dict[str, list[Path]] = {}
    for name, g in every.items():
        (root / name).mkdir()
        copies[name] = [Path(shutil.copy(t, root / name / t.name)) for t in g.templates]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    templates = [str(t) for paths in copies.values() for t in paths]
    cfn_lint = subprocess.Popen(
        [str(CFN_LINT), "--format", "json", *templates],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    checkov = subprocess.Popen(
        [str(CHECKOV), "--quiet", "--compact", "--skip-download", "--framework",
         "cloudformation", "-o", "json", "-d", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    yield Scans(every, copies, cfn_lint, checkov)
    for process in (cfn_lint, checkov):
        if process.poll() is None:
            process.kill()
            process.communicate()
