"""docs/constructs.md: every python block runs as written, and the page shows each piece of the
surface an importer uses."""

from __future__ import annotations

import pytest

from ..conftest import ROOT
from .doc_blocks import DocumentedBlocks, python_blocks

PAGE = ROOT / "docs" / "constructs.md"


def test_the_page_shows_every_surface_piece_in_keyword_style() -> None:
    code = "\n".join(block for _, block in python_blocks(PAGE))
    assert code
    for piece in ("connections.allow_default_port_from(", ".metric_latency(",
                  ".metric_cpu_reservation(", ".grant_connect(", "IServiceCluster",
                  "DatabaseUsers(stack, \"DatabaseUsers\", database=", "ExistingMySqlDatabase(",
                  "Monitoring(stack,"):
        assert piece in code, piece
    assert "Props(" not in code  # keyword style, as aws-cdk-lib's constructs are called


@pytest.mark.slow
def test_every_python_block_runs_as_written(documented_blocks: DocumentedBlocks) -> None:
    page = PAGE.relative_to(ROOT).as_posix()
    assert len(python_blocks(PAGE)) >= 5
    documented_blocks.assert_page_ran(page)
    assert "iam_authentication = False: allowed True, for grant_connect" in (
        documented_blocks.output(page))
