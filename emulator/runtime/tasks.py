"""One ECS task as a process: its image's command from the source, with the environment and
secrets ECS injects from the task definition, listening on its container instance's address.

Each container instance stands for a host of its own: a loopback address ``127.A.B.N`` (Linux
routes all of ``127.0.0.0/8`` to loopback), so every instance has its own host-port space and a
static ``hostPort`` binds there as it would on its instance. The container's network namespace
is the one thing not reproduced: ``LISTEN_HOST`` (when the image declares it) is set to the
instance's address instead of ``0.0.0.0``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from emulator import ACCOUNT_ID, REGION, sdk_environment
from emulator.assets import ImageAsset
from emulator.runtime import pids
from emulator.runtime.image import ImageSource


class TaskError(RuntimeError):
    """A task cannot start (a secret that cannot be read, an image that cannot run)."""


def _secret_value(value_from: str) -> str:
    """A ``secrets[].valueFrom`` as ECS resolves it: a Secrets Manager ARN, optionally with
    ``:json-key:version-stage:version-id``, or an SSM parameter (name or ARN)."""
    if ":secretsmanager:" in value_from:
        from moto.secretsmanager.models import secretsmanager_backends

        parts = value_from.split(":")
        arn, rest = ":".join(parts[:7]), parts[7:]
        key = rest[0] if rest else ""
        stage = rest[1] if len(rest) > 1 else ""
        version = rest[2] if len(rest) > 2 else ""
        backend = secretsmanager_backends[ACCOUNT_ID][REGION]
        try:
            secret = backend.get_secret_value(arn, version, stage)
        except Exception as error:
            raise TaskError(f"unable to retrieve secret from asm: {arn}: {error}") from None
        text = str(secret.get("SecretString") or "")
        if not key:
            return text
        try:
            return str(json.loads(text)[key])
        except (ValueError, KeyError, TypeError):
            raise TaskError(
                f"unable to retrieve secret from asm: retrieved secret from Secrets Manager did "
                f"not contain json key {key}"
            ) from None
    from moto.ssm.models import ssm_backends

    name = value_from.split(":parameter", 1)[-1] if value_from.startswith("arn:") else value_from
    parameter = ssm_backends[ACCOUNT_ID][REGION].get_parameter(name)
    if parameter is None:
        raise TaskError(f"unable to retrieve secrets from ssm: invalid parameters: {name}")
    return str(parameter.value)


@dataclass(frozen=True)
class Database:
    """The local MySQL server standing in for RDS: the instance's endpoint resolves to it."""

    rds_host: str
    rds_port: int
    local_host: str
    local_port: int

    def rewrite(self, name: str, value: str) -> str:
        """The variable as the task sees it through the stand-in (host, and port if they differ)."""
        if value == self.rds_host:
            return self.local_host
        if "PORT" in name.upper() and value == str(self.rds_port):
            return str(self.local_port)
        return value


def task_environment(
    source: ImageSource,
    container: Mapping[str, Any],
    address: str,
    endpoint: str,
    databases: list[Database],
) -> dict[str, str]:
    """The process environment: the image's, then the container definition's ``environment``
    and ``secrets`` (so the task definition wins, as in ECS), the database stand-in, and AWS
    SDK variables pointing at the emulator (the task role's credentials)."""
    env = source.environment()
    if "LISTEN_HOST" in env:
        env["LISTEN_HOST"] = address
    injected = {str(e["name"]): str(e.get("value", "")) for e in container.get("environment", [])}
    for secret in container.get("secrets", []):
        injected[str(secret["name"])] = _secret_value(str(secret["valueFrom"]))
    for name, value in injected.items():
        for database in databases:
            value = database.rewrite(name, value)
        env[name] = value
    env.update(sdk_environment(endpoint))
    return env


@dataclass
class TaskProcess:
    """A started task's process (one essential container)."""

    argv: list[str]
    env: dict[str, str]
    log_path: Path
    state_dir: Path
    label: str
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Spawn it in a process group of its own and record its pid."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pids.record(self.state_dir, self.proc.pid, self.argv, self.label)

    def exit_code(self) -> int | None:
        """The exit code once it has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (ECS's stopTimeout); forget the pid."""
        if self.proc is None:
            return
        pids.terminate(self.proc.pid, grace)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1)
        pids.forget(self.state_dir, self.proc.pid)
        if self._log is not None:
            self._log.close()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of its output (for a stopped reason)."""
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def listening(address: str, port: int, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections at ``address:port``."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def build(
    asset: ImageAsset,
    container: Mapping[str, Any],
    address: str,
    endpoint: str,
    databases: list[Database],
    log_path: Path,
    state_dir: Path,
    label: str,
) -> TaskProcess:
    """The process of a task's container (not started)."""
    source = ImageSource(Path(asset.directory), asset.build_args, asset.dockerfile)
    env = task_environment(source, container, address, endpoint, databases)
    return TaskProcess(source.command(env), env, log_path, state_dir, label)
