""".github/workflows/ci.yml, read as data: the safety properties of the review and test jobs that
can be checked offline (actionlint checks the syntax and the expressions; so does `make lint`).

- A job that runs the pull request's code (it checks it out) holds no write permission and never
  persists the token in .git/config.
- The job that comments never checks out or runs anything of the pull request: it only downloads
  the report and hands it to a fixed script.
- No `${{ }}` expression is pasted into a shell or a script (github.base_ref can hold `$(...)`).
- The review's status is the tool's own (not make's 2), and every non-safe status fails the check.
- The test job has the MySQL server `make test` needs, where the tests look for it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from assembly_review.report import MARKER
from assembly_review.status import ExitStatus

from .synth_app import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
HARNESS = ROOT / "tests" / "services" / "service_harness.py"
COMMENT_ACTIONS = ("actions/download-artifact@", "actions/github-script@")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = workflow["jobs"]
    assert found
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job["steps"]
    assert found
    return found


def checkouts(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")]


def permissions(workflow: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    granted = job.get("permissions", workflow.get("permissions"))
    assert isinstance(granted, dict), "set permissions explicitly (a default token may write)"
    return {str(k): str(v) for k, v in granted.items()}


def test_jobs_that_run_pull_request_code_hold_no_write_token(workflow: dict[str, Any]) -> None:
    running = {name: job for name, job in jobs(workflow).items() if checkouts(job)}
    assert {"test", "review"} <= set(running)
    for name, job in running.items():
        writes = {k: v for k, v in permissions(workflow, job).items() if v != "read"}
        assert not writes, f"job {name} runs the pull request's code with {writes}"
        for checkout in checkouts(job):
            assert checkout.get("with", {}).get("persist-credentials") is False, (
                f"job {name}: actions/checkout without persist-credentials: false leaves the "
                "token in .git/config for the pull request's code to read")


def test_comment_job_never_checks_out_or_runs_the_pull_request(workflow: dict[str, Any]) -> None:
    job = jobs(workflow)["review-comment"]
    assert job["needs"] == "review"
    assert "!cancelled()" in job["if"]  # it reports a red review too
    assert permissions(workflow, job) == {"pull-requests": "write"}
    for step in steps(job):
        assert "run" not in step, f"the comment job runs a command: {step}"
        assert str(step.get("uses", "")).startswith(COMMENT_ACTIONS), step
    download = next(s for s in steps(job) if s["uses"].startswith("actions/download-artifact@"))
    assert download["with"]["name"] == "review-report"
    script = next(s for s in steps(job) if s["uses"].startswith("actions/github-script@"))
    code = script["with"]["script"]
    assert "child_process" not in code and "eval(" not in code
    assert f"const marker = '{MARKER}';" in code


def test_fork_pull_requests_get_the_report_in_the_job_summary(workflow: dict[str, Any]) -> None:
    code = next(s for s in steps(jobs(workflow)["review-comment"])
                if s["uses"].startswith("actions/github-script@"))["with"]["script"]
    summary = code.index("core.summary.addRaw(body).write()")
    fork_check = code.index("head.full_name !== `${owner}/${repo}`")
    comment = code.index("github.rest.issues.createComment")
    assert summary < fork_check < comment  # the summary is written before a fork returns


def test_no_expression_is_pasted_into_a_shell_or_a_script(workflow: dict[str, Any]) -> None:
    texts = [(name, step, text) for name, job in jobs(workflow).items() for step in steps(job)
             for text in (step.get("run", ""), step.get("with", {}).get("script", "")) if text]
    assert texts
    for name, step, text in texts:
        assert "${{" not in text, f"job {name}, step {step.get('name')}: pass it by env"


def test_review_passes_the_base_branch_by_environment_and_keeps_the_tools_status(
    workflow: dict[str, Any],
) -> None:
    review = steps(jobs(workflow)["review"])
    step = next(s for s in review if s.get("id") == "review")
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert ('.venv/bin/python -m assembly_review run --base="origin/${BASE_REF}"'
            in step["run"])
    assert "make review" not in step["run"]  # make exits 2 for every failure
    upload = next(s for s in review if s.get("with", {}).get("name") == "review-report")
    assert upload["if"] == "always()" and upload["with"]["path"] == "cdk.review/report.md"
    fail = review[-1]
    assert fail["if"] == "steps.review.outputs.status != '0'"
    assert fail["run"].rstrip().endswith("exit 1")
    statuses = [s for s in ExitStatus if s is not ExitStatus.SAFE]
    assert statuses
    for status in statuses:
        assert re.search(rf"^\s*{status.value}\) echo", fail["run"], re.M), status


def test_test_job_has_the_mysql_server_the_tests_read(workflow: dict[str, Any]) -> None:
    job = jobs(workflow)["test"]
    services = job["services"]
    assert services
    server = next(iter(services.values()))
    assert re.match(r"(mariadb|mysql):", server["image"])
    assert "3306:3306" in server["ports"]
    assert "--health-cmd" in server["options"]  # steps start once it accepts connections
    read = set(re.findall(r"MYSQL_TEST_[A-Z]+", HARNESS.read_text()))
    assert read
    assert read <= set(job["env"]), f"the tests read {sorted(read)}"
    assert job["env"]["MYSQL_TEST_PORT"] == "3306"
    assert str(job["env"]["MYSQL_TEST_HOST"]) == "127.0.0.1"
    assert any(s.get("run") == "bash .ci/run" for s in steps(job))


def assert_actionlint_accepts(workflow: Path) -> None:
    """actionlint (requirements-dev.txt) finds nothing in the workflow file."""
    actionlint = shutil.which("actionlint") or str(ROOT / ".venv" / "bin" / "actionlint")
    assert Path(actionlint).exists(), "run `make install` (actionlint is in requirements-dev.txt)"
    result = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_accepts_the_workflow() -> None:
    assert_actionlint_accepts(WORKFLOW)
