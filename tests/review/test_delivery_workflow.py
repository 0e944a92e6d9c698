""".github/workflows/delivery.yml, read as data (actionlint checks its syntax and expressions):

- it runs on pushes to main; one job synthesizes (the review writes the plan and the assembly)
  and uploads them as the artifact every environment deploys: no deploy job synthesizes;
- dev, then staging, then prod (behind its GitHub Environment), one job each, with AWS
  credentials from OIDC (id-token: write, a role ARN from a variable), never stored keys;
- each deploy job runs `make deploy ENV=<its environment> PLAN=...` on the downloaded plan;
- with no environments declared, the run says so in the job summary and deploys nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .synth_app import ROOT
from .test_workflow import assert_actionlint_accepts, jobs, permissions, steps

WORKFLOW = ROOT / ".github" / "workflows" / "delivery.yml"
ENVIRONMENTS = ("dev", "staging", "prod")
SYNTHESIZING = ("review run", "cdk synth", "make synth", "make review", "app.py")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


def test_it_delivers_pushes_to_main(workflow: dict[str, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"] == {"branches": ["main"]}
    assert set(triggers) <= {"push", "workflow_dispatch"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert permissions(workflow, {}) == {"contents": "read"}


def test_one_job_synthesizes_and_uploads_the_plan_with_the_assembly(
        workflow: dict[str, Any]) -> None:
    plan = jobs(workflow)["plan"]
    synthesizers = [name for name, job in jobs(workflow).items()
                    if any(word in runs(job) for word in SYNTHESIZING)]
    assert synthesizers == ["plan"]
    assert "-m assembly_review run --base=" in runs(plan)
    upload = next(s for s in steps(plan)
                  if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "delivery"
    assert {"cdk.review/plan.json", "cdk.review/head"} <= set(upload["with"]["path"].split())
    # a Docker asset's context may hold .dockerignore: the plan hashes it, so it must travel
    assert upload["with"]["include-hidden-files"] is True
    stop = steps(plan)[-1]
    assert stop["if"] == "steps.review.outputs.status != '0'"
    assert stop["run"].rstrip().endswith("exit 1")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_deploys_the_artifact_with_oidc_credentials(
        workflow: dict[str, Any], environment: str) -> None:
    job = jobs(workflow)[environment]
    assert job["environment"] == environment
    assert permissions(workflow, job) == {"contents": "read", "id-token": "write"}
    download = next(s for s in steps(job)
                    if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    assert download["with"] == {"name": "delivery", "path": "cdk.review"}
    credentials = next(s for s in steps(job) if str(s.get("uses", "")).startswith(
        "aws-actions/configure-aws-credentials@"))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    assert "secrets." not in json.dumps(job)
    assert steps(job).index(download) < steps(job).index(credentials)
    assert runs(job).strip().splitlines()[-1] == (
        f"make deploy ENV={environment} PLAN=cdk.review/plan.json")
    checkouts = [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkouts
    for checkout in checkouts:
        assert checkout["with"]["persist-credentials"] is False


def test_dev_then_staging_then_prod_after_its_approval(workflow: dict[str, Any]) -> None:
    found = jobs(workflow)
    assert found["dev"]["needs"] == "plan"
    assert found["staging"]["needs"] == ["plan", "dev"]
    assert found["prod"]["needs"] == ["plan", "staging"]
    for name in ENVIRONMENTS:
        condition = found[name]["if"]
        assert f"contains(fromJSON(needs.plan.outputs.environments), '{name}')" in condition
        if name != "dev":  # a failed predecessor stops it; an undeclared (skipped) one does not
            assert "!failure()" in condition and "!cancelled()" in condition


def test_no_expression_is_pasted_into_a_shell(workflow: dict[str, Any]) -> None:
    shells = [(name, step["run"]) for name, job in jobs(workflow).items() for step in steps(job)
              if "run" in step]
    assert shells
    for name, run in shells:
        assert "${{" not in str(run), f"job {name}: pass it by env"


def _environments_step(workflow: dict[str, Any]) -> str:
    step = next(s for s in steps(jobs(workflow)["plan"]) if s.get("id") == "environments")
    script: str = step["run"]
    return script


@pytest.mark.parametrize(("declared", "names"), [
    ({"default": {}}, "[]"),
    ({"dev": {}, "prod": {}}, '["dev", "prod"]'),
])
def test_the_environments_come_from_the_plan_and_none_is_a_clear_skip(
        workflow: dict[str, Any], tmp_path: Path, declared: dict[str, Any], names: str) -> None:
    (tmp_path / "cdk.review").mkdir()
    (tmp_path / "cdk.review" / "plan.json").write_text(json.dumps({"environments": declared}))
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    output, summary = tmp_path / "output", tmp_path / "summary"
    subprocess.run(["bash", "-e", "-c", _environments_step(workflow)], cwd=tmp_path, check=True,
                   env={**os.environ, "GITHUB_OUTPUT": str(output),
                        "GITHUB_STEP_SUMMARY": str(summary)})
    assert output.read_text() == f"names={names}\n"
    skipped = "Nothing to deliver: cdk.json declares no environments" in (
        summary.read_text() if summary.exists() else "")
    assert skipped is (names == "[]")


def test_actionlint_accepts_the_workflow() -> None:
    assert_actionlint_accepts(WORKFLOW)
