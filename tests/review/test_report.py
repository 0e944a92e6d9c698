"""The markdown report a reviewer reads: verdict first, grouped by service, empty and green for a
no-op, loud for a destructive change, readable for 20 services."""

from __future__ import annotations

from pathlib import Path

from ecs_playground.platform.review.report import MARKER, Review, render, review
from ecs_playground.platform.review.template import Stack, load_assembly
from ecs_playground.quotas import INCREASES_METADATA_KEY

from .conftest import Case
from .synth_app import ROOT


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
    text = render(reviewed(cases["cluster_name"]))
    assert text.splitlines()[1] == ("## 🟠 Review: no data at risk, but the deployment would fail "
                                    "(2 custom-named resources replaced under the same name)")
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
    from ecs_playground.platform.review.template import Stack

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


def test_ci_workflow_finds_its_comment_by_the_report_marker() -> None:
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert f"const marker = '{MARKER}';" in workflow
    assert 'make review BASE="origin/${BASE_REF}"' in workflow
    assert "bash .ci/run" in workflow


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
