"""One emulator per session (free 127.0.0.1 port, temp state), bootstrapped once; the real app
deploys into it.

The session's state directory is the one ``python -m emulator up`` uses in the tests, so
``up`` deploys into the session's emulator, as ``make local`` does into a running one. A test
that kills it leaves the next ``up`` to start another: :attr:`Session.emulator` always
answers with the emulator the state directory describes now.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator import ACCOUNT_ID, REGION, cdk, process
from emulator.compat.notes import KINDS
from tests.integration.inventory import Clients, clients_for

REPO = Path(__file__).resolve().parents[2]
STACK = "EcsPlayground"
IMAGES = ["-c", "user.image=srirajan/user:10", "-c", "location.image=srirajan/location:10"]
ECHO_TYPE = "Custom::EmulatorEcho"
"""A custom resource type the session's emulator answers with its own Lambda code."""

requires_cli = pytest.mark.skipif(
    not cdk.cdk_binary().exists(), reason="pinned CDK CLI not installed (npm ci)"
)


@dataclass
class Session:
    """The session's emulator and where the app's cloud assembly goes."""

    state_dir: Path
    assembly: Path
    _clients: dict[str, Clients] = field(default_factory=dict)

    @property
    def emulator(self) -> process.Emulator:
        """The emulator the state directory describes now."""
        emulator = process.read_state(self.state_dir)
        assert emulator is not None, f"no emulator in {self.state_dir}"
        return emulator

    def clients(self, service: str) -> Any:
        """A boto3 client of the current emulator."""
        endpoint = self.emulator.endpoint
        if endpoint not in self._clients:
            self._clients[endpoint] = clients_for(endpoint)
        return self._clients[endpoint](service)

    def cdk(self, *args: str) -> cdk.Result:
        """Run the pinned CLI against this emulator, in the app directory."""
        return cdk.run([*args, "-o", str(self.assembly)], self.emulator.endpoint, REPO)

    def destroy(self) -> cdk.Result:
        """``cdk destroy --all`` of the last cloud assembly (no synth: destroy reads the stacks)."""
        return cdk.run(
            ["destroy", "--all", "--force", "--app", str(self.assembly)],
            self.emulator.endpoint,
            REPO,
        )

    def up_command(self, *options: str) -> list[str]:
        """``python -m emulator up`` on the session's state directory and cloud assembly."""
        emulator = [sys.executable, "-m", "emulator", "--state-dir", str(self.state_dir)]
        return [*emulator, "up", "-o", str(self.assembly), *options]

    def up(self, *options: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m emulator up`` (what ``make local`` runs) to the end."""
        return subprocess.run(
            self.up_command(*options),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def template(self, stack: str = STACK) -> dict[str, Any]:
        """The synthesized template of the last CLI run."""
        return json.loads((self.assembly / f"{stack}.template.json").read_text())


def emulated_counts(output: str) -> dict[str, int]:
    """The counts ``up`` prints under "emulated, not as on AWS", by note kind."""
    counts = {}
    for kind, label in KINDS.items():
        found = re.findall(rf"^    {re.escape(label)}: (\d+)", output, flags=re.MULTILINE)
        assert len(found) == 1, f"'{label}' printed {len(found)} times in:\n{output}"
        counts[kind] = int(found[0])
    return counts


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Start the emulator, bootstrap it; stop it and remove the temp dirs afterwards."""
    root = tmp_path_factory.mktemp("emulator")
    state_dir = root / "state"
    emulator = process.start(state_dir, lambda_custom_resources=[ECHO_TYPE])
    try:
        result = cdk.run(
            ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"], emulator.endpoint, state_dir
        )
        assert result.returncode == 0, result.output
        yield Session(state_dir, root / "cdk.out")
    finally:
        process.stop(state_dir)
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One emulator per session, tests in file order: under pytest-xdist (make test), every
    emulator test runs on the same worker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("emulator"))
