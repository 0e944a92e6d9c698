"""The real, pinned CDK CLI synthesizes the tutorial's app, and `-c KEY=VALUE` overrides reach it
typed. The CLI runs in a folder of its own with the tutorial's cdk.json, never the user's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ecs_playground_app.summary import summarize
from tests.tutorial import ROOT, write_cdk_json

CDK = ROOT / "node_modules" / ".bin" / "cdk"


def run_cdk(*args: str, project: Path) -> subprocess.CompletedProcess[str]:
    """`cdk synth ARGS` of this repository's app.py in `project`, an empty folder that gets the
    tutorial's cdk.json; the assembly goes to `project`/cdk.out."""
    env = {k: v for k, v in os.environ.items() if k != "CDK_VALIDATION"}  # full CLI behaviour
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    write_cdk_json(project)
    return subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "-o", "cdk.out", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.cli
def test_cdk_synth_with_overrides_from_the_command_line(tmp_path: Path) -> None:
    assert CDK.exists(), "run `make install`: the pinned CDK CLI is missing"
    version = subprocess.run([str(CDK), "--version"], capture_output=True, text=True, check=True)
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert version.stdout.startswith(pinned)

    result = run_cdk("-c", "location.image=srirajan/location:11", "-c", "user.desiredCount=3",
                     project=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    assembly = tmp_path / "cdk.out"
    template = json.loads((assembly / "EcsPlayground.template.json").read_text())
    resources = template["Resources"]
    images = {r["Properties"]["Family"]: r["Properties"]["ContainerDefinitions"][0]["Image"]
              for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"}
    assert images["location"] == "srirajan/location:11"
    assert "container-assets" in images["user"]["Fn::Sub"]  # built from docker/user
    desired = {r["Properties"]["ServiceName"]: r["Properties"]["DesiredCount"]
               for r in resources.values() if r["Type"] == "AWS::ECS::Service"}
    assert desired == {"location": 4, "user": 3}  # "3" from the command line became 3

    report = json.loads((assembly / "validation-report.json").read_text())
    assert [r for r in report.get("pluginReports", []) if r.get("violations")] == []

    summary = summarize(assembly)
    assert "service location" in summary and "image srirajan/location:11" in summary
    assert "capacity app01: 4 instances" in summary and "headroom" in summary
    # the same monthly estimate `make review` reports (4 x t2.medium alone is over $100)
    (cost,) = [line for line in summary.splitlines() if line.startswith("  cost EcsPlayground:")]
    assert float(cost.split("~$", 1)[1].split("/", 1)[0].replace(",", "")) > 100, cost


@pytest.mark.cli
def test_cdk_synth_rejects_a_typo_in_a_key(tmp_path: Path) -> None:
    result = run_cdk("-c", "locaton.image=srirajan/location:11", project=tmp_path)
    assert result.returncode != 0
    assert "unknown key 'locaton.image': 'locaton' is not a service" in result.stderr
    assert "did you mean 'location.image'?" in result.stderr
    assert "Traceback" not in result.stderr, "a user's mistake must not print a stack trace"
