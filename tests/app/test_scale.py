"""Many services (issue 13): a stable stack per service, quotas checked at synth, and a
60-service catalog that synthesizes into several stacks within CloudFormation's limits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from ecs_playground import quotas
from ecs_playground_app import config, layout
from ecs_playground_app.app import check_assembly
from ecs_playground_app.catalog import catalog_context, generated_names
from ecs_playground_app.stack import EcsPlaygroundStack, PlatformError
from tests.conftest import build_stack
from tests.tutorial import TUTORIAL_CONTEXT

SIXTY = 60


@pytest.fixture(scope="session")
def sixty() -> tuple[EcsPlaygroundStack, Path]:
    """A 60-service catalog, synthesized once per session (about 20 s on 2 cores)."""
    context = catalog_context(TUTORIAL_CONTEXT, SIXTY)
    app = cdk.App(context=context)
    platform = config.load(app.node.get_all_context())
    stack = EcsPlaygroundStack(app, platform.stack_name, config=platform)
    return stack, Path(app.synth().directory)


def _templates(outdir: Path) -> dict[str, tuple[dict[str, Any], int]]:
    return {f.name.removesuffix(".template.json"): (json.loads(f.read_text()), f.stat().st_size)
            for f in outdir.glob("*.template.json")}


def test_sixty_services_synthesize_into_several_stacks_within_the_limits(
    sixty: tuple[EcsPlaygroundStack, Path],
) -> None:
    _stack, outdir = sixty
    templates = _templates(outdir)
    assert len(templates) >= 3, sorted(templates)
    for name, (template, size) in templates.items():
        assert len(template["Resources"]) <= 400, name
        assert size <= 800 * 1024, name
    check_assembly(outdir)  # raises QuotaError otherwise
    services = sum(
        1 for template, _ in templates.values() for r in template["Resources"].values()
        if r["Type"] == "AWS::ECS::Service"
    )
    assert services == SIXTY


def test_the_platform_stack_never_references_a_service_stack(
    sixty: tuple[EcsPlaygroundStack, Path],
) -> None:
    # given the synthesized catalog, when the platform's template is read,
    # then it imports nothing (references go from the service stacks to the platform only)
    stack, outdir = sixty
    platform = (outdir / f"{stack.stack_name}.template.json").read_text()
    assert "Fn::ImportValue" not in platform
    dependencies = [d.stack_name for s in stack.service_stacks.values() for d in s.dependencies]
    assert dependencies and set(dependencies) == {stack.stack_name}, dependencies


def test_adjustable_quotas_over_their_default_are_listed_not_fatal(
    sixty: tuple[EcsPlaygroundStack, Path],
) -> None:
    stack, outdir = sixty
    metadata = _templates(outdir)[stack.stack_name][0]["Metadata"]
    increases = metadata["EcsPlayground::QuotaIncreases"]
    assert any("Classic Load Balancers per Region" in line and "60 > 20" in line
               for line in increases), increases
    # one inbound rule on the instance security group whatever the catalog; the database's has
    # one per provisioner (1 + platform + service stacks), well under 60
    assert not any("Inbound or outbound rules per security group" in line for line in increases)


def test_sixty_services_share_one_instance_rule_over_their_host_ports(
    sixty: tuple[EcsPlaygroundStack, Path],
) -> None:
    # given the 60-service catalog (host ports 8081, 9091 and 10000-10057 in several stacks)
    stack, outdir = sixty
    templates = _templates(outdir)
    platform = templates[stack.stack_name][0]["Resources"]
    instance_sg = stack.get_logical_id(
        stack.cluster.security_group.node.default_child)  # type: ignore[arg-type]
    # when the rules on the instance security group are collected from every stack,
    rules = [r["Properties"] for template, _ in templates.values()
             for r in template["Resources"].values()
             if r["Type"] == "AWS::EC2::SecurityGroupIngress"
             and "InstanceSecurityGroup" in json.dumps(r["Properties"]["GroupId"])]
    # then there is one, in the platform stack, over the lowest to the highest host port
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(8081, 10000 + SIXTY - 3)]
    assert rules[0]["GroupId"] == {"Fn::GetAtt": [instance_sg, "GroupId"]}
    assert len(stack.cluster.load_balancer_host_ports) == SIXTY
    # and every ELB, in whichever stack, joins the cluster's load balancer group
    group = stack.cluster.load_balancer_security_group
    assert group is not None
    group_id = stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
    assert group_id in platform
    elbs = [r for template, _ in templates.values() for r in template["Resources"].values()
            if r["Type"] == "AWS::ElasticLoadBalancing::LoadBalancer"]
    assert len(elbs) == SIXTY
    assert all(len(e["Properties"]["SecurityGroups"]) == 2 for e in elbs)
    assert all(group_id in json.dumps(e["Properties"]["SecurityGroups"][1]) for e in elbs)


def test_the_tutorial_keeps_everything_in_one_stack() -> None:
    pins = {"location": layout.PLATFORM, "user": layout.PLATFORM}
    assert layout.by_stack(layout.assign(pins, 24)) == {"platform": ["location", "user"]}


def test_adding_or_removing_a_service_moves_no_other() -> None:
    names = generated_names(200)
    before = layout.assign(dict.fromkeys(names), 24)
    added = layout.assign(dict.fromkeys([*names, "new-one", "another"]), 24)
    removed = layout.assign(dict.fromkeys(n for n in names if n not in ("svc-007", "svc-100")),
                            24)
    assert {n: added[n] for n in names} == before
    assert {n: s for n, s in before.items() if n in removed} == removed


def test_a_pin_overrides_the_hash_and_moves_only_that_service() -> None:
    names = generated_names(50)
    hashed = layout.assign(dict.fromkeys(names), 24)
    pinned = layout.assign({**dict.fromkeys(names), "svc-003": "7"}, 24)
    assert pinned["svc-003"] == "Services07"
    assert {n: s for n, s in pinned.items() if n != "svc-003"} == {
        n: s for n, s in hashed.items() if n != "svc-003"}


def test_two_hundred_services_spread_over_the_buckets_within_budget() -> None:
    # ~18 resources per service + ~14 per service stack: the fullest bucket must stay < 400
    stacks = layout.by_stack(layout.assign(dict.fromkeys(generated_names(200)), 24))
    assert max(len(s) for s in stacks.values()) * 18 + 14 <= 400


def test_a_stack_over_the_resource_budget_fails_with_the_numbers_and_the_fix() -> None:
    template = {"Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(401)}}
    with pytest.raises(quotas.QuotaError) as raised:
        quotas.check(quotas.template_usages("EcsPlayground-Services03", template, 1000))
    message = str(raised.value)
    assert "stack EcsPlayground-Services03" in message
    assert "401 > 400" in message
    assert "<service>.stack" in message and "a hard limit" in message


def test_too_many_security_group_rules_is_a_hard_failure() -> None:
    # 501 allowed CIDRs on each ELB: its own group, with the cluster's load balancer group on
    # the same interface, needs quotas whose product (501 x 2) AWS does not allow
    counts = quotas.PlanCounts(cluster="app01", load_balancers=2,
                               listeners_per_load_balancer=1, services=2,
                               most_tasks={}, instance_sg_inbound_rules=1,
                               load_balancer_sg_inbound_rules=501)
    with pytest.raises(quotas.QuotaError, match=r"501 rules x 2 security groups\): 1002 > 1000"):
        quotas.check(quotas.plan_usages(counts))


def test_the_instance_rules_do_not_grow_with_the_catalog_the_database_rules_do() -> None:
    # given 200 services in 24 service stacks, plus the platform's two services
    counts = quotas.PlanCounts(cluster="app01", load_balancers=202,
                               listeners_per_load_balancer=1, services=202, most_tasks={},
                               instance_sg_inbound_rules=1, database_sg_inbound_rules=26,
                               load_balancer_sg_inbound_rules=1)
    # when the security group quotas are checked, then none needs an increase
    over = [u for u in quotas.plan_usages(counts) if u.over]
    assert [u.quota for u in over] == [quotas.CLASSIC_LBS_PER_REGION]
    # but 60 service stacks would put 62 rules on the database's group: an increase, named
    counts = dataclasses.replace(counts, database_sg_inbound_rules=62)
    (rules,) = [u for u in quotas.check(quotas.plan_usages(counts))
                if u.quota is quotas.INBOUND_RULES_PER_SG]
    assert rules.where == "database security group"
    assert "request 'Inbound or outbound rules per security group' >= 62" in rules.render()


def test_a_host_port_clash_fails_the_synth_naming_both_services() -> None:
    with pytest.raises(PlatformError) as raised:
        build_stack(**{"user.hostPort": 8081})
    message = str(raised.value)
    assert "host port 8081" in message
    assert "'user'" in message and "'location'" in message


def test_a_stack_pin_outside_the_buckets_is_refused() -> None:
    with pytest.raises((PlatformError, config.ConfigError), match=r"user.stack = '99'"):
        build_stack(**{"user.stack": 99})
