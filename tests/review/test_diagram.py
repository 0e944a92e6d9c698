"""The Mermaid diagram: generated from the assembly, accepted by Mermaid's own parser (the pinned
npm package, under Node), docs/architecture.md kept in sync, changed nodes marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from assembly_review.diagram import (
    build,
    mermaid,
    parse_errors,
)
from assembly_review.report import Review, review
from assembly_review.template import TIMES as X
from assembly_review.template import load_assembly

from .conftest import STACK, Case
from .synth_app import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def reviewed(case: Case) -> Review:
    return review(load_assembly(case.base), load_assembly(case.head))


def node_line(diagram: str, text: str) -> str:
    return next(line for line in diagram.splitlines() if text in line)


@pytest.fixture(scope="module")
def parsed(cases: dict[str, Case], twenty_services: tuple[Path, Path], default_assembly: Path,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, dict[str, str]]:
    """One run of Mermaid's parser (Node starts once) over docs/architecture.md, the review
    diagram of every change and of the 20-service app, and a deliberately broken file."""
    folder = tmp_path_factory.mktemp("mermaid")
    files = [ARCHITECTURE]
    for name, case in cases.items():
        files.append(folder / f"{name}.mmd")
        files[-1].write_text(reviewed(case).stacks[0].diagram)
    base, head = twenty_services
    files.append(folder / "twenty.mmd")
    files[-1].write_text(review(load_assembly(base), load_assembly(head)).stacks[0].diagram)
    good = mermaid(build(load_assembly(default_assembly)[STACK]))
    broken = folder / "broken.md"
    # an unquoted label with parentheses, and a subgraph that is never closed
    broken.write_text("```mermaid\n" + good.replace('"Internet<br/>0.0.0.0/0"',
                                                      "Internet (0.0.0.0/0)")
                      + "```\n\n```mermaid\nflowchart LR\n  subgraph a\n  x --> y\n```\n")
    return files, broken, parse_errors([*files, broken])


def test_every_generated_diagram_parses_with_mermaid(
    parsed: tuple[list[Path], Path, dict[str, str]]
) -> None:
    files, broken, errors = parsed
    assert len(files) == 16
    assert {k: v for k, v in errors.items() if not k.startswith(str(broken))} == {}


def test_mermaid_check_rejects_a_broken_diagram(
    parsed: tuple[list[Path], Path, dict[str, str]]
) -> None:
    _files, broken, errors = parsed
    assert {k for k in errors if k.startswith(str(broken))} == {f"{broken}#0", f"{broken}#1"}
    assert "Parse error" in errors[f"{broken}#0"]


def test_diagram_shows_the_path_from_internet_to_database(default_assembly: Path) -> None:
    diagram = mermaid(build(load_assembly(default_assembly)[STACK]))
    assert 'peer_0_0_0_0_0(("Internet<br/>0.0.0.0/0"))' in diagram
    assert '-->|"tcp :8081"| elb_ServicesLocationLoadBalancer2ECC3FDD' in diagram
    assert ("elb_ServicesLocationLoadBalancer2ECC3FDD -->|\":8081\"| "
            "svc_ServicesLocationService4D45543D") in diagram
    assert f'subgraph cluster_ClusterC2E21B66["ECS cluster app01 · EC2 4 {X} t2.medium"]' in diagram
    assert 'cluster_ClusterC2E21B66 -->|"tcp :3306"| db_DatabaseInstanceAA8A5FDE' in diagram
    assert "subgraph tier_Isolated[" in diagram and "subgraph tier_Public[" in diagram
    assert "secret_DatabaseSecret3B817195 -.->" in diagram


@pytest.mark.parametrize(("name", "node", "state"), [
    ("db_instance_class", "db_DatabaseInstanceAA8A5FDE", "changed"),
    ("db_encryption_key", "db_DatabaseInstanceAA8A5FDE", "replaced"),
    ("service_added", "svc_ServicesOrdersService", "added"),
    ("service_removed", "svc_ServicesOrdersService", "removed"),
    ("listener_port", "elb_ServicesLocationLoadBalancer2ECC3FDD", "changed"),
])
def test_changed_nodes_are_marked(name: str, node: str, state: str,
                                  cases: dict[str, Case]) -> None:
    diagram = reviewed(cases[name]).stacks[0].diagram
    marked = [line for line in diagram.splitlines()
              if line.strip().startswith("class ") and line.strip().endswith(f" {state}")]
    assert marked and node in marked[0], diagram


def test_renamed_database_is_one_replaced_node(cases: dict[str, Case]) -> None:
    diagram = reviewed(cases["db_construct_renamed"]).stacks[0].diagram
    assert "db_DbInstanceAA8A5FDE" in node_line(diagram, "RDS mysql")
    assert "db_DatabaseInstanceAA8A5FDE" not in diagram
    assert "⟳ REPLACED<br/>RDS mysql" in diagram


def test_unchanged_app_has_no_marks(cases: dict[str, Case]) -> None:
    diagram = reviewed(cases["no_op"]).stacks[0].diagram
    assert "classDef" not in diagram and "class " not in diagram
