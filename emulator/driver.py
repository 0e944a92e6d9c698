"""``make local`` / ``make local-stop``: bootstrap and deploy the app into a loopback emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator import ACCOUNT_ID, REGION, cdk, process, report

# The tutorial's published images: the emulator cannot build or push Docker images,
# so the services run these unless the user passes other ``-c SERVICE.image=...``.
DEFAULT_IMAGES = ("user.image=srirajan/user:10", "location.image=srirajan/location:10")


@dataclass
class UpOptions:
    """What ``up`` deploys and where it keeps its state."""

    app_dir: Path
    state_dir: Path
    context: list[str] = field(default_factory=list)
    output_dir: Path | None = None


class DriverError(RuntimeError):
    """A step failed; the message says which and what to do."""


def _context_args(context: Sequence[str]) -> list[str]:
    given = {c.split("=", 1)[0] for c in context}
    merged = [c for c in DEFAULT_IMAGES if c.split("=", 1)[0] not in given] + list(context)
    return [arg for item in merged for arg in ("-c", item)]


def _output_args(options: UpOptions) -> list[str]:
    return ["-o", str(options.output_dir)] if options.output_dir else []


def _step(
    name: str, args: list[str], emulator: process.Emulator, cwd: Path, out: Callable[[str], None]
) -> float:
    """Run one CLI step in ``cwd``; a failure (or the emulator dying under it) raises
    :class:`DriverError`.
    """
    out(f"==> {name}: cdk {' '.join(args)}")
    result = cdk.run(args, emulator.endpoint, cwd, echo=lambda line: out(f"    {line}"))
    if result.returncode == 0:
        out(f"==> {name}: done in {result.seconds:.1f}s")
        return result.seconds
    if not process.alive(emulator):
        raise DriverError(
            f"{name} failed: the emulator (pid {emulator.pid}, port {emulator.port}) stopped while "
            f"'cdk {args[0]}' was running; see {emulator.log}. "
            "Run 'make local' again to start over."
        )
    raise DriverError(
        f"{name} failed (cdk exit code {result.returncode}); the CLI output is above."
    )


def up(options: UpOptions, out: Callable[[str], None] = print) -> dict[str, float]:
    """Start a fresh emulator, bootstrap, deploy all stacks, print what runs; return timings."""
    if process.stop(options.state_dir):
        out("==> stopped the emulator left by a previous run")
    started = time.monotonic()
    emulator = process.start(options.state_dir)
    out(f"==> emulator: moto on {emulator.endpoint} (pid {emulator.pid}), log {emulator.log}")
    timings = {"start": time.monotonic() - started}
    context = _context_args(options.context)
    try:
        # Outside the app directory the CLI bootstraps the named environment
        # without synthesizing the app.
        bootstrap = ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"]
        timings["bootstrap"] = _step("bootstrap", bootstrap, emulator, options.state_dir, out)
        deploy = [
            "deploy",
            "--all",
            "--require-approval",
            "never",
            *context,
            *_output_args(options),
        ]
        timings["deploy"] = _step("deploy", deploy, emulator, options.app_dir, out)
    except DriverError:
        process.stop(options.state_dir)
        raise
    report.print_report(emulator.endpoint, out)
    _print_next_steps(emulator, out)
    return timings


def _print_next_steps(emulator: process.Emulator, out: Callable[[str], None]) -> None:
    out("")
    out(f"The emulator keeps running on {emulator.endpoint} (pid {emulator.pid}). Explore it with:")
    out(
        f"    export AWS_ENDPOINT_URL={emulator.endpoint} AWS_ACCESS_KEY_ID=testing "
        f"AWS_SECRET_ACCESS_KEY=testing AWS_REGION={REGION}"
    )
    out(
        "    aws ecs describe-services --cluster app01 --services "
        "$(aws ecs list-services --cluster app01 --query 'serviceArns' --output text)"
    )
    out("Stop it with: make local-stop")


def down(state_dir: Path, out: Callable[[str], None] = print) -> None:
    """Stop the emulator (idempotent)."""
    if process.stop(state_dir):
        out("==> emulator stopped")
    else:
        out("==> no emulator was running")


def status(state_dir: Path, out: Callable[[str], None] = print) -> int:
    """Print what runs in the emulator of ``state_dir``; 1 if none is running."""
    emulator = process.read_state(state_dir)
    if emulator is None or not process.alive(emulator):
        out("==> no emulator is running (make local starts one)")
        return 1
    report.print_report(emulator.endpoint, out)
    return 0
