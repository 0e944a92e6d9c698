"""`make diff` / `make deploy`'s preflight against an AWS account: moto on 127.0.0.1.

The script runs as the Makefile runs it (a separate process, as a file), with the credentials a
user would have: keys in the environment, the endpoint in AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_cdk.assertions import Template
from moto.server import ThreadedMotoServer

from ecs_playground_app import preflight
from tests.conftest import ROOT
from tests.test_make import without_aws

SCRIPT = ROOT / "ecs_playground_app" / "preflight.py"
ACCOUNT = "123456789012"  # moto's
REGION = "eu-west-1"
VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def account(endpoint: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a user with working credentials for a fresh account and region."""
    env = {**without_aws(tmp_path), "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": endpoint, "CDK_DOCKER": "docker-not-installed-here"}
    yield env
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=endpoint,
                       aws_access_key_id="x", aws_secret_access_key="x")
    ssm.delete_parameters(Names=[VERSION_PARAMETER])


def bootstrap(env: dict[str, str], version: int) -> None:
    """What `cdk bootstrap` records for the region."""
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=env["AWS_ENDPOINT_URL"],
                       aws_access_key_id="x", aws_secret_access_key="x")
    ssm.put_parameter(Name=VERSION_PARAMETER, Value=str(version), Type="String", Overwrite=True)


def run(verb: str, env: dict[str, str], *cdk_args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), verb, "--", *cdk_args], cwd=env["HOME"], env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.slow
def test_deploy_stops_on_a_region_that_is_not_bootstrapped_and_says_how(
    account: dict[str, str],
) -> None:
    result = run("deploy", account)
    assert result.returncode == 1, result.stderr
    assert f"make deploy: aws://{ACCOUNT}/{REGION} is not bootstrapped" in result.stderr
    assert f"node_modules/.bin/cdk bootstrap aws://{ACCOUNT}/{REGION}" in result.stderr
    assert "CDKToolkit" in result.stderr and VERSION_PARAMETER in result.stderr


@pytest.mark.slow
def test_diff_goes_ahead_on_a_region_that_is_not_bootstrapped_with_a_note(
    account: dict[str, str],
) -> None:
    result = run("diff", account)
    assert result.returncode == 0, result.stderr
    assert f"make diff: account {ACCOUNT} as arn:aws:" in result.stderr
    assert f"region {REGION}\n" in result.stderr
    assert "note: " in result.stderr and "not bootstrapped" in result.stderr


@pytest.mark.slow
def test_deploy_goes_ahead_on_a_bootstrapped_region_and_notes_a_missing_docker(
    account: dict[str, str],
) -> None:
    bootstrap(account, 30)
    result = run("deploy", account)
    assert result.returncode == 0, result.stderr
    assert "bootstrapped (CDKToolkit version 30)" in result.stderr
    assert "note: Docker was not found" in result.stderr and "location.image" in result.stderr


@pytest.mark.slow
def test_deploy_stops_on_a_bootstrap_too_old_for_the_templates(account: dict[str, str]) -> None:
    bootstrap(account, preflight.MIN_BOOTSTRAP_VERSION - 1)
    result = run("deploy", account)
    assert result.returncode == 1, result.stderr
    assert f"need {preflight.MIN_BOOTSTRAP_VERSION} or later" in result.stderr


@pytest.mark.slow
def test_an_unknown_profile_in_cdk_args_is_named(account: dict[str, str]) -> None:
    result = run("diff", account, "-c", "location.desiredCount=3", "--profile", "nosuch")
    assert result.returncode == 1
    assert "make diff: The config profile (nosuch) could not be found" in result.stderr
    assert "AWS_PROFILE" in result.stderr


def test_the_least_bootstrap_version_is_the_one_the_templates_check(
    tutorial_template: Template,
) -> None:
    # the default synthesizer's rule: the BootstrapVersion parameter is none of 1..N-1
    rule = tutorial_template.to_json()["Rules"]["CheckBootstrapVersion"]
    (assertion,) = rule["Assertions"]
    refused = json.dumps(assertion["Assert"])
    assert f'"{preflight.MIN_BOOTSTRAP_VERSION - 1}"' in refused
    assert f'"{preflight.MIN_BOOTSTRAP_VERSION}"' not in refused


def test_the_bootstrap_qualifier_follows_cdk_json(tmp_path: Path) -> None:
    assert preflight.bootstrap_qualifier(tmp_path) == "hnb659fds"
    (tmp_path / "cdk.json").write_text(
        json.dumps({"context": {"@aws-cdk/core:bootstrapQualifier": "team42"}}))
    assert preflight.bootstrap_qualifier(tmp_path) == "team42"
