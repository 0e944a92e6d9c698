"""Synthesize every scenario once with the gates registered, then run the scanners once.

cfn-lint and checkov run as two background processes over all templates at once, started by the
first test that needs either (they are separate processes: `make test-fast` leaves them out), so
each one's start-up overlaps the other and the tests after it.
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

from assembly_review.cdk_validation import CdkValidation, stack_templates
from tests.conftest import ROOT, Gated, synth_gated

from .bad_tutorial import LAUNCH_TEMPLATE_FLAG, bad_tutorial_stack

CHECKOV = ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


@dataclass
class Scans:
    """The scanners' raw results, per template file name."""

    gated: dict[str, Gated]
    templates: dict[str, list[Path]]
    """Copies of each scenario's templates, which the scanners read."""
    root: Path
    _processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    _cfn_lint_out: list[dict[str, Any]] | None = None
    _checkov_out: list[dict[str, Any]] | None = field(default=None)
    _cfn_validate: CdkValidation | None = None

    def _started(self, name: str) -> subprocess.Popen[str]:
        """Both scanners, started together on the first call."""
        if not self._processes:
            env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
            templates = [str(t) for paths in self.templates.values() for t in paths]
            self._processes["cfn-lint"] = subprocess.Popen(
                [str(CFN_LINT), "--format", "json", *templates],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            self._processes["checkov"] = subprocess.Popen(
                [str(CHECKOV), "--quiet", "--compact", "--skip-download", "--framework",
                 "cloudformation", "-o", "json", "-d", str(self.root)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )
        return self._processes[name]

    def cfn_lint_findings(self, template: Path) -> list[str]:
        if self._cfn_lint_out is None:
            cfn_lint = self._started("cfn-lint")
            out, err = cfn_lint.communicate(timeout=300)
            assert cfn_lint.returncode in (0, 2, 4, 6, 8, 10, 12, 14), err
            self._cfn_lint_out = json.loads(out or "[]")
        return [f"{m['Rule']['Id']} {m['Message']}" for m in self._cfn_lint_out
                if Path(m["Filename"]).resolve() == template.resolve()]

    def checkov_failed(self, template: Path) -> list[str]:
        if self._checkov_out is None:
            out, err = self._started("checkov").communicate(timeout=300)
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

    def cfn_validate_findings(self, scenario: str) -> list[str]:
        """CloudFormation Validate (CDK's own validation, which the scenarios are synthesized
        without), as `make synth`'s gate runs it: 'rule construct-path' per finding."""
        if self._cfn_validate is None:
            validation = CdkValidation.installed(self.root / "cfn-validate-config")
            assert isinstance(validation, CdkValidation), validation
            self._cfn_validate = validation
        return [f"{finding.rule} {finding.construct_path}"
                for template, context in stack_templates(self.gated[scenario].outdir)
                for finding in self._cfn_validate.findings(template, context)]

    def stop(self) -> None:
        """Kill a scanner no test waited for."""
        for process in self._processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="session")
def scans(
    gated: dict[str, Gated], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scans]:
    """All scenarios plus the bad fixture, gated; copies of their templates (one folder per
    scenario) for the scanners, which start when a test first asks for their findings."""
    bad = bad_tutorial_stack(cdk.App(context={LAUNCH_TEMPLATE_FLAG: False}))
    every = {**gated, "bad_tutorial": synth_gated("bad_tutorial", bad)}
    root = tmp_path_factory.mktemp("scan")
    copies: dict[str, list[Path]] = {}
    for name, g in every.items():
        (root / name).mkdir()
        copies[name] = [Path(shutil.copy(t, root / name / t.name)) for t in g.templates]
    scans = Scans(every, copies, root)
    yield scans
    scans.stop()
