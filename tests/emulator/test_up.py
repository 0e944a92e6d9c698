"""``python -m emulator up`` end to end with small hand-written cloud assemblies (no synth): a
deployment never looks more successful locally than on AWS, and the summary says so.

They deploy into the session's running emulator, as ``make local`` deploys into a running one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulator import driver, process
from emulator.compat import notes
from tests.emulator.conftest import REPO, Session, emulated_counts, requires_cli, small_app
from tests.tutorial import tutorial_settings

pytestmark = [pytest.mark.cli, requires_cli]

def _up(session: Session, app: Path) -> subprocess.CompletedProcess[str]:
    return session.up("--app-dir", str(app), output=False, timeout=300)


def test_unknown_custom_resource_fails_the_local_deploy_naming_it(
    session: Session, tmp_path: Path
) -> None:
    app = small_app(
        tmp_path,
        "UnknownProbe",
        {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Users": {
                "Type": "Custom::NotRegistered",
                "Properties": {
                    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:users"
                },
            },
        },
    )
    result = _up(session, app)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Users (Custom::NotRegistered): the emulator has no provider" in output
    assert "error: deploy failed" in result.stderr
    assert "the emulator keeps running" in result.stdout
    assert process.running(session.state_dir) is not None, "a failed update stopped the emulator"


# long: two whole `up`s (~7.5 s of CPU); make test keeps the count of a change the emulator
# cannot apply (test_compat.py::test_update_moto_cannot_apply_is_kept_and_counted)
@pytest.mark.long
def test_update_the_emulator_cannot_apply_is_counted_in_the_summary(
    session: Session, tmp_path: Path
) -> None:
    def log(days: int) -> dict[str, Any]:
        return {"Log": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": days}}}

    created = _up(session, small_app(tmp_path, "UpdateProbe", log(7)))
    assert created.returncode == 0, created.stdout + created.stderr
    assert "UpdateProbe: CREATE_COMPLETE, new stack: 1 resources created" in created.stdout
    updated = _up(session, small_app(tmp_path, "UpdateProbe", log(14)))
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (
        "UpdateProbe: UPDATE_COMPLETE, 1 of 1 resources changed "
        "(1 of them not applied by the emulator)"
    ) in updated.stdout
    assert "      not applied Log (AWS::Logs::LogGroup)" in updated.stdout
    assert emulated_counts(updated.stdout) == {
        notes.NOT_APPLIED: 1,
        notes.SIMULATED: 0,
        notes.STAND_IN: 0,
        notes.LAMBDA_CODE: 0,
        notes.SKIPPED: 0,
    }


def test_up_deploys_the_tutorial_scenario_not_the_users_cdk_json(session: Session) -> None:
    """What the tests deploy is the fixed scenario of tests/tutorial.py: a user's edit of
    cdk.json (say location.desiredCount) changes nothing here."""
    command = session.up_command()
    assert command[command.index("--app-dir") + 1] == str(session.app_dir)
    assert session.app_dir.resolve() != REPO.resolve()
    written = json.loads((session.app_dir / "cdk.json").read_text())
    assert written == tutorial_settings(REPO)
    assert session.up_command("--app-dir", "elsewhere").count("--app-dir") == 1


@pytest.mark.parametrize(
    ("deployed", "suggested"),
    [
        ("srirajan/location:10", "srirajan/location:11"),
        ("srirajan/location:11", "srirajan/location:12"),
        ("repo:v1.09", "repo:v1.10"),
        ("repo:1.2.3-rc", "repo:1.2.4-rc"),
        ("registry:5000/repo", "registry:5000/repo:NEW_TAG"),
        ("repo:latest", "repo:NEW_TAG"),
        ("repo@sha256:abc1", "repo:NEW_TAG"),
    ],
)
def test_rollout_hint_suggests_the_image_after_the_deployed_one(
    deployed: str, suggested: str
) -> None:
    assert driver.next_image(deployed) == suggested
    hint = driver.rollout_hint(["stackName=Two", f"location.image={deployed}"])
    assert hint == f'make local CDK_ARGS="-c stackName=Two -c location.image={suggested}"'
