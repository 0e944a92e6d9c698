"""One readable JSON snapshot per scenario. Update on purpose only: `make regenerate`, then read
the diff like code. Values that change between machines or CDK releases are masked.

The fixed scenarios (the tutorial's platform, everything on, the constructs alone) change only
with the code. The default app's snapshots, one per stack, follow the user's cdk.json: a pull
request that changes the configuration shows its template change there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import SCENARIOS, Gated
from tests.default_app import stale, templates

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
BOOTSTRAP_QUALIFIER = re.compile(r"hnb659fds")
MASKED_KEYS = {"S3Key", "Analytics"}


def mask_volatile(*, data: Any, path: Any) -> Any:
    """syrupy matcher: hide asset hashes, the bootstrap qualifier and CDK analytics."""
    if path and str(path[-1][0]) in MASKED_KEYS and isinstance(data, str):
        return f"<masked {path[-1][0]}>"
    if isinstance(data, str):
        data = ASSET_HASH.sub("<asset-hash>", data)
        return BOOTSTRAP_QUALIFIER.sub("<bootstrap-qualifier>", data)
    return data


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_template(
    scenario: str, gated: dict[str, Gated], snapshot_json: SnapshotAssertion
) -> None:
    template = Template.from_stack(gated[scenario].stack).to_json()
    assert template == snapshot_json(matcher=mask_volatile), stale(
        f"The {scenario} scenario's snapshot (a fixed scenario: only the code changes it)")


@pytest.mark.follows_cdk_json
def test_default_app(default_app: Path, snapshot_json: SnapshotAssertion) -> None:
    # one snapshot per stack of app.py's assembly, named after the stack: a service stack that
    # a new service brings is a new file in the pull request, a removed one an unused snapshot
    stacks = templates(default_app)
    assert stacks, default_app
    for name, template in sorted(stacks.items()):
        assert template == snapshot_json(name=name, matcher=mask_volatile), stale(
            f"The default app's snapshot of stack {name} (it follows cdk.json)")


def test_masking_hides_only_volatile_values() -> None:
    path = (("S3Key", dict),)
    assert mask_volatile(data="abc.zip", path=path) == "<masked S3Key>"
    assert mask_volatile(data=f"cdk-hnb659fds-assets/{'a' * 64}.zip", path=()) == (
        "cdk-<bootstrap-qualifier>-assets/<asset-hash>.zip"
    )
    assert mask_volatile(data="srirajan/location:10", path=()) == "srirajan/location:10"
    assert mask_volatile(data=8081, path=()) == 8081
