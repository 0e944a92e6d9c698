"""One emulator per session (free 127.0.0.1 port, temp state), bootstrapped once, for the small
hand-written apps; test_local.py, where the real app deploys, starts one of its own.

The session's state directory is the one ``python -m emulator up`` uses in the tests, so
``up`` deploys into the session's emulator, as ``make local`` does into a running one. A test
that kills it leaves the next ``up`` to start another: :attr:`Session.emulator` always
answers with the emulator the state directory describes now.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator import ACCOUNT_ID, REGION, cdk, driver, process
from emulator.compat.notes import KINDS
from tests.conftest import EVERYTHING_ON
from tests.emulator.inventory import Clients, clients_for
from tests.tutorial import write_cdk_json

REPO = Path(__file__).resolve().parents[2]
STACK = "EcsPlayground"
IMAGES = ["-c", "user.image=srirajan/user:10", "-c", "location.image=srirajan/location:10"]
MANIFEST_VERSION = "55.0.0"
ECHO_TYPE = "Custom::EmulatorEcho"
"""A custom resource type the session's emulator answers with its own Lambda code."""



def readme_catalog_context() -> dict[str, str]:
    """The context of docs/emulator.md's second platform with its 6-service catalog."""
    text = (REPO / "docs" / "emulator.md").read_text(encoding="utf-8")
    match = re.search(r'make local CDK_ARGS="(-c stackName=EcsPlaygroundTwo [^"]*)"', text)
    assert match, "docs/emulator.md: the 'make local' command of the 6-service catalog is gone"
    args = shlex.split(match.group(1).replace("\\\n", " "))
    assert args[::2] == ["-c"] * (len(args) // 2), args
    return dict(arg.split("=", 1) for arg in args[1::2])


README_CONTEXT = readme_catalog_context()
TWIN = README_CONTEXT["stackName"]
TWIN_EXTRA = {
    # the 'everything on' scenario of tests/conftest.py, and a database cdk destroy may delete
    # (with its final snapshot, as -c db.deletionProtection=false promises)
    **EVERYTHING_ON,
    "db.deletionProtection": "false",
}


def context_items(context: dict[str, Any]) -> list[str]:
    """KEY=VALUE items (lists as JSON) for ``-c``."""

    def text(value: Any) -> str:
        return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)

    return [f"{key}={text(value)}" for key, value in context.items()]


class BackgroundSynth:
    """``cdk synth`` of the app into a directory, started now, waited for when needed: the
    synth overlaps the tests before the one that deploys its assembly."""

    def __init__(self, context: list[str], output: Path, app_dir: Path) -> None:
        self.output = output
        self.log = output.with_suffix(".log")
        with self.log.open("w") as log:
            self._process = subprocess.Popen(
                [str(cdk.cdk_binary()), "synth", "--quiet", "--no-notices", "-o", str(output),
                 *driver.context_args(context)],
                cwd=app_dir,
                env=cdk.environment("http://127.0.0.1:9"),  # synth calls no AWS API
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def assembly(self) -> Path:
        """The synthesized cloud assembly (waits for the synth; fails with its output)."""
        returncode = self._process.wait(timeout=600)
        assert returncode == 0, self.log.read_text()
        return self.output

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


requires_cli = pytest.mark.skipif(
    not cdk.cdk_binary().exists(), reason="pinned CDK CLI not installed (npm ci)"
)


@dataclass
class Session:
    """The session's emulator, the app it deploys and where the app's cloud assembly goes."""

    state_dir: Path
    assembly: Path
    app_dir: Path
    """Where the CLI runs the app: the tutorial's fixed scenario (``tests/tutorial.py``), a
    ``cdk.json`` of its own, so the user's ``cdk.json`` never changes what the tests deploy."""
    twin_synth: BackgroundSynth | None = None
    """The twin's synth, once test_local.py has started it (start_twin_synth)."""
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

    def start_twin_synth(self) -> None:
        """Start synthesizing the twin's cloud assembly in the background (once)."""
        if self.twin_synth is None and cdk.cdk_binary().exists():
            self.twin_synth = BackgroundSynth(
                context_items({**README_CONTEXT, **TWIN_EXTRA}),
                self.assembly.parent / "twin.out",
                self.app_dir,
            )

    def cdk(self, *args: str) -> cdk.Result:
        """Run the pinned CLI against this emulator, in the app directory."""
        return cdk.run([*args, "-o", str(self.assembly)], self.emulator.endpoint, self.app_dir)

    def destroy(self) -> cdk.Result:
        """``cdk destroy --all`` of the last cloud assembly (no synth: destroy reads the stacks)."""
        return cdk.run(
            ["destroy", "--all", "--force", "--app", str(self.assembly)],
            self.emulator.endpoint,
            self.app_dir,
        )

    def up_command(self, *options: str, output: bool = True) -> list[str]:
        """``python -m emulator up`` on the session's state directory, of the session's app
        unless ``options`` name another (``--app-dir``, ``--app``), and, with `output`,
        synthesizing into the session's cloud assembly."""
        emulator = [sys.executable, "-m", "emulator", "--state-dir", str(self.state_dir)]
        app = [] if {"--app-dir", "--app"} & set(options) else ["--app-dir", str(self.app_dir)]
        return [*emulator, "up", *app, *(["-o", str(self.assembly)] if output else []), *options]

    def start_up(self, app: Path) -> subprocess.Popen[str]:
        """``python -m emulator up --app-dir APP`` started, not waited for: its output line by
        line (unbuffered), for a test that acts while it runs."""
        return subprocess.Popen(
            self.up_command("--app-dir", str(app), output=False),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def up(self, *options: str, output: bool = True, timeout: int = 600
           ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m emulator up`` (what ``make local`` runs) to the end."""
        return subprocess.run(
            self.up_command(*options, output=output),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def template(self, stack: str = STACK) -> dict[str, Any]:
        """The synthesized template of the last CLI run."""
        return json.loads((self.assembly / f"{stack}.template.json").read_text())


def write_stack(assembly: Path, stack: str, template: dict[str, Any]) -> None:
    """Write a cloud assembly's manifest with one stack, and its template."""
    manifest = {
        "version": MANIFEST_VERSION,
        "artifacts": {
            stack: {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{ACCOUNT_ID}/{REGION}",
                "properties": {"templateFile": f"{stack}.template.json"},
            }
        },
    }
    (assembly / "manifest.json").write_text(json.dumps(manifest))
    (assembly / f"{stack}.template.json").write_text(json.dumps(template))


def small_app(folder: Path, stack: str, resources: dict[str, Any]) -> Path:
    """A CDK app directory whose ``app`` is a ready cloud assembly with one hand-written stack:
    ``up --app-dir`` deploys it without a synth."""
    assembly = folder / "assembly"
    assembly.mkdir(parents=True, exist_ok=True)
    write_stack(assembly, stack, {"Resources": resources})
    (folder / "cdk.json").write_text(json.dumps({"app": "assembly"}))
    return folder


def emulated_counts(output: str) -> dict[str, int]:
    """The counts ``up`` prints under "emulated, not as on AWS", by note kind."""
    counts = {}
    for kind, label in KINDS.items():
        found = re.findall(rf"^    {re.escape(label)}: (\d+)", output, flags=re.MULTILINE)
        assert len(found) == 1, f"'{label}' printed {len(found)} times in:\n{output}"
        counts[kind] = int(found[0])
    return counts


@contextmanager
def emulator_session(root: Path, lambda_custom_resources: Sequence[str]) -> Iterator[Session]:
    """An emulator of its own (state in root), bootstrapped; stopped and removed afterwards."""
    state_dir = root / "state"
    session = None
    try:
        emulator = process.start(state_dir, lambda_custom_resources=lambda_custom_resources)
        result = cdk.run(
            ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"], emulator.endpoint, state_dir
        )
        assert result.returncode == 0, result.output
        app_dir = root / "app"
        app_dir.mkdir()
        write_cdk_json(app_dir, REPO)
        session = Session(state_dir, root / "cdk.out", app_dir)
        yield session
    finally:
        if session is not None and session.twin_synth is not None:
            session.twin_synth.stop()
        process.stop(state_dir)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The small apps' emulator, which also runs ECHO_TYPE's Lambda code (test_local.py has
    its own)."""
    with emulator_session(tmp_path_factory.mktemp("emulator"), [ECHO_TYPE]) as session:
        yield session
