"""The delivery workflow's deploy-role stack (ecs_playground_app/deploy_role.py): GitHub's OIDC
provider, one role per environment trusted only by that environment's jobs of this repository,
allowed only to assume the CDK bootstrap roles; cdk-nag clean (its gates run at synth, as the
platform's do), props validated all at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from ecs_playground.validation import PropsValidationError
from ecs_playground_app import deploy_role, gates
from tests.conftest import ROOT

ACCOUNT, REGION = "123456789012", "eu-west-1"
REPOSITORY = "acme/platform"


def synth(**context: Any) -> Template:
    """The stack as `make deploy-role` builds it, gates registered, synthesized (a gate finding
    fails the synth)."""
    app = cdk.App(context={"deployRole.repository": REPOSITORY, **context})
    stack = deploy_role.build(app)
    app.synth()
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def template() -> Template:
    app = cdk.App(context={"deployRole.repository": REPOSITORY,
                           "deployRole.environments": "dev,prod"})
    stack = cdk.Stack(app, "Roles", env=cdk.Environment(account=ACCOUNT, region=REGION))
    deploy_role.GitHubDeployRoles(stack, "DeployRoles",
                                  deploy_role.props_from_context(app.node.get_all_context()))
    gates.register(app)
    app.synth()  # the gates (cdk-nag, our rules) fail this on any finding
    return Template.from_stack(stack)


def roles(template: Template) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources("AWS::IAM::Role")
    assert found
    return found


def role_of(template: Template, environment: str) -> dict[str, Any]:
    matches = [r for r in roles(template).values() if
               environment in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    assert len(matches) == 1
    return matches[0]


def test_the_provider_is_githubs_with_the_sts_audience(template: Template) -> None:
    template.resource_count_is("AWS::IAM::OIDCProvider", 1)
    template.has_resource_properties("AWS::IAM::OIDCProvider", {
        "Url": "https://token.actions.githubusercontent.com",
        "ClientIdList": ["sts.amazonaws.com"],
    })


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_each_role_trusts_only_its_environments_jobs_of_the_repository(
        template: Template, environment: str) -> None:
    provider = next(iter(template.find_resources("AWS::IAM::OIDCProvider")))
    trust = role_of(template, environment)["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [{
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Effect": "Allow",
        "Principal": {"Federated": {"Ref": provider}},
        "Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub":
                f"repo:{REPOSITORY}:environment:{environment}",
        }},
    }]


def test_each_role_may_only_assume_the_bootstrap_roles(template: Template) -> None:
    policies = template.find_resources("AWS::IAM::Policy")
    assert len(policies) == 2
    template.resource_count_is("AWS::IAM::ManagedPolicy", 0)
    expected = [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                   f":iam::{ACCOUNT}:role/cdk-hnb659fds-{name}-role-{ACCOUNT}-"
                                   f"{REGION}"]]}
                for name in ("deploy", "file-publishing", "image-publishing", "lookup")]
    for policy in policies.values():
        assert policy["Properties"]["PolicyDocument"]["Statement"] == [{
            "Action": "sts:AssumeRole", "Effect": "Allow", "Resource": expected}]
    for role in roles(template).values():
        assert "ManagedPolicyArns" not in role["Properties"]
        assert "Policies" not in role["Properties"]


def test_a_custom_qualifier_and_an_existing_provider_are_honoured() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    template = synth(**{"deployRole.environments": ["staging"],
                        "deployRole.oidcProviderArn": arn,
                        "@aws-cdk/core:bootstrapQualifier": "team42",
                        "deployRole.regions": "eu-west-1,us-east-1"})
    template.resource_count_is("AWS::IAM::OIDCProvider", 0)
    role = next(iter(roles(template).values()))
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Federated": arn}
    policy = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert "cdk-team42-deploy-role-" in policy and "hnb659fds" not in policy
    assert policy.count("-eu-west-1") == 4 and policy.count("-us-east-1") == 4


def test_the_environments_default_to_cdk_jsons_environments() -> None:
    props = deploy_role.props_from_context({
        "deployRole.repository": REPOSITORY,
        "environments": {"dev": {}, "prod": {}}})
    assert list(props.environments) == ["dev", "prod"]


def test_every_invalid_prop_is_reported_at_once() -> None:
    with pytest.raises(PropsValidationError) as error:
        deploy_role.GitHubDeployRoles(
            cdk.Stack(cdk.App(), "Bad"), "DeployRoles", repository="not a repo",
            environments=[], oidc_provider_arn="arn:aws:iam::1:oidc-provider/example.com",
            qualifier="Bad_Q", regions=["mars-1"])
    assert {p.prop for p in error.value.problems} == {
        "repository", "environments", "oidc_provider_arn", "qualifier", "regions"}


@pytest.mark.cli
def test_the_stack_synthesizes_from_its_entry_point_and_names_a_missing_repository(
        tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ecs_playground_app.deploy_role"]
    env = {"CDK_OUTDIR": str(tmp_path / "out"),
           "CDK_CONTEXT_JSON": json.dumps({"deployRole.repository": REPOSITORY,
                                           "deployRole.environments": "dev"})}
    ok = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                        text=True, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "GitHubDeployRoles.template.json").is_file()
    env["CDK_CONTEXT_JSON"] = json.dumps({"deployRole.environments": "dev"})
    bad = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=300, check=False)
    assert bad.returncode == 1
    assert "repository = ''" in bad.stderr

