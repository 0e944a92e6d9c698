"""cdk-nag, cfn-lint, checkov, CloudFormation Validate (CDK's own validation, as `make synth`
runs it) and our own rules: clean on every scenario, and each one rejects the tutorial done
literally with the findings we expect."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Fn

from ecs_playground.rules import check_template, secret_in
from tests.conftest import SCENARIOS

from .conftest import Scans

GOOD = list(SCENARIOS)


@pytest.mark.parametrize("scenario", GOOD)
def test_cdk_nag_has_no_unacknowledged_finding(scans: Scans, scenario: str) -> None:
    gated = scans.gated[scenario]
    assert gated.error is None, gated.error
    assert gated.findings("AwsSolutions") == set()


@pytest.mark.parametrize("scenario", GOOD)
def test_our_rules_have_no_finding(scans: Scans, scenario: str) -> None:
    assert scans.gated[scenario].findings("EcsPlayground") == set()


@pytest.mark.slow  # cfn-lint is a process of its own
@pytest.mark.parametrize("scenario", GOOD)
def test_cfn_lint_has_no_error_or_warning(scans: Scans, scenario: str) -> None:
    assert scans.templates[scenario], scenario
    for template in scans.templates[scenario]:
        assert scans.cfn_lint_findings(template) == [], template.name


@pytest.mark.slow  # checkov is a process of its own
@pytest.mark.parametrize("scenario", GOOD)
def test_checkov_has_no_failed_check(scans: Scans, scenario: str) -> None:
    assert scans.templates[scenario], scenario
    for template in scans.templates[scenario]:
        assert scans.checkov_failed(template) == [], template.name


@pytest.mark.parametrize("scenario", GOOD)
def test_cloudformation_validate_has_no_unacknowledged_finding(scans: Scans,
                                                               scenario: str) -> None:
    assert scans.cfn_validate_findings(scenario) == []


def test_every_acknowledgment_names_a_finding_and_gives_a_reason(scans: Scans) -> None:
    assert scans.templates["tutorial"]
    skips, ignores = 0, 0
    for template in scans.templates["tutorial"]:
        resources = json.loads(template.read_text())["Resources"]
        for logical_id, resource in resources.items():
            metadata = resource.get("Metadata", {})
            for skip in metadata.get("checkov", {}).get("skip", []):
                assert skip["id"].startswith("CKV_") and len(skip["comment"]) > 40, logical_id
                skips += 1
            ignored = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            reasons = metadata.get("EcsPlayground::CfnLintReasons", {})
            assert set(ignored) == set(reasons), f"{logical_id}: cfn-lint ignore without reason"
            ignores += len(ignored)
    assert skips and ignores, "the tutorial acknowledges checkov and cfn-lint findings"


# --- every gate can fail: the tutorial done literally -------------------------------------------


def test_cdk_nag_rejects_the_bad_fixture(scans: Scans) -> None:
    bad = scans.gated["bad_tutorial"]
    assert bad.error is not None and "ValidationFailed" in bad.error
    assert {"AwsSolutions-EC23", "AwsSolutions-RDS2", "AwsSolutions-RDS13", "AwsSolutions-ECS7",
            "AwsSolutions-EC26", "AwsSolutions-RDS10"} <= bad.findings("AwsSolutions")


def test_our_rules_reject_the_bad_fixture(scans: Scans) -> None:
    assert scans.gated["bad_tutorial"].findings("EcsPlayground") == {
        "EcsPlayground-PlaintextSecret", "EcsPlayground-StatefulDelete",
        "EcsPlayground-OpenInstancePort",
    }


@pytest.mark.slow
def test_cfn_lint_rejects_the_bad_fixture(scans: Scans) -> None:
    (template,) = scans.templates["bad_tutorial"]
    rules = {finding.split()[0] for finding in scans.cfn_lint_findings(template)}
    assert "W2501" in rules  # a hard-coded password property


@pytest.mark.slow
def test_checkov_rejects_the_bad_fixture(scans: Scans) -> None:
    (template,) = scans.templates["bad_tutorial"]
    checks = {finding.split()[0] for finding in scans.checkov_failed(template)}
    assert {"CKV_AWS_16", "CKV_AWS_17", "CKV_AWS_24"} <= checks  # unencrypted, public DB; SSH


def test_cloudformation_validate_rejects_the_bad_fixture(scans: Scans) -> None:
    findings = set(scans.cfn_validate_findings("bad_tutorial"))
    # a hard-coded database password, SSH open to the world
    assert {"W2501 BadTutorial/Db", "W2508 BadTutorial/InstanceSg/Resource"} <= findings


# --- our rules, one behaviour each ------------------------------------------------------------

def _task(env: list[dict[str, object]]) -> dict[str, object]:
    return {"Resources": {"Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
        "ContainerDefinitions": [{"Name": "app", "Environment": env}]}}}}


# (variable name, value, caught?) -- what EcsPlayground-PlaintextSecret catches, and what not
PLAINTEXT_CASES: list[tuple[str, object, bool]] = [
    ("DB_PWD", "RDS_PWD", True),                      # the tutorial's own
    ("DB_PASSWORD", "x", True),
    ("DB_PASS", "x", True),
    ("PASS", "x", True),
    ("SMTP_PASSPHRASE", "x", True),
    ("API_TOKEN", "x", True),
    ("AWS_SECRET_ACCESS_KEY", "x", True),
    ("STRIPE_API_KEY", "x", True),
    ("client_secret", "x", True),
    ("BASIC_AUTH", "x", True),
    ("DATABASE_URL", "mysql://app:s3cr3t@db.internal:3306/app", True),
    ("REDIS_URL", "redis://:hunter2@cache:6379/0", True),
    ("DB_CONFIG", {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": "Secret"},
                                     ":SecretString:password}}"]]}, True),
    ("SETTING", "{{resolve:ssm-secure:/app/db-password}}", True),
    ("TLS", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", True),
    ("AWS_ID", "AKIAIOSFODNN7EXAMPLE", True),
    ("GH", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", True),
    ("SLACK", "xoxb-1234567890-abcdefghij", True),
    ("SESSION", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", True),
    ("DB_HOST", "db.internal", False),
    ("DB_PWD", {"Ref": "Param"}, False),             # a deploy-time value, not a literal
    ("PASSENGER_COUNT", "4", False),                 # PASS inside a word is not a password
    ("HOMEPAGE_URL", "https://example.org/path", False),
    ("SETTING", "{{resolve:ssm:/app/log-level}}", False),  # plain SSM parameters are settings
    ("AUTHOR", "alice", False),
    ("DB_SECRET_ARN", {"Ref": "ServiceSecret"}, False),  # where to re-read the password from
    ("DB_SECRET_ARN",                                # ... also as a literal ARN: not a credential
     "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecs/location-AbCdEf", False),
    ("DB_SECRET_ARN", "hunter2", True),              # an ARN name does not excuse a password
    ("DB_SECRET", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf", True),
]


def test_a_secret_arn_token_is_not_a_credential_but_a_password_token_is() -> None:
    # before synthesis a secret's ARN is a token; the props check sees that, not a Ref
    token = Fn.ref("ServiceSecret")
    assert secret_in("DB_SECRET_ARN", token) is None
    assert secret_in("DB_PWD", token) == "a literal value in a variable named like a credential"


@pytest.mark.parametrize(("name", "value", "caught"), PLAINTEXT_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(PLAINTEXT_CASES)])
def test_plaintext_secrets_by_name_and_by_value(name: str, value: object, caught: bool) -> None:
    findings = check_template(_task([{"Name": name, "Value": value}]))
    assert [f.rule for f in findings] == (["EcsPlayground-PlaintextSecret"] if caught else [])
    if caught:  # the finding names the variable, in the report too
        assert name in findings[0].message and name in findings[0].location


def test_open_port_on_a_load_balancer_is_not_an_instance_port() -> None:
    template = {"Resources": {
        "ElbSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "SecurityGroupIngress": [{"CidrIp": "0.0.0.0/0", "FromPort": 80, "ToPort": 80}]}},
        "InstanceSg": {"Type": "AWS::EC2::SecurityGroup", "Properties": {}},
        "Open": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["InstanceSg", "GroupId"]}, "CidrIpv6": "::/0",
            "FromPort": 8081, "ToPort": 8081}},
        "Lt": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {
            "SecurityGroupIds": [{"Fn::GetAtt": ["InstanceSg", "GroupId"]}]}}},
    }}
    findings = check_template(template)
    assert [(f.rule, f.logical_id) for f in findings] == [
        ("EcsPlayground-OpenInstancePort", "Open")
    ]


def test_stateful_resources_must_keep_their_data() -> None:
    template = {"Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup"},
        "Kept": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain"},
        "Db": {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot"},
        "Topic": {"Type": "AWS::SNS::Topic"},
    }}
    assert [f.logical_id for f in check_template(template)] == ["Logs"]
