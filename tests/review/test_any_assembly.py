"""The review on any two cloud assemblies: `python -m assembly_review compare BASE_DIR HEAD_DIR` on
hand-written ones (any_assembly/: one stack `Orders` in eu-west-1, no CDK metadata, nothing of this
project) whose change replaces an S3 bucket (its BucketName changes), adds an SQS queue and opens a
security group's ingress to 0.0.0.0/0. Run from an empty folder: no cdk.json, no checkout around."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assembly_review.report import MARKER
from assembly_review.status import ExitStatus

from .synth_app import ROOT

pytestmark = pytest.mark.slow  # runs the tool as its own process, as a user would

ASSEMBLIES = Path(__file__).with_name("any_assembly")

FIRST_SCREEN = f"""\
{MARKER}
## 🔴 Review: 1 stateful resource would be replaced or deleted, not acknowledged

BASE `base` → head `head` · two cloud assemblies compared as given

**Summary**

- **Stacks:** 🆕 0 added · 🗑️ 0 removed · 1 changed · 0 unchanged
- **Replaced:** 1: `OrdersArchive` (S3::Bucket)
- **Restarts and downtime:** none
- **Data at risk:** `OrdersArchive` (S3::Bucket) **REPLACE** — not acknowledged
- **Monthly cost:** unpriced: no prices for eu-west-1 in the table (us-east-1 only): every item \
unpriced
- **Security:** 1 addition widening access: security group ${{WebSecurityGroup}} in tcp 443 from \
0.0.0.0/0 ⚠️ open to the internet

### Stack `Orders`
"""


def compare(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as documented, run in `folder` (which holds copies of base/ and head/)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "assembly_review", "compare", "base", "head",
                           *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for side in ("base", "head"):
        shutil.copytree(ASSEMBLIES / side, tmp_path / side)
    return tmp_path


def test_a_replaced_bucket_is_data_loss_with_the_whole_change_on_the_first_screen(
        folder: Path) -> None:
    result = compare(folder)

    assert result.returncode == ExitStatus.DATA_LOSS, result.stderr[-3000:]
    report = (folder / "cdk.review" / "report.md").read_text()
    assert result.stdout == report
    assert report.startswith(FIRST_SCREEN), report[:len(FIRST_SCREEN) + 200]
    # then the stack's section: the resources in one group (no ECS services to group them by),
    # the bucket's cause, and no empty diagram
    assert "**All resources** — 1 added · 1 changed in place · 1 replaced · 0 removed" in report
    assert ("| added | `OrdersQueue` | SQS::Queue |  | new resource |") in report
    assert ("`BucketName` `orders-archive-2025` → `orders-archive-2026` **REPLACE**: create-only "
            "property") in report
    assert ("| in-place | `WebSecurityGroup` | EC2::SecurityGroup |  | "
            "`SecurityGroupIngress[0].CidrIp` `10.0.0.0/16` → `0.0.0.0/0`") in report
    assert "#### Diagram\n\nNothing to draw: the diagram shows" in report
    assert "```mermaid" not in report
    assert (folder / "cdk.review" / "plan.json").is_file()
    assert result.stderr.endswith(
        f"review: exit 2: {ExitStatus.DATA_LOSS.meaning}\n"), result.stderr


def test_the_bucket_acknowledged_makes_it_safe_to_merge(folder: Path) -> None:
    result = compare(folder, "--allow-replace", "OrdersArchive", "--report", "r.md",
                     "--plan", "p.json")

    assert result.returncode == ExitStatus.SAFE, result.stderr[-3000:]
    lines = (folder / "r.md").read_text().splitlines()
    assert lines[:6] == [
        MARKER, "## 🟢 Review: safe to merge", "",
        "BASE `base` → head `head` · two cloud assemblies compared as given", "",
        "Acknowledged with ALLOW_REPLACE: `OrdersArchive`"], lines[:8]
    assert ("- **Data at risk:** `OrdersArchive` (S3::Bucket) **REPLACE** (acknowledged)"
            in lines)
    assert result.stderr.endswith(f"review: exit 0: {ExitStatus.SAFE.meaning}\n"), result.stderr
