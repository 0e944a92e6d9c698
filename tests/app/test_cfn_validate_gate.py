"""CDK's own CloudFormation validation, run natively (assembly_review/cdk_validation.py), and
`make synth`'s `cfn-validate` gate around it (ecs_playground_app/cfn_validate_gate.py): it must find
exactly what CDK's built-in plugin finds, honour the same acknowledgments, read its configuration
from the installed aws-cdk-lib, and step aside (the synth keeping CDK's validation) whenever it
cannot mirror it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from assembly_review import cdk_validation
from assembly_review.cdk_validation import (
    StackContext,
    ValidatedAssembly,
    cdk_library_package,
    read_cdk_config,
    stack_templates,
)
from ecs_playground_app.cfn_validate_gate import CfnValidate
from ecs_playground_app.gate_types import Template
from tests.conftest import ROOT

APP = Path(__file__).with_name("cfn_validate_app.py")


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> CfnValidate:
    installed = CfnValidate.installed(tmp_path_factory.mktemp("cfn-validate-config"))
    assert isinstance(installed, CfnValidate), installed
    return installed


def stacks(outdir: Path) -> dict[str, tuple[Path, StackContext]]:
    return {context.stack_path: (template, context)
            for template, context in stack_templates(outdir)}


def test_the_configuration_is_read_from_the_installed_aws_cdk_lib(gate: CfnValidate) -> None:
    from importlib.metadata import version

    package = cdk_library_package()
    assert package is not None and package.name.startswith("aws-cdk-lib@")
    config = read_cdk_config(package)
    # the engine aws-cdk-lib bundles is the one pinned in requirements-dev.txt
    assert config.engine_version == version("cloudformation-validate")
    pinned = (ROOT / "requirements-dev.txt").read_text()
    assert f"cloudformation-validate=={config.engine_version}\n" in pinned
    assert "W3005" in config.ignored and config.rules  # what CDK 2.275 ignores; its Rego rules
    assert gate.validation.config == config
    assert gate.synth_environment == {"CDK_VALIDATION": "false"}


def cdk_and_ours(gate: CfnValidate, outdir: Path, *app: str) -> tuple[set[Any], set[Any], Any]:
    """The app synthesized with CDK's own validation on: (what CDK's report lists, what the
    native run finds in the same assembly, CDK's report of the plugin)."""
    env = {k: v for k, v in os.environ.items() if k != "CDK_VALIDATION"}
    subprocess.run([sys.executable, str(APP), str(outdir), *app], env=env, check=True,
                   capture_output=True, timeout=300, cwd=ROOT)
    report = json.loads((outdir / "validation-report.json").read_text())
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "CloudFormation Validate"]
    cdk_found = {(v["ruleName"], v["severity"], c["constructPath"],
                  (c.get("cloudFormationResource") or {}).get("logicalId"))
                 for v in plugin["violations"] for c in v["violatingConstructs"]}
    ours = {(f.rule, f.severity, f.construct_path, f.logical_id)
            for template, context in stacks(outdir).values()
            for f in gate.validation.findings(template, context)}
    return cdk_found, ours, plugin


@pytest.mark.slow  # one CDK synth with its own validation
def test_it_finds_what_cdks_own_validation_finds_and_honours_the_same_acknowledgments(
        gate: CfnValidate, tmp_path: Path) -> None:
    # given an app CDK's own validation finds fault with, synthesized with that validation on,
    # when the gate validates the same templates
    outdir = tmp_path / "cdk.out"
    cdk_found, ours, plugin = cdk_and_ours(gate, outdir)
    suppressed = {c["constructPath"] for v in plugin["suppressedViolations"]
                  for c in v["violatingConstructs"]}

    # then it finds the same violations, and not the acknowledged ones
    assert ours == cdk_found
    assert {rule for rule, *_ in ours} == {"F1020", "F3002", "F3012", "W2001", "W2508", "W3010"}
    assert suppressed == {f"{stack}/{path}" for stack in ("Broken", "Agnostic")
                          for path in ("Subnet1", "Group/Subnet2", "Group/Subnet3")}
    # and says how to acknowledge each, as CDK does
    broken, context = stacks(outdir)["Broken"]
    verdict = gate.check({gate.digest(Template("Broken.template.json", broken.read_bytes(),
                                               context)): broken})
    (text,) = [v.output for v in verdict.values()]
    assert "ERROR Bogus: Additional properties are not allowed" in text
    assert "Broken/Queue (Queue)" in text and "'CloudFormation-Validate::F3002'" in text
    passes = tmp_path / "passes"
    assert text in ValidatedAssembly(gate.validation, outdir, passes).report()  # make review's


def test_the_digest_covers_the_stacks_environment_and_acknowledgments(gate: CfnValidate) -> None:
    # a pass is remembered per digest: an acknowledgment removed later must not reuse it
    base = StackContext("App", None, None, {"Topic": "App/Topic"}, {})
    acknowledged = StackContext("App", None, None, {"Topic": "App/Topic"},
                                {"CloudFormation-Validate::W3010": ["App"]})
    placed = StackContext("App", "123456789012", "eu-west-1", {"Topic": "App/Topic"}, {})
    digests = {gate.digest(Template("App.template.json", b"{}", context))
               for context in (base, acknowledged, placed)}
    assert len(digests) == 3


def test_an_acknowledgment_covers_its_construct_and_everything_below_it() -> None:
    context = StackContext("App", None, None, {}, {
        "CloudFormation-Validate::W3010": ["App/Group"], "CloudFormation-Validate::F3002": [""]})
    assert context.acknowledgment("W3010", "App/Group/Subnet/Resource") == "App/Group"
    assert context.acknowledgment("W3010", "App/Group") == "App/Group"
    assert context.acknowledgment("W3010", "App/GroupOther") is None
    assert context.acknowledgment("W3010", "App") is None
    assert context.acknowledgment("W2508", "App/Group/Subnet") is None
    assert context.acknowledgment("F3002", "App/Queue") == ""  # the App's own (path "")


def fake_package(path: Path, plugin: str, engine: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in ((cdk_validation.PLUGIN, plugin),
                           (cdk_validation.ENGINE_PACKAGE, json.dumps({"version": engine})),
                           (f"{cdk_validation.RULES}a.rego", "package a\n")):
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def test_it_steps_aside_when_aws_cdk_lib_configures_or_bundles_another_validation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version

    engine = version("cloudformation-validate")
    mirrored = f'const IGNORE_RULES=new Set(["W3005"]);x({cdk_validation.EXPECTED_CALL})'
    cases = {
        "mirrored": (mirrored, engine, None),
        "configured otherwise": (mirrored.replace('severityLevel:"WARN"', 'severityLevel:"ERROR"'),
                                 engine, "configures CloudFormation Validate otherwise"),
        "another engine": (mirrored, "0.0.1", "pin cloudformation-validate==0.0.1"),
    }
    for case, (plugin, bundled, reason) in cases.items():
        package = fake_package(tmp_path / f"aws-cdk-lib@{case}.jsii.tgz", plugin, bundled)
        monkeypatch.setattr(cdk_validation, "cdk_library_package", lambda p=package: p)
        got = CfnValidate.installed(tmp_path / "config" / case)
        if reason is None:
            assert isinstance(got, CfnValidate), (case, got)
            assert got.validation.config.ignored == ("W3005",)
            assert got.validation.config.rules == {"a.rego": "package a\n"}
        else:
            assert isinstance(got, str) and reason in got, (case, got)


def test_a_review_validates_a_template_until_it_passes_then_remembers_the_pass(
        gate: CfnValidate, tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    outdir.mkdir()
    (outdir / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": {
        "App": {"type": "aws:cloudformation:stack", "displayName": "App",
                "environment": "aws://unknown-account/unknown-region",
                "properties": {"templateFile": "App.template.json"}}}}))
    template = outdir / "App.template.json"
    validated = ValidatedAssembly(gate.validation, outdir, tmp_path / "passes")
    # a failing template is reported, and never remembered
    template.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue",
                                                        "Properties": {"Bogus": 1}}}}))
    assert "F3002" in validated.report() and "F3002" in validated.report()
    # a passing one is validated once; the next review finds its pass
    template.write_text(json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}))
    assert [t.name for t, _ in validated.to_validate()] == ["App.template.json"]
    assert validated.report() == ""
    assert validated.to_validate() == []
    # other bytes, or another stack context, are validated again
    template.write_text(json.dumps({"Resources": {"Q2": {"Type": "AWS::SQS::Queue"}}}))
    assert validated.to_validate() != []


@pytest.mark.long  # a CDK synth of a whole platform with its own validation
def test_on_the_tutorial_done_literally_it_finds_what_cdks_own_validation_finds(
        gate: CfnValidate, tmp_path: Path) -> None:
    # a real platform (VPC, Auto Scaling, RDS, ECS) rather than hand-made faults
    cdk_found, ours, _ = cdk_and_ours(gate, tmp_path / "cdk.out", "bad-tutorial")
    assert ours == cdk_found
    assert {("W2501", "BadTutorial/Db"), ("W2508", "BadTutorial/InstanceSg/Resource")} <= {
        (rule, path) for rule, _severity, path, _logical_id in ours}
