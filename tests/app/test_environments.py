"""Environments as data: cdk.json's `environments` builds one CDK Stage per environment, offline,
every environment validated in the same synth, and ENV= picks one (docs/environments.md).

Each app is built once per session by running app.py unchanged in this process (as `cdk synth`
runs it) with the scenario's context; the user's cdk.json is never read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from assembly_review.report import render, review
from assembly_review.template import load_assembly
from ecs_playground_app import environments, gates
from ecs_playground_app.app import build_platform
from ecs_playground_app.summary import summarize

from ..default_app import run_app
from .environments_scenario import DEV, PROD, QA, context, resources_of, stacks

STACK = "EcsPlayground"


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "dev_prod": lambda: context(),
    "dev_prod_qa": lambda: context({"dev": DEV, "prod": PROD, "qa": QA}),
    "prod_only": lambda: context(environment="prod"),
    "prod_changed": lambda: context({"dev": DEV, "prod": {
        **PROD, "overrides": {**PROD["overrides"], "location.desiredCount": 5}}}),
    "local": lambda: context(environmentTarget="aws://123456789012/us-east-1"),
}
"""The scenarios synthesized by the tests of this module, each at most once."""
Built = Callable[[str], Path]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The assembly of a scenario, synthesized on first use (with the CLI's context)."""
    cache: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in cache:
            cache[name] = run_app(tmp_path_factory.mktemp(name), SCENARIOS[name](), cli=True)
        return cache[name]

    return build


def test_every_environment_synthesizes_offline_into_its_own_stage(
    built: Built,
) -> None:
    # given cdk.json's dev and prod, when the app is synthesized (stacks() fails on any lookup
    # the committed context does not answer)
    found = stacks(built("dev_prod"))

    # then each environment is a Stage named after it, its stack in its account and region,
    # its subnets in the region's AZs named from cdk.context.json (three in prod)
    assert set(found) == {f"dev/{STACK}", f"prod/{STACK}"}
    assert found[f"dev/{STACK}"][0] == "aws://111111111111/us-east-1"
    assert found[f"prod/{STACK}"][0] == "aws://333333333333/eu-central-1"
    prod_zones = {s["AvailabilityZone"] for s in resources_of(found[f"prod/{STACK}"][1],
                                                              "AWS::EC2::Subnet")}
    dev_zones = {s["AvailabilityZone"] for s in resources_of(found[f"dev/{STACK}"][1],
                                                             "AWS::EC2::Subnet")}
    assert prod_zones == {"eu-central-1a", "eu-central-1b", "eu-central-1c"}
    assert dev_zones == {"us-east-1a", "us-east-1b"}


def test_a_prod_only_override_does_not_reach_dev(built: Built) -> None:
    found = stacks(built("dev_prod"))
    dev, prod = found[f"dev/{STACK}"][1], found[f"prod/{STACK}"][1]
    # db.multiAz and location.desiredCount are set in prod only
    assert [d["MultiAZ"] for d in resources_of(prod, "AWS::RDS::DBInstance")] == [True]
    assert [d.get("MultiAZ", False) for d in resources_of(dev, "AWS::RDS::DBInstance")] == [False]
    assert sorted(s["DesiredCount"] for s in resources_of(prod, "AWS::ECS::Service")) == [4, 6]
    assert sorted(s["DesiredCount"] for s in resources_of(dev, "AWS::ECS::Service")) == [4, 4]


def normalized(template: dict[str, Any], stage: str) -> dict[str, Any]:
    """A stage's template with what names its stage made neutral: each logical ID replaced by
    its construct path (CDK derives some, e.g. security group rules', from the stage's path),
    and the stage in construct paths, tags and the stack name dropped."""
    text = json.dumps(template)
    paths = {logical_id: resource["Metadata"]["aws:cdk:path"]
             for logical_id, resource in template["Resources"].items()
             if "aws:cdk:path" in resource.get("Metadata", {})}
    assert paths, "no construct paths: synthesize with the CLI's context (cli=True)"
    for logical_id in sorted(paths, key=len, reverse=True):
        text = text.replace(json.dumps(logical_id), json.dumps(paths[logical_id]))
    for form in (f"{stage}/{STACK}", f"{stage}-{STACK}"):
        text = text.replace(form, STACK)
    # a peer's unique ID in a generated rule's path: the stage, then a hash of the path
    text = re.sub(rf"{stage}{STACK}([A-Za-z]+?)[0-9A-F]{{8}}\b", rf"{STACK}\1", text)
    result: dict[str, Any] = json.loads(text)
    return result


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every leaf of a template."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def test_two_environments_differ_exactly_by_their_declared_overrides(
    built: Built,
) -> None:
    # given qa: dev's account and region, with two overrides of its own
    found = stacks(built("dev_prod_qa"))
    dev = dict(leaves(normalized(found[f"dev/{STACK}"][1], "dev")))
    qa = dict(leaves(normalized(found[f"qa/{STACK}"][1], "qa")))

    # then their templates differ in exactly the properties those two keys set: the database's
    # backup retention, the location ELB's health check and the alarm that names it
    differing = {path[1:] for path in dev.keys() | qa.keys() if dev.get(path) != qa.get(path)}
    assert differing == {
        (f"{STACK}/Database/Instance/Resource", "Properties", "BackupRetentionPeriod"),
        (f"{STACK}/Services/Location/LoadBalancer/Resource", "Properties", "HealthCheck",
         "Target"),
        (f"{STACK}/Services/Location/Alarms/UnhealthyHosts/Resource", "Properties",
         "AlarmDescription"),
    }, differing
    assert qa[("Resources", *sorted(differing)[0])] == 14


def test_a_third_environment_is_data_only_and_changes_no_other(built: Built) -> None:
    # given the same app with a third environment added to cdk.json (data, no code)
    two, three = stacks(built("dev_prod")), stacks(built("dev_prod_qa"))

    # then it has its own stage and stack name, and dev's and prod's templates are unchanged
    assert set(two) == {f"dev/{STACK}", f"prod/{STACK}"}
    assert set(three) - set(two) == {f"qa/{STACK}"}
    for name in two:
        assert three[name] == two[name], f"adding qa changed {name}"


def test_env_builds_one_environment_with_the_same_templates(built: Built) -> None:
    # given ENV=prod (make synth ENV=prod passes -c environment=prod)
    one, every = stacks(built("prod_only")), stacks(built("dev_prod"))

    # then only prod's stage is in the assembly, byte for byte what the synth of every
    # environment holds for it (a plan reviewed on all environments deploys one of them)
    assert set(one) == {f"prod/{STACK}"}
    assert one[f"prod/{STACK}"] == every[f"prod/{STACK}"]


def test_local_maps_dev_onto_the_emulators_account_and_region(built: Built) -> None:
    # given make local (the driver adds -c environmentTarget=aws://123456789012/us-east-1)
    found = stacks(built("local"))

    # then dev (the default) is built as top-level stacks in the emulator's account and region,
    # with dev's overrides
    assert list(found) == [STACK]
    where, template = found[STACK]
    assert where == "aws://123456789012/us-east-1"
    assert len(resources_of(template, "AWS::EC2::NatGateway")) == DEV["overrides"][
        "vpc.natGateways"]


def test_synth_summary_shows_each_environment_and_prices_it_in_its_region(
    built: Built,
) -> None:
    text = summarize(built("dev_prod"))
    assert "environment dev (us-east-1): 1 stack(s)" in text
    assert "environment prod (eu-central-1): 1 stack(s)" in text
    assert f"  cost dev/{STACK}: ~$" in text and "on-demand us-east-1 prices" in text
    assert (f"  cost prod/{STACK}: unpriced (no prices for eu-central-1 in the table "
            "(us-east-1 only)") in text
    assert "$0.00" not in text


def test_review_of_a_prod_only_change_says_so_per_environment(built: Built) -> None:
    # given a change of prod's overrides only
    result = review(load_assembly(built("dev_prod")), load_assembly(built("prod_changed")))
    text = render(result)

    # then the report's summary names each environment: dev unchanged, prod changed, each
    # priced in its own region (prod's is not in the table: said, never priced as us-east-1)
    (line,) = [line for line in text.splitlines() if line.startswith("- **Environments:**")]
    assert "`dev` (us-east-1): unchanged, cost $" in line, line
    assert "`prod` (eu-central-1): **1 stack changed**, cost unpriced: no prices for " \
           "eu-central-1" in line, line
    assert f"### Stack `prod/{STACK}`" in text and f"### Stack `dev/{STACK}`" not in text
    assert ("#### Cost (monthly, unpriced: no prices for eu-central-1 in the table (us-east-1 "
            "only))") in text
    assert "**Total:** unpriced" in text and "**Total:** BASE $0.00" not in text


# --- validation: every environment, every problem, at once --------------------------------------


def rejected(scenario: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
             ) -> list[str]:
    """The problems app.py prints for a configuration it rejects (one per line)."""
    with pytest.raises(AssertionError, match=r"app\.py rejected the configuration"):
        run_app(tmp_path, scenario)
    return [line.strip() for line in capsys.readouterr().err.splitlines()
            if line.strip().startswith("- ")]


def test_every_problem_of_every_environment_is_named_by_environment_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # given three environments with a problem each (and one with two), all in one cdk.json
    scenario = context({
        "dev": {"account": "111111111111", "region": "us-east-1",
                "overrides": {"vpc.maxAz": 3, "location.cpu": 1}},
        "prod": {**PROD, "overrides": {**PROD["overrides"], "vpc.maxAzs": 4}},
        "qa": {"region": "eu-west-1"},
        "eu": {"account": 111111111111, "region": "europe"},
    })

    # when the app is synthesized, then it reports all of them at once, each named
    problems = rejected(scenario, tmp_path, capsys)
    expected = [
        "- environments.qa.account is missing",
        "- environments.eu.account = 111111111111: allowed 12 digits, as text",
        '- environments.eu.region = "europe": not an AWS region name',
        "- environments.dev.overrides.vpc.maxAz: unknown key; did you mean 'vpc.maxAzs'?",
        "- environments.dev.overrides.location.cpu = 1: allowed an integer 128-10240",
        "- environments.prod.overrides.vpc.maxAzs = 4: the region eu-central-1 has 3 AZs in "
        "cdk.context.json",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)


def test_a_problem_every_environment_shares_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    problems = rejected(context(**{"user.cpu": 1}), tmp_path, capsys)
    assert [p for p in problems if "user.cpu" in p] == [
        "- every environment: user.cpu = 1: allowed an integer 128-10240; set user.cpu to an "
        "integer 128-10240"]


@pytest.mark.parametrize("env, message", [
    ("nope", "- ENV=nope is not a declared environment; declared: dev, prod (cdk.json context "
             "'environments')"),
    ("", "- ENV is required: this verb works on one environment and cdk.json declares dev, "
         "prod; e.g. ENV=dev"),
])
def test_env_must_name_a_declared_environment(
    env: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert message in rejected(context(environment=env), tmp_path, capsys)


def test_without_environments_env_other_than_default_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = {k: v for k, v in context(environment="prod").items() if k != "environments"}
    (problem,) = rejected(scenario, tmp_path, capsys)
    assert problem.startswith("- ENV=prod: cdk.json declares no environments")


def test_without_environments_the_app_is_todays_single_agnostic_stack(tmp_path: Path) -> None:
    # given no environments (ENV unset, "default", or empty as make diff/deploy pass it), and
    # the emulator's target, which an app without environments ignores
    for env in (None, "default", ""):
        keys = {"environmentTarget": "aws://123456789012/us-east-1"}
        if env is not None:
            keys["environment"] = env
        scenario = {k: v for k, v in context(**keys).items() if k != "environments"}
        found = stacks(run_app(tmp_path / f"env-{env}", scenario))

        # then the app is the one environment-agnostic top-level stack of today
        assert list(found) == [STACK], env
        assert found[STACK][0] == "aws://unknown-account/unknown-region"


def test_selection_is_pure_data() -> None:
    # the selection rules without a synth: dev is make local's default, a target needs one
    selection = environments.select(context(environmentTarget="aws://123456789012/us-east-1"))
    assert selection.chosen == ("dev",) and selection.target == ("123456789012", "us-east-1")
    no_dev = environments.select(context({"prod": PROD},
                                         environmentTarget="aws://123456789012/us-east-1"))
    assert no_dev.problems == ("ENV is not given and there is no 'dev' environment to deploy "
                               "by default; choose one: ENV=<prod>",)
    assert environments.select(context()).chosen == ("dev", "prod")


def test_the_security_gates_check_every_environments_stacks(tmp_path: Path) -> None:
    # given the app with environments and a bucket that breaks cdk-nag's rules in dev's stage
    app = cdk.App(context=context(), outdir=str(tmp_path))
    build_platform(app)
    s3.Bucket(app.node.find_child("dev").node.find_child(STACK), "UnencryptedInTransit")
    gates.register(app)

    # when it is synthesized, then the gates (registered on the app) fail it, naming the stage
    with pytest.raises(RuntimeError, match="AwsSolutions-S10") as failure:
        app.synth()
    assert f"dev/{STACK}/UnencryptedInTransit/Resource" in str(failure.value)
