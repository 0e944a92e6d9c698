"""The markdown report a reviewer reads: verdict first, grouped by service, empty and green for a
no-op, loud for a destructive change, readable for 20 services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assembly_review.inputs import InputChange
from assembly_review.replacement import SUBNET_GROUP_MOVED
from assembly_review.report import MARKER, Review, render, review
from assembly_review.status import ExitStatus
from assembly_review.template import Stack, load_assembly
from ecs_playground.quotas import INCREASES_METADATA_KEY

from .conftest import Case


def reviewed(case: Case) -> Review:
    return review(load_assembly(case.base), load_assembly(case.head),
                  base_label="`base`", head_label="`head`")


def test_no_op_change_gives_an_empty_green_report(cases: dict[str, Case]) -> None:
    result = reviewed(cases["no_op"])
    text = render(result)
    assert result.exit_code == 0
    assert text.startswith(f"{MARKER}\n## 🟢 Review: no changes\n")
    assert "nothing to deploy" in text
    assert "### Stack" not in text and "```mermaid" not in text
    assert len(text.splitlines()) == 6


def test_in_place_change_is_green_with_verdict_tables_cost_and_diagram(
    cases: dict[str, Case]
) -> None:
    text = render(reviewed(cases["db_instance_class"]))
    assert "## 🟢 Review: safe to merge" in text
    assert ("**Verdict:** 🟢 0 added · 1 changed in place · 0 replaced · 0 removed — no stateful "
            "resource replaced or removed") in text
    assert ("| in-place | `DatabaseInstanceAA8A5FDE` | RDS::DBInstance | Database/Instance | "
            "`DBInstanceClass` `db.t3.micro` → `db.t3.small`: updated in place with some "
            "interruption: RDS moves the instance to the new class and restarts it") in text
    for section in ("#### Resources", "#### Security", "#### Rollout", "#### Cost", "#### Diagram"):
        assert section in text


def test_destructive_change_is_red_and_says_what_happens_to_the_data(
    cases: dict[str, Case]
) -> None:
    result = reviewed(cases["db_construct_renamed"])
    text = render(result)
    assert result.exit_code == 2
    assert text.splitlines()[1].startswith("## 🔴 Review:")
    assert "#### 🔥 Destructive changes" in text
    row = next(line for line in text.splitlines() if line.startswith("| `DbInstanceAA8A5FDE`"))
    assert "(was `DatabaseInstanceAA8A5FDE`)" in row and "database: its data" in row
    assert "deleted after a final snapshot (Snapshot)" in row and "❌ no" in row


def test_conditional_rds_update_says_what_really_happens(cases: dict[str, Case]) -> None:
    result = reviewed(cases["db_multi_az"])
    text = render(result)
    assert result.exit_code == 0
    assert "Multi-AZ on/off is a ModifyDBInstance in place" in text
    assert "may-replace" not in text


def test_replacing_custom_named_services_is_called_a_failed_deploy(cases: dict[str, Case]) -> None:
    result = reviewed(cases["cluster_name"])
    text = render(result)
    assert text.splitlines()[1] == ("## 🟠 Review: no data at risk, but the deployment would fail "
                                    "(2 resources CloudFormation would refuse)")
    # the exit status follows the verdict: a change that cannot deploy is not "safe to merge"
    assert result.exit_code == ExitStatus.DEPLOY_FAILS == 3
    warnings = [line for line in text.splitlines() if "**Will fail to deploy:**" in line]
    assert len(warnings) == 2
    assert "keeps its custom name ServiceName=location" in " ".join(warnings)


def test_image_rollout_names_service_and_images(cases: dict[str, Case]) -> None:
    text = render(reviewed(cases["image_tag"]))
    assert ("| `location` | new revision | location | srirajan/location:10 | srirajan/location:11 "
            "| - |") in text
    assert "**Service `location`**" in text
    assert "_Services without changes: user._" in text


def test_twenty_service_report_is_grouped_by_service(twenty_services: tuple[Path, Path]) -> None:
    base, head = twenty_services
    text = render(review(load_assembly(base), load_assembly(head)))
    groups = [line for line in text.splitlines() if line.startswith("**Service `")]
    assert [g.split("`")[1] for g in groups] == ["svc01", "svc02"]
    unchanged = next(line for line in text.splitlines() if "Services without changes" in line)
    assert unchanged.count(",") == 17
    assert '"18 unchanged services<br/>behind 18 unchanged load balancers"' in text
    assert len(text) < 12_000


def test_stacks_added_and_removed_are_listed_and_a_removed_database_is_destructive() -> None:
    from assembly_review.template import Stack

    database = {"Db": {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot",
                       "Properties": {"DBInstanceClass": "db.t3.micro"}}}
    topic = {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}
    result = review({"Old": Stack("Old", {"Resources": database}, None)},
                    {"New": Stack("New", {"Resources": topic}, None)})
    text = render(result)
    assert "### Stack `New`" in text and "**Verdict:** 🆕 new stack: 1 added" in text
    assert "### Stack `Old`" in text and "🗑️ stack removed: every resource is deleted" in text
    assert result.exit_code == 2
    assert "deleted after a final snapshot (Snapshot)" in text


def test_quota_increases_are_listed_with_new_ones_marked() -> None:
    # given two plans whose stacks recorded the adjustable quotas they exceed (as the platform
    # stack does at synth): one quota still needed, one grown, one no longer needed
    lbs = ("Elastic Load Balancing: Classic Load Balancers per Region (this app): {} > 20; needs "
           "a quota increase: request 'Classic Load Balancers per Region' >= {} in Service Quotas")
    kept = "Amazon ECS: Tasks per service (service web): 6000 > 5000; needs a quota increase"
    gone = "Amazon VPC: Inbound or outbound rules per security group (x): 61 > 60"

    def side(lines: list[str], *topics: str) -> dict[str, Stack]:
        resources = {t: {"Type": "AWS::SNS::Topic", "Properties": {}} for t in topics}
        template = {"Metadata": {INCREASES_METADATA_KEY: lines}, "Resources": resources}
        return {"Platform": Stack("Platform", template, None)}

    base = side([lbs.format(21, 21), kept, gone], "Alarms")
    head = side([lbs.format(22, 22), kept], "Alarms", "OrdersAlarms")
    # when the change is reviewed
    text = render(review(base, head))
    # then the report lists what head needs, marks what is new, and what is no longer needed
    assert "### AWS quotas" in text
    assert f"- {lbs.format(22, 22)} — 🆕 with this change" in text
    assert f"- {kept}\n" in text
    assert f"- ~~{gone}~~" in text and f"~~{lbs.format(21, 21)}~~" in text
    # and a plan within every quota gets no such section
    assert "### AWS quotas" not in render(review(side([], "Alarms"), side([], "Alarms", "B")))


def test_vpc_cidr_change_cannot_deploy_the_db_subnet_group_and_exits_3(
    cases: dict[str, Case]
) -> None:
    # given a VPC CIDR change: the VPC and its subnets are replaced, the DB subnet group is updated
    # in place with the new subnets
    result = reviewed(cases["vpc_cidr"])
    text = render(result)
    # then RDS's refusal to move a subnet group to another VPC is named, and the review exits 3
    assert result.exit_code == ExitStatus.DEPLOY_FAILS
    warning = next(line for line in text.splitlines()
                   if line.startswith("> ⚠️ **Will fail to deploy:** `DatabaseInstanceSubnetGroup"))
    assert "subnets of another VPC" in warning and "(replaced)" in warning
    assert "The new Subnets are not in the same Vpc as the existing subnet group" in warning
    assert text.splitlines()[1].startswith("## 🟠 Review:")


def _resource(kind: str, **props: Any) -> dict[str, Any]:
    return {"Type": kind, "Properties": props}


def _side(**stacks: dict[str, Any]) -> dict[str, Stack]:
    return {name: Stack(name, {"Resources": resources}, None) for name, resources in stacks.items()}


def first_screen(text: str) -> str:
    """What a reviewer sees before the first stack's section."""
    return text.split("\n### ", 1)[0]


def test_first_screen_says_stacks_restarts_total_cost_and_widenings(
    cases: dict[str, Case]
) -> None:
    # given the tutorial's platform with a bigger DB class, plus a new stack with an instance and
    # a security group open to the internet on SSH
    case = cases["db_instance_class"]
    base, head = load_assembly(case.base), dict(load_assembly(case.head))
    orders = {
        "Sg": _resource("AWS::EC2::SecurityGroup", GroupDescription="orders", SecurityGroupIngress=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}]),
        "Host": _resource("AWS::EC2::Instance", InstanceType="t3.micro"),
    }
    head["Orders"] = Stack("Orders", {"Resources": orders}, None)
    # when it is reviewed
    result = review(base, head)
    text = render(result)
    screen = first_screen(text)
    # then the first screen has everything that matters, whatever follows
    assert len(screen.splitlines()) < 25
    assert "- **Stacks:** 🆕 1 added: `Orders` · 🗑️ 0 removed · 1 changed · 0 unchanged" in screen
    assert ("`DatabaseInstanceAA8A5FDE` (RDS::DBInstance, stack `EcsPlayground`): updated in place "
            "with some interruption: RDS moves the instance to the new class and restarts it "
            "(minutes of downtime") in screen
    base_total = sum(s.cost_base.total for s in result.stacks if s.cost_base)
    head_total = sum(s.cost_head.total for s in result.stacks if s.cost_head)
    assert head_total > base_total + 12  # the class change and the new instance
    assert f"- **Monthly cost:** ${base_total:,.2f} → ${head_total:,.2f}" in screen
    assert "over every stack" in screen
    assert "security group ${Sg} in tcp 22 from 0.0.0.0/0 ⚠️ open to the internet" in screen
    assert "- **Data at risk:** none" in screen


def test_attribute_only_change_is_not_counted_as_changed_in_place() -> None:
    topic = _resource("AWS::SNS::Topic")
    tagged = {**topic, "Metadata": {"cfn_nag": {"rules_to_suppress": []}}}
    text = render(review(_side(App={"Topic": topic}), _side(App={"Topic": tagged})))
    assert ("**Verdict:** 🟢 0 added · 0 changed in place · 1 attributes only (resource untouched) "
            "· 0 replaced · 0 removed") in text
    assert "| attributes only | `Topic` |" in text


def test_unused_acknowledgement_is_flagged_even_without_changes() -> None:
    side = _side(App={"Topic": _resource("AWS::SNS::Topic")})
    result = review(side, side, allowed=["DatabaseInstanceTypo"])
    text = render(result)
    assert "## 🟢 Review: no changes" in text
    assert "⚠️ matched no destructive change: `DatabaseInstanceTypo`" in text
    assert result.exit_code == ExitStatus.SAFE


def test_data_loss_outranks_a_failing_deployment() -> None:
    # given one stack that deletes a database and one that moves a DB subnet group to a new VPC
    base = _side(Data={"Db": {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Snapshot",
                              "Properties": {"DBInstanceClass": "db.t3.micro"}}},
                 Net=_net("10.0.0.0/16", "Vpc"))
    head = _side(Data={}, Net=_net("10.1.0.0/16", "Vpc"))
    result = review(base, head)
    assert result.failing and result.unacknowledged
    assert result.exit_code == ExitStatus.DATA_LOSS
    assert render(result).splitlines()[1].startswith("## 🔴 Review:")


def _net(cidr: str, vpc: str) -> dict[str, Any]:
    return {
        vpc: _resource("AWS::EC2::VPC", CidrBlock=cidr),
        "SubnetA": _resource("AWS::EC2::Subnet", VpcId={"Ref": vpc},
                             CidrBlock=cidr.replace("0.0/16", "1.0/24")),
        "Group": _resource("AWS::RDS::DBSubnetGroup", DBSubnetGroupDescription="db",
                           SubnetIds=[{"Ref": "SubnetA"}]),
    }


def test_subnet_group_moved_to_another_vpc_in_place_fails_and_one_kept_does_not() -> None:
    moved = review(_side(Net=_net("10.0.0.0/16", "Vpc")), _side(Net=_net("10.1.0.0/16", "Vpc")))
    group = next(v for s in moved.stacks for v in s.verdicts if v.logical_id == "Group")
    assert group.warnings == [SUBNET_GROUP_MOVED.format(vpcs="Vpc (replaced)")]
    assert moved.exit_code == ExitStatus.DEPLOY_FAILS
    # a subnet replaced within the same VPC is a plain in-place update of the group
    base = _net("10.0.0.0/16", "Vpc")
    head = {**base, "SubnetA": _resource("AWS::EC2::Subnet", VpcId={"Ref": "Vpc"},
                                         CidrBlock="10.0.2.0/24")}
    kept = review(_side(Net=base), _side(Net=head))
    assert kept.exit_code == ExitStatus.SAFE
    verdicts = [v for s in kept.stacks for v in s.verdicts]
    assert verdicts and not [v for v in verdicts if v.warnings]


def test_change_to_what_the_synth_runs_is_on_the_first_screen() -> None:
    side = _side(App={"Topic": _resource("AWS::SNS::Topic")})
    inputs = [InputChange("cdk.json", "app", "python3 app.py", "cat base.json"),
              InputChange("Makefile")]
    text = render(review(side, side, inputs=inputs))
    lines = text.splitlines()
    assert lines[1] == "## 🟢 Review: no changes"
    assert lines[5] == ("> ⚠️ **This change edits what the review itself runs**: `cdk.json` "
                        "`app`: `python3 app.py` → `cat base.json`; `Makefile`. Everything below "
                        "comes from synthesizing with that code: read its diff before trusting "
                        "this report.")


def test_a_catalogs_hundreds_of_arguments_leave_the_verdict_on_the_first_screen() -> None:
    # given a review of a 60-service catalog, passed as some 400 -c arguments
    args = [a for i in range(200) for a in ("-c", f"svc-{i:03}.containerPort={10000 + i}")]
    side = _side(App={"Topic": _resource("AWS::SNS::Topic")})
    text = render(review(side, _side(App={"Topic": _resource("AWS::SNS::Topic", TopicName="t")}),
                         cdk_args=args))
    header = next(line for line in text.splitlines() if line.startswith("BASE "))
    # then the header shows their beginning and how many there are, not 8 KB of them
    assert len(header) < 500, len(header)
    assert "-c svc-000.containerPort=10000" in header
    assert "… (400 arguments in all)" in header
    assert "svc-199" not in header
