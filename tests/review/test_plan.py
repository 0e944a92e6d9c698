"""The review's plan (cdk.review/plan.json) and the checks `make deploy PLAN=...` makes with it,
offline: the plan validates against its published schema and says what the review said; the
deploy refuses an assembly that is not the plan's head, a deployed stack that is not the plan's
BASE, and a change set whose replacements or removals the plan does not show, deleting the
change set and executing nothing. (tests/emulator/test_delivery.py does it all on the
emulator with the real CLI.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsonschema
import pytest
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm

from assembly_review import plan as plan_module
from assembly_review.__main__ import main as review_main
from assembly_review.status import ExitStatus
from ecs_playground_app import deliver
from tests.test_make import INSTALLED

from .conftest import Case
from .synth_app import ROOT

STACK = "Parameters"


def synth(outdir: Path, asset: Path, *, parameters: Sequence[str], prefix: str = "/plan",
          stages: Sequence[str] = ()) -> Path:
    """An app with a top-level stack (a file asset, SSM parameters named under `prefix`: the
    name is create-only) and, per stage, the same stack inside a CDK Stage."""
    app = cdk.App(outdir=str(outdir), analytics_reporting=False)

    def stack(scope: Any) -> None:
        parameters_stack = cdk.Stack(scope, STACK)
        s3_assets.Asset(parameters_stack, "Script", path=str(asset))
        for name in parameters:
            ssm.StringParameter(parameters_stack, name, string_value=name,
                                parameter_name=f"{prefix}/{name}")

    stack(app)
    for name in stages:
        stack(cdk.Stage(app, name, env=cdk.Environment(account="111111111111",
                                                       region="eu-west-1")))
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plan")
    asset = root / "script.sh"
    asset.write_text("echo reviewed\n")
    return {
        "base": synth(root / "base", asset, parameters=["Jobs", "Old"], stages=["dev"]),
        "head": synth(root / "head", asset, parameters=["Jobs", "New"], prefix="/renamed",
                      stages=["dev"]),
    }


@pytest.fixture
def reviewed(assemblies: dict[str, Path], tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """`review compare` of BASE and head (copied: tests may edit them): (plan, its file)."""
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(assemblies["base"], base)
    shutil.copytree(assemblies["head"], head)
    plan_file = tmp_path / "review" / "plan.json"
    code = review_main(["compare", str(base), str(head), "--report",
                        str(tmp_path / "review" / "report.md"), "--plan", str(plan_file)])
    assert code == ExitStatus.SAFE
    return json.loads(plan_file.read_text()), plan_file


def stack_of(plan: dict[str, Any], environment: str = "default") -> dict[str, Any]:
    found: dict[str, Any] = plan["environments"][environment]["stacks"][STACK] if (
        environment == "default") else next(iter(plan["environments"][environment]["stacks"]
                                                  .values()))
    return found


def test_the_plan_validates_against_its_published_schema(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, _ = reviewed
    schema = json.loads(plan_module.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(plan)
    assert plan["schema"] == plan_module.SCHEMA_ID and plan["schemaVersion"] == 1


def test_every_environment_and_stack_is_walked_with_stages(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, _ = reviewed
    assert sorted(plan["environments"]) == ["default", "dev"]
    dev = stack_of(plan, "dev")
    assert dev["displayName"] == f"dev/{STACK}"
    assert (dev["account"], dev["region"]) == ("111111111111", "eu-west-1")
    assert stack_of(plan)["account"] is None  # environment-agnostic


def test_hashes_cover_templates_and_assets(reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, plan_file = reviewed
    head = plan_file.parent / plan["head"]["assembly"]
    entry = stack_of(plan)
    template = head / entry["head"]["templateFile"]
    assert entry["head"]["templateSha256"] == plan_module.sha256_file(template)
    assert entry["head"]["canonicalSha256"] == plan_module.canonical_sha256(
        json.loads(template.read_text()))
    assert entry["base"]["canonicalSha256"] != entry["head"]["canonicalSha256"]
    assets = entry["head"]["assets"]
    assert [a["kind"] for a in assets] == ["file"]
    assert assets[0]["sha256"] == plan_module.sha256_tree(head / assets[0]["source"]["path"])


def test_actions_and_reasons_are_the_reviews(reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, _ = reviewed
    changes = stack_of(plan)["changes"]
    assert changes
    action = {c["logicalId"]: c["action"] for c in changes}
    jobs = next(c for c in changes if c["logicalId"].startswith("Jobs"))
    # Jobs renamed (a create-only property), Old removed, New added
    assert jobs["action"] == "replace"
    assert any(r.startswith("Name: create-only") for r in jobs["reasons"]), jobs
    assert {i[:3]: a for i, a in action.items() if i[:3] in ("Old", "New")} == {
        "Old": "remove", "New": "add"}
    assert plan["verdict"] == "safe" and plan["exitStatus"] == 0


def test_the_review_writes_the_plan_beside_the_report_with_its_verdict(
        cases: dict[str, Case], tmp_path: Path) -> None:
    case = cases["db_encryption_key"]
    plan_file = tmp_path / "plan.json"
    code = review_main(["compare", str(case.base), str(case.head), "--report",
                        str(tmp_path / "report.md"), "--plan", str(plan_file)])
    plan = json.loads(plan_file.read_text())
    assert code == ExitStatus.DATA_LOSS
    assert (plan["verdict"], plan["exitStatus"]) == ("data-loss", 2)
    assert plan["environments"]["default"]["exitStatus"] == 2
    database = [c for c in plan["environments"]["default"]["stacks"]["EcsPlayground"]["changes"]
                if c["type"] == "AWS::RDS::DBInstance"]
    assert database and database[0]["action"] == "replace" and database[0]["stateful"]


# -- the deploy's checks, offline -------------------------------------------------------------


class FakeCloudFormation(deliver.CloudFormation):
    """What is deployed and the change set CloudFormation would prepare."""

    def __init__(self, deployed: dict[str, Any] | None, changes: list[dict[str, Any]]) -> None:
        super().__init__(client=None)
        self.deployed = deployed
        self.changes = changes
        self.discarded: list[str] = []

    def template(self, stack: str) -> dict[str, Any] | None:
        return self.deployed

    def change_set(self, stack: str, name: str) -> dict[str, Any] | None:
        return {"Changes": [{"Type": "Resource", "ResourceChange": c} for c in self.changes]}

    def discard(self, stack: str, name: str) -> None:
        self.discarded.append(name)


class Delivered:
    """A delivery of the plan's default environment with fakes: what the CLI was asked."""

    def __init__(self, plan: dict[str, Any], plan_file: Path, aws: FakeCloudFormation) -> None:
        self.commands: list[list[str]] = []
        self.aws = aws

        def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
            self.commands.append(list(command))
            return subprocess.CompletedProcess(command, 0, "", "")

        self.delivery = deliver.Delivery(plan, "default",
                                         plan_file.parent / plan["head"]["assembly"], ["cdk"],
                                         aws=lambda region: aws, run=run)

    @property
    def methods(self) -> list[str]:
        return [c[2] for c in self.commands]


def planned_changes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The change set CloudFormation prepares for what the plan shows."""
    kinds = {"add": ("Add", None), "in-place": ("Modify", "False"),
             "replace": ("Modify", "True"), "remove": ("Remove", None)}
    return [{"LogicalResourceId": c["logicalId"], "ResourceType": c["type"],
             "Action": kinds[c["action"]][0], "Replacement": kinds[c["action"]][1]}
            for c in stack_of(plan)["changes"]]


def base_template(plan: dict[str, Any], plan_file: Path) -> dict[str, Any]:
    base = plan_file.parent / plan["base"]["assembly"]
    loaded: dict[str, Any] = json.loads((base / f"{STACK}.template.json").read_text())
    return loaded


def test_the_reviewed_change_is_prepared_compared_then_executed(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, plan_file = reviewed
    run = Delivered(plan, plan_file, FakeCloudFormation(base_template(plan, plan_file),
                                                        planned_changes(plan)))
    assert run.delivery.deploy() == [STACK]
    assert run.methods == ["--method=prepare-change-set", "--method=execute-change-set"]
    assert all("--app" in c and str(plan_file.parent / plan["head"]["assembly"]) in c
               for c in run.commands)


def test_a_deployed_stack_that_is_not_the_plans_base_is_refused(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, plan_file = reviewed
    deployed = base_template(plan, plan_file)
    parameter = next(i for i in deployed["Resources"] if i.startswith("Jobs"))
    deployed["Resources"][parameter]["Properties"]["Value"] = "by hand"
    deployed["Outputs"] = {"Added": {"Value": "by hand"}}
    run = Delivered(plan, plan_file, FakeCloudFormation(deployed, planned_changes(plan)))
    with pytest.raises(deliver.Refused) as refusal:
        run.delivery.deploy()
    assert f"resource {parameter} differs" in str(refusal.value)
    assert "section Outputs is not in the plan (added)" in str(refusal.value)
    assert run.commands == []


def test_a_missing_stack_the_base_has_and_a_stack_the_base_lacks_are_refused(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, plan_file = reviewed
    run = Delivered(plan, plan_file, FakeCloudFormation(None, planned_changes(plan)))
    with pytest.raises(deliver.Refused, match=f"stack {STACK} does not exist, but the reviewed"):
        run.delivery.deploy()
    stack_of(plan)["base"] = None
    run = Delivered(plan, plan_file, FakeCloudFormation(base_template(plan, plan_file), []))
    with pytest.raises(deliver.Refused, match=f"stack {STACK} exists, but the reviewed BASE"):
        run.delivery.deploy()


@pytest.mark.parametrize("edit", ["template", "asset", "manifest", "asset manifest"])
def test_an_assembly_edited_after_the_review_is_refused_naming_the_file(
        reviewed: tuple[dict[str, Any], Path], edit: str) -> None:
    plan, plan_file = reviewed
    head = plan_file.parent / plan["head"]["assembly"]
    entry = stack_of(plan)["head"]
    target = {"template": head / entry["templateFile"],
              "asset": head / entry["assets"][0]["source"]["path"],
              "manifest": head / "manifest.json",
              "asset manifest": head / entry["assetManifest"]}[edit]
    if target.is_dir():
        target = next(p for p in target.rglob("*") if p.is_file())
    if edit == "manifest":
        manifest = json.loads(target.read_text())
        manifest["artifacts"][STACK]["properties"]["tags"] = {"owner": "not reviewed"}
        target.write_text(json.dumps(manifest))
    else:
        target.write_text(target.read_text().replace("e", "E", 1) + " ")
    run = Delivered(plan, plan_file, FakeCloudFormation(base_template(plan, plan_file),
                                                        planned_changes(plan)))
    with pytest.raises(deliver.Refused) as refusal:
        run.delivery.deploy()
    named = {"template": str(target), "asset": str(head / entry["assets"][0]["source"]["path"]),
             "manifest": str(target), "asset manifest": str(target)}[edit]
    assert named in str(refusal.value)
    assert run.commands == []


@pytest.mark.parametrize(("change", "said"), [
    ({"Action": "Modify", "Replacement": "True"}, "would be replaced; the plan shows no change"),
    ({"Action": "Modify", "Replacement": "Conditional"}, "may be replaced"),
    ({"Action": "Remove"}, "would be removed; the plan shows no change"),
])
def test_a_change_set_doing_what_the_plan_did_not_show_is_refused_and_deleted(
        reviewed: tuple[dict[str, Any], Path], change: dict[str, str], said: str) -> None:
    plan, plan_file = reviewed
    surprise = {"LogicalResourceId": "Unlisted", "ResourceType": "AWS::SSM::Parameter", **change}
    aws = FakeCloudFormation(base_template(plan, plan_file), [*planned_changes(plan), surprise])
    run = Delivered(plan, plan_file, aws)
    with pytest.raises(deliver.Refused) as refusal:
        run.delivery.deploy()
    assert f"Unlisted (AWS::SSM::Parameter) {said}" in str(refusal.value)
    assert run.methods == ["--method=prepare-change-set"]  # never executed
    assert len(aws.discarded) == 1


def test_a_plan_whose_verdict_is_not_safe_is_refused(
        reviewed: tuple[dict[str, Any], Path]) -> None:
    plan, plan_file = reviewed
    plan["environments"]["default"].update(verdict="data-loss", exitStatus=2)
    run = Delivered(plan, plan_file, FakeCloudFormation(base_template(plan, plan_file), []))
    with pytest.raises(deliver.Refused, match="verdict for environment 'default' is 'data-loss'"):
        run.delivery.deploy()
    assert run.commands == []


def test_the_deploy_exits_2_with_one_message_on_a_refusal(
        reviewed: tuple[dict[str, Any], Path], capsys: pytest.CaptureFixture[str]) -> None:
    plan, plan_file = reviewed
    stack_of(plan)["head"]["templateSha256"] = "0" * 64
    plan_file.write_text(json.dumps(plan))
    assert deliver.main(["--plan", str(plan_file), "--env", "default"]) == deliver.REFUSED
    lines = [line for line in capsys.readouterr().err.splitlines() if "REFUSED" in line]
    assert len(lines) == 1 and "changed after the review" in lines[0]


def test_a_plan_of_several_environments_needs_env(
        reviewed: tuple[dict[str, Any], Path], capsys: pytest.CaptureFixture[str]) -> None:
    _plan, plan_file = reviewed
    assert deliver.main(["--plan", str(plan_file)]) == deliver.ERROR
    assert "the plan has 2 environments (default, dev): name one" in capsys.readouterr().err


def test_make_deploy_with_a_plan_runs_the_delivery_not_cdk_deploy(tmp_path: Path) -> None:
    # make -n prints the recipe without running it; in an empty folder, nothing reads cdk.json
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o",
         INSTALLED[0], "deploy",
         "PLAN=cdk.review/plan.json", "ENV=prod"], cwd=tmp_path, capture_output=True, text=True,
        check=True)
    deploy = result.stdout.splitlines()[-1]
    assert "-m ecs_playground_app.deliver" in deploy
    assert '--plan="$DELIVER_PLAN" --env="$DELIVER_ENV"' in deploy
    assert "cdk deploy" not in result.stdout
