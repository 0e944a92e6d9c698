"""Monthly cost from the dated price table: items, deltas, what is unpriced or excluded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assembly_review import cost
from assembly_review.report import review
from assembly_review.template import TIMES as X
from assembly_review.template import Stack, load_assembly

from .conftest import STACK, Case


def lines(stack: Stack) -> dict[tuple[str, str], float | None]:
    return {(line.kind, line.item): line.monthly for line in cost.estimate(stack).lines}


def delta(case: Case) -> float:
    base = cost.estimate(load_assembly(case.base)[STACK])
    head = cost.estimate(load_assembly(case.head)[STACK])
    return round(head.total - base.total, 2)


def test_price_table_is_dated_and_names_its_region() -> None:
    table = json.loads(cost.PRICES_FILE.read_text())
    assert table["date"] == "2026-11-29" and table["region"] == "us-east-1"
    assert cost.price_basis() == "on-demand us-east-1 prices of 2026-11-29"


def test_default_app_is_priced_item_by_item(default_assembly: Path) -> None:
    # us-east-1: t2.medium $0.0464/h, gp3 $0.08/GB-month, classic ELB $0.025/h, NAT $0.045/h,
    # public IPv4 $0.005/h, db.t3.micro $0.017/h, RDS gp3 $0.115/GB-month; 730 h a month
    found = lines(load_assembly(default_assembly)[STACK])
    assert found[("EC2 instances", f"t2.medium {X} 4")] == 135.49
    assert found[("EBS volumes", f"gp3 30 GiB {X} 4")] == 9.60
    assert found[("Load balancers", f"classic ELB {X} 2")] == 36.50
    assert found[("NAT gateways", "NAT gateway")] == 32.85
    assert found[("Public IPv4 addresses", "Elastic IP")] == 3.65
    assert found[("RDS instances", "mysql db.t3.micro single-AZ")] == 12.41
    assert found[("RDS storage", "gp3 20 GiB single-AZ")] == 2.30
    assert found[("KMS customer managed keys", f"{X} 1")] == 1.00
    assert all(value is not None for value in found.values())


@pytest.mark.parametrize(("name", "expected"), [
    ("db_instance_class", 12.41),        # db.t3.micro -> db.t3.small: 730 h x $0.017
    ("db_multi_az", 12.41 + 2.30),       # a standby instance and its storage
    ("instance_type", 242.94 - 135.49),  # 4 x t3.large instead of 4 x t2.medium
    ("image_tag", 0.0),
])
def test_monthly_delta(name: str, expected: float, cases: dict[str, Case]) -> None:
    assert delta(cases[name]) == pytest.approx(expected, abs=0.01)


def test_a_new_service_adds_its_load_balancer(cases: dict[str, Case]) -> None:
    base = lines(load_assembly(cases["service_added"].base)[STACK])
    head = lines(load_assembly(cases["service_added"].head)[STACK])
    assert head[("Load balancers", f"classic ELB {X} 3")] == 54.75
    assert ("Load balancers", f"classic ELB {X} 2") in base


def test_other_region_is_unpriced_never_zero(default_assembly: Path) -> None:
    stack = load_assembly(default_assembly)[STACK]
    result = cost.estimate(Stack(stack.name, stack.template, "eu-west-1"))
    assert result.priced_region is None and "no prices for eu-west-1" in result.region_note
    assert result.lines and all(line.monthly is None for line in result.lines)
    assert result.unpriced == result.lines


def test_unknown_instance_type_and_fixed_charge_types_are_unpriced() -> None:
    template = {"Resources": {
        "Lt": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {
            "InstanceType": "x9.colossal",
            "BlockDeviceMappings": [{"Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}]}}},
        "Asg": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {
            "MinSize": "2", "MaxSize": "6", "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Lt"}}}},
        "Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
    }}
    result = cost.estimate(Stack("S", template, "us-east-1"))
    found = {(line.kind, line.item): line for line in result.lines}
    assert found[("EC2 instances", f"x9.colossal {X} 2")].monthly is None
    assert found[("EC2 instances", f"x9.colossal {X} 2")].note == "scales up to 6"
    assert found[("EBS volumes", f"gp3 8 GiB {X} 2")].monthly == 1.28
    assert found[("Unpriced", "AWS::EC2::VPCEndpoint Endpoint")].monthly is None
    assert found[("CloudWatch alarms", f"{X} 1")].monthly == 0.10
    assert result.total == 1.38


def test_usage_based_charges_are_named_as_excluded(default_assembly: Path) -> None:
    excluded = cost.estimate(load_assembly(default_assembly)[STACK]).excluded
    assert excluded[0] == "data transfer out of AWS and between AZs"
    assert "NAT gateway data processed (per GB)" in excluded
    assert "Container Insights metrics (when enabled)" in excluded


def test_summary_lines_state_figure_date_region_and_exclusions(default_assembly: Path) -> None:
    first, second = cost.monthly_cost_lines(default_assembly)
    total = cost.estimate(load_assembly(default_assembly)[STACK]).total
    assert first.startswith(f"  cost {STACK}: ~${total:,.2f}/month (on-demand us-east-1 prices "
                            "of 2026-11-29; environment-agnostic stack: priced as us-east-1; "
                            "unpriced: none)")
    assert second.startswith("    not counted (usage-based): data transfer")


def test_report_shows_the_cost_delta(cases: dict[str, Case]) -> None:
    from assembly_review.report import render

    case = cases["db_instance_class"]
    text = render(review(load_assembly(case.base), load_assembly(case.head)))
    assert "| RDS instances | mysql db.t3.small single-AZ | — | $24.82 | +$24.82 |" in text
    assert "(**+$12.41**/month)" in text
