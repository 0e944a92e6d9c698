"""Security changes: at least what `cdk diff`'s security tables show, with widening marked."""

from __future__ import annotations

import pytest

from assembly_review import security
from assembly_review.template import Stack, load_assembly

from . import cli_diff
from .conftest import SINGLE_DIFFS, STACK, Case


def compare(case: Case) -> security.SecurityChanges:
    return security.compare(load_assembly(case.base)[STACK], load_assembly(case.head)[STACK])


@pytest.mark.cli
@pytest.mark.parametrize("name", SINGLE_DIFFS)
def test_security_changes_cover_the_cli_tables(
    name: str, cases: dict[str, Case], single_diffs: dict[str, str]
) -> None:
    rows = cli_diff.security_rows(single_diffs[name])
    assert rows, "the CLI shows no security table for this change: pick one that has one"
    changes = compare(cases[name])
    ours = {
        "IAM Statement Changes": {"+": len(changes.statements_added),
                                  "-": len(changes.statements_removed)},
        "IAM Policy Changes": {"+": len(changes.managed_added), "-": len(changes.managed_removed)},
        "Security Group Changes": {"+": len(changes.rules_added), "-": len(changes.rules_removed)},
    }
    for table, counts in rows.items():
        assert ours[table] == counts, (table, ours[table], counts)


@pytest.mark.cli
@pytest.mark.parametrize("name", SINGLE_DIFFS)
def test_batched_cli_diff_says_what_a_single_call_says(
    name: str, batched_diff: dict[str, str], single_diffs: dict[str, str]
) -> None:
    assert cli_diff.verdicts(batched_diff[name]) == cli_diff.verdicts(single_diffs[name])
    assert cli_diff.verdicts(single_diffs[name])


def test_new_service_opens_its_port_to_the_internet_and_says_so(cases: dict[str, Case]) -> None:
    changes = compare(cases["service_added"])
    public = [r for r in changes.rules_added if r.peer == "0.0.0.0/0"]
    assert [(r.direction, r.protocol, r.ports) for r in public] == [("in", "tcp", "7071")]
    assert public[0].widening == ["open to the internet", "plain HTTP listener (no TLS)"]
    assert changes.widening_count == len(changes.statements_added) + len(changes.rules_added)


def test_listener_port_change_swaps_the_public_rule(cases: dict[str, Case]) -> None:
    changes = compare(cases["listener_port"])
    assert [r.ports for r in changes.rules_added] == ["80"]
    assert [r.ports for r in changes.rules_removed] == ["8081"]
    assert changes.statements_added == changes.statements_removed == ()


def _stack(statement: dict[str, object], rule: dict[str, object]) -> Stack:
    return Stack("S", {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]},
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}],
        }},
        "Group": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "g", "SecurityGroupIngress": [rule]}},
    }}, None)


def test_wildcards_and_open_rules_are_marked_as_widening() -> None:
    scoped = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    broad = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    narrow_rule = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"}
    open_rule = {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}
    changes = security.compare(_stack(scoped, narrow_rule), _stack(broad, open_rule))
    [added] = changes.statements_added
    assert added.widening == ["wildcard action", "any resource"]
    [rule] = changes.rules_added
    assert rule.widening == ["open to the internet", "all ports"]
    assert [s.actions for s in changes.statements_removed] == ["s3:GetObject"]
    assert changes.widening_count == 2


def test_unchanged_policies_give_no_security_changes(cases: dict[str, Case]) -> None:
    assert compare(cases["db_instance_class"]).empty


def _elb_stack(protocol: str, port: int, egress: list[dict[str, object]]) -> Stack:
    """A classic ELB with one listener, its group admitting that port from anywhere."""
    return Stack("S", {"Resources": {
        "Lb": {"Type": "AWS::ElasticLoadBalancing::LoadBalancer", "Properties": {
            "Listeners": [{"LoadBalancerPort": str(port), "Protocol": protocol,
                           "InstancePort": "8081", "InstanceProtocol": "HTTP"}],
            "SecurityGroups": [{"Fn::GetAtt": ["LbGroup", "GroupId"]}]}},
        "LbGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "lb", "SecurityGroupIngress": [
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "CidrIp": "0.0.0.0/0"}]}},
        "Instances": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "instances", "SecurityGroupEgress": egress}},
    }}, None)


def test_a_plain_http_listener_opened_is_marked_and_https_is_not() -> None:
    # given a change from an HTTPS listener on 443 to plain HTTP on 80 (a certificate removed)
    changes = security.compare(_elb_stack("HTTPS", 443, []), _elb_stack("HTTP", 80, []))
    [added] = changes.rules_added
    # then the new ingress says it reaches a plain-HTTP listener
    assert added.widening == ["open to the internet", "plain HTTP listener (no TLS)"]
    # and the other way round, the HTTPS ingress is only open to the internet
    [back] = security.compare(_elb_stack("HTTP", 80, []), _elb_stack("HTTPS", 443, [])
                              ).rules_added
    assert back.widening == ["open to the internet"]


def test_an_outbound_rule_to_the_internet_is_marked() -> None:
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
    everything = {"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}
    changes = security.compare(_elb_stack("HTTPS", 443, [https]),
                               _elb_stack("HTTPS", 443, [everything]))
    [added] = changes.rules_added
    assert added.widening == ["to the internet", "all ports"]
    assert [r.widening for r in changes.rules_removed] == [["to the internet"]]
