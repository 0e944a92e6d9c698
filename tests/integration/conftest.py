"""One emulator per session (free 127.0.0.1 port, temp state), bootstrapped once; the real app
deploys into it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import ACCOUNT_ID, REGION, cdk, process
from tests.integration.inventory import Clients, clients_for

REPO = Path(__file__).resolve().parents[2]
STACK = "EcsPlayground"
IMAGES = ["-c", "user.image=srirajan/user:10", "-c", "location.image=srirajan/location:10"]

requires_cli = pytest.mark.skipif(
    not cdk.cdk_binary().exists(), reason="pinned CDK CLI not installed (npm ci)"
)


@dataclass
class Session:
    """The session's emulator and where the app's cloud assembly goes."""

    emulator: process.Emulator
    state_dir: Path
    assembly: Path
    clients: Clients

    def cdk(self, *args: str) -> cdk.Result:
        """Run the pinned CLI against this emulator, in the app directory."""
        return cdk.run([*args, "-o", str(self.assembly)], self.emulator.endpoint, REPO)

    def template(self, stack: str = STACK) -> dict[str, Any]:
        """The synthesized template of the last CLI run."""
        return json.loads((self.assembly / f"{stack}.template.json").read_text())


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Start the emulator, bootstrap it; stop it and remove the temp dirs afterwards."""
    root = tmp_path_factory.mktemp("emulator")
    state_dir = root / "state"
    emulator = process.start(state_dir)
    try:
        result = cdk.run(
            ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"], emulator.endpoint, state_dir
        )
        assert result.returncode == 0, result.output
        yield Session(emulator, state_dir, root / "cdk.out", clients_for(emulator.endpoint))
    finally:
        process.stop(state_dir)
        shutil.rmtree(root, ignore_errors=True)
