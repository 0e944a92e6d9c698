"""What was reviewed is what deploys (issue 22), end to end on the emulator with the real CDK CLI:
``review compare`` writes the plan, ``python -m ecs_playground_app.deliver`` (what
``make deploy PLAN=...`` runs) enforces it.

A small app (two SSM parameters and a file asset), synthesized in-process, is deployed once as
BASE. Each refusal starts from BASE deployed (the ``at_base`` fixture puts it back if a test
left it elsewhere) and checks that nothing was executed: the stack's template is unchanged and
no change set is left. The reviewed change deploys last.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm

from assembly_review.plan import canonical_sha256
from emulator import cdk as emulator_cdk
from tests.emulator.conftest import REPO, Session, requires_cli

pytestmark = [pytest.mark.cli, pytest.mark.long, requires_cli]  # make test-long: ~45 s of CPU

STACK = "DeliveryDemo"
CDK = f"{emulator_cdk.cdk_binary()} --no-notices"


def synth_demo(outdir: Path, asset_dir: Path, *, value: str, name: str = "/delivery/setting",
               extra: bool = False) -> Path:
    """The demo app's assembly: a parameter (`value`, `name`: create-only), one holding a file
    asset's URL, and with `extra` a third parameter."""
    app = cdk.App(outdir=str(outdir), analytics_reporting=False)
    stack = cdk.Stack(app, STACK)
    asset = s3_assets.Asset(stack, "Script", path=str(asset_dir / "script.sh"))
    ssm.StringParameter(stack, "Setting", string_value=value, parameter_name=name)
    ssm.StringParameter(stack, "ScriptLocation", string_value=asset.s3_object_url,
                        parameter_name="/delivery/script")
    if extra:
        ssm.StringParameter(stack, "Extra", string_value="added by the change",
                            parameter_name="/delivery/extra")
    app.synth()
    return outdir


@dataclass
class Demo:
    """The demo's assemblies, and the emulator they deploy to."""

    session: Session
    root: Path
    base: Path
    head: Path
    replacing: Path

    @property
    def cfn(self) -> Any:
        return self.session.clients("cloudformation")

    def deployed(self) -> dict[str, Any]:
        body = self.cfn.get_template(StackName=STACK)["TemplateBody"]
        return json.loads(body) if isinstance(body, str) else dict(body)

    def template(self, assembly: Path) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((assembly / f"{STACK}.template.json").read_text())
        return loaded

    def prepared(self) -> list[str]:
        """Change sets of the stack prepared and not executed."""
        return [s["ChangeSetName"] for s in self.cfn.list_change_sets(StackName=STACK)["Summaries"]
                if s.get("StackName") == STACK and s.get("ExecutionStatus") == "AVAILABLE"]

    def review(self, base: Path, head: Path, name: str) -> Path:
        """`review compare` of two assemblies: the plan's path."""
        plan = self.root / f"{name}.plan.json"
        result = subprocess.run(
            [sys.executable, "-m", "assembly_review", "compare", str(base),
             str(head), "--report", str(self.root / f"{name}.md"), "--plan", str(plan)],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return plan

    def deliver(self, plan: Path, *options: str) -> subprocess.CompletedProcess[str]:
        """What `make deploy PLAN=...` runs, against the emulator (the app layer importable from
        the repository, as make runs it there)."""
        env = {**emulator_cdk.environment(self.session.emulator.endpoint), "PYTHONPATH": str(REPO)}
        return subprocess.run(
            [sys.executable, "-m", "ecs_playground_app.deliver", "--plan", str(plan),
             "--cdk", CDK, *options],
            cwd=self.root, env=env,
            capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def demo(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """BASE deployed once with the real CLI; head (one value changed, a parameter added) and a
    change that replaces a parameter (its name changed) synthesized beside it."""
    root = tmp_path_factory.mktemp("delivery")
    assets = root / "assets"
    assets.mkdir()
    (assets / "script.sh").write_text("#!/bin/sh\necho reviewed\n")
    demo = Demo(
        session, root,
        base=synth_demo(root / "base", assets, value="one"),
        head=synth_demo(root / "head", assets, value="two", extra=True),
        replacing=synth_demo(root / "replacing", assets, value="one", name="/delivery/renamed"),
    )
    result = emulator_cdk.run(["deploy", STACK, "--app", str(demo.base), "--require-approval",
                               "never"], session.emulator.endpoint, root)
    assert result.returncode == 0, result.output
    yield demo
    emulator_cdk.run(["destroy", STACK, "--app", str(demo.base), "--force"],
                     session.emulator.endpoint, root)


@pytest.fixture
def at_base(demo: Demo) -> Demo:
    """BASE is what is deployed (put back with UpdateStack if a test left something else)."""
    base = demo.template(demo.base)
    if canonical_sha256(demo.deployed()) != canonical_sha256(base):
        demo.cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(base))
        demo.cfn.get_waiter("stack_update_complete").wait(
            StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert canonical_sha256(demo.deployed()) == canonical_sha256(base)
    return demo


def refused(demo: Demo, result: subprocess.CompletedProcess[str], before: dict[str, Any]
            ) -> str:
    """The refusal's message, after checking that nothing was executed."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert canonical_sha256(demo.deployed()) == canonical_sha256(before), "the stack changed"
    assert demo.prepared() == [], "a prepared change set was left behind"
    messages = [line for line in result.stderr.splitlines() if "REFUSED" in line]
    assert len(messages) == 1, result.stderr
    return messages[0]


def test_a_stack_changed_out_of_band_after_the_review_is_refused(at_base: Demo) -> None:
    # given the change reviewed against BASE
    plan = at_base.review(at_base.base, at_base.head, "out-of-band")
    # when someone deploys something else before the delivery
    changed = at_base.template(at_base.base)
    setting = next(i for i in changed["Resources"] if i.startswith("Setting"))
    changed["Resources"][setting]["Properties"]["Value"] = "changed by hand"
    at_base.cfn.update_stack(StackName=STACK, TemplateBody=json.dumps(changed))
    at_base.cfn.get_waiter("stack_update_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    result = at_base.deliver(plan)
    # then the delivery is refused, naming the resource that differs
    message = refused(at_base, result, changed)
    assert f"stack {STACK}: the deployed template is not the reviewed BASE template" in message
    assert f"resource {setting} differs" in message


def test_a_template_edited_after_the_review_is_refused(at_base: Demo) -> None:
    # given the change reviewed, and its assembly edited afterwards
    edited = at_base.root / "edited"
    shutil.rmtree(edited, ignore_errors=True)
    shutil.copytree(at_base.head, edited)
    plan = at_base.review(at_base.base, edited, "edited")
    template = edited / f"{STACK}.template.json"
    template.write_text(template.read_text().replace('"two"', '"not reviewed"'))
    # when it is delivered
    result = at_base.deliver(plan)
    # then it is refused, naming the file
    message = refused(at_base, result, at_base.template(at_base.base))
    assert f"template {template} changed after the review" in message


def test_a_change_set_replacing_a_resource_the_plan_did_not_list_is_refused(
        at_base: Demo) -> None:
    # given a change that replaces the parameter (its name is create-only), and a plan that
    # shows it updated in place (what a review that missed the replacement would write)
    plan_file = at_base.review(at_base.base, at_base.replacing, "replacing")
    plan = json.loads(plan_file.read_text())
    changes = plan["environments"]["default"]["stacks"][STACK]["changes"]
    setting = next(c for c in changes if c["logicalId"].startswith("Setting"))
    assert setting["action"] == "replace", changes
    setting["action"] = "in-place"
    plan_file.write_text(json.dumps(plan))
    # when it is delivered
    result = at_base.deliver(plan_file)
    # then CloudFormation's change set shows the replacement: refused, change set deleted
    message = refused(at_base, result, at_base.template(at_base.base))
    assert (f"{setting['logicalId']} (AWS::SSM::Parameter) would be replaced; the plan shows "
            "in-place") in message


def test_the_reviewed_change_deploys_with_its_plan(at_base: Demo) -> None:
    # given the change reviewed against BASE, deployed
    plan = at_base.review(at_base.base, at_base.head, "reviewed")
    # when it is delivered with its plan
    result = at_base.deliver(plan)
    # then head is what is deployed, by the change set the CLI prepared and executed
    assert result.returncode == 0, result.stdout + result.stderr
    assert canonical_sha256(at_base.deployed()) == canonical_sha256(at_base.template(at_base.head))
    commands = [shlex.split(line.split("$ ", 1)[1]) for line in result.stderr.splitlines()
                if "deliver: $ " in line]
    assert [c[c.index("deploy") + 1] for c in commands] == [
        "--method=prepare-change-set", "--method=execute-change-set"]
    assert all(str(at_base.head) in c for c in commands), "deployed from another assembly"


@pytest.mark.parametrize(("after", "replacement"), [
    ({"Name": "/delivery/renamed", "Value": "one"}, "True"),  # create-only
    ({"Name": "/delivery/setting", "Value": "two"}, "False"),  # updatable
])
def test_the_emulators_change_sets_say_what_is_replaced(after: dict[str, str],
                                                        replacement: str) -> None:
    from emulator.compat.change_sets import replacement as decide

    before = {"Type": "AWS::SSM::Parameter",
              "Properties": {"Name": "/delivery/setting", "Value": "one"}}
    said, changed = decide("us-east-1", before, {"Type": "AWS::SSM::Parameter",
                                                 "Properties": after})
    assert said == replacement
    assert changed == [next(k for k in after if after[k] != before["Properties"][k])]
