"""``make local`` / ``make local-stop``: bootstrap and deploy the app into a loopback emulator.

``up`` deploys into the emulator of its state directory when one is running (an update,
as ``cdk deploy`` updates a stack on AWS), else starts one; then it prints what runs and a
summary of what changed and of everything the emulator simulated or could not apply.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from emulator import (
    ACCOUNT_ID,
    CLI_TIMEOUT_VARIABLE,
    MOTO_VERSION,
    REGION,
    assets,
    cdk,
    cli_timeout_seconds,
    process,
    report,
    runlock,
    summary,
    traffic,
)
from emulator.runtime import pids

# No image is swapped: the services' image assets (built from docker/ on AWS) run from their
# source in the emulator (``emulator.assets``); ``-c SERVICE.image=...`` still names a registry
# image, which stays simulated.
DEFAULT_IMAGES: tuple[str, ...] = ()
TOOLKIT_STACK = "CDKToolkit"
SOURCE_ROLLOUT_HINT = (
    "change a service's code under docker/ (e.g. docker/location/) and run 'make local' again: "
    "its tasks are replaced in a rolling deployment behind its ELB ('make local-rollout' does "
    "the same under traffic and prints the rollout as a timeline)"
)
"""The rollout hint when every image runs from its source (no ``-c SERVICE.image=...``)."""


@dataclass
class UpOptions:
    """What ``up`` deploys and where it keeps its state."""

    app_dir: Path
    state_dir: Path
    context: list[str] = field(default_factory=list)
    output_dir: Path | None = None
    lambda_custom_resources: list[str] = field(default_factory=list)
    """Custom resource types answered by their own Lambda code (server option)."""
    assembly: Path | None = None
    """A cloud assembly synthesized before (``cdk synth -o DIR``): deployed as it is
    (``cdk deploy --app DIR``), without synthesizing the app again."""


class DriverError(RuntimeError):
    """A step failed; the message says which and what to do."""


def context_args(context: Sequence[str]) -> list[str]:
    """``-c KEY=VALUE`` arguments: the default images unless given, then ``context``."""
    given = {c.split("=", 1)[0] for c in context}
    merged = [c for c in DEFAULT_IMAGES if c.split("=", 1)[0] not in given] + list(context)
    return [arg for item in merged for arg in ("-c", item)]


def target_args() -> list[str]:
    """The emulator's one account and region for the app: a named environment (ENV=, else
    ``dev``) is synthesized as top-level stacks there, its own account and region replaced and
    its overrides kept (docs/environments.md); an app without environments ignores it."""
    return ["-c", f"environmentTarget=aws://{ACCOUNT_ID}/{REGION}"]


def _output_args(options: UpOptions) -> list[str]:
    return ["-o", str(options.output_dir)] if options.output_dir else []


def _step(
    name: str, args: list[str], emulator: process.Emulator, cwd: Path, out: Callable[[str], None]
) -> float:
    """Run one CLI step in ``cwd``; a failure, the emulator dying or no longer answering under
    it, or the step outlasting :func:`emulator.cli_timeout_seconds` raises :class:`DriverError`.
    """
    out(f"==> {name}: cdk {' '.join(args)}")
    health = process.Health(emulator)
    result = cdk.run(
        args,
        emulator.endpoint,
        cwd,
        echo=lambda line: out(f"    {line}"),
        check=health.problem,
        timeout=cli_timeout_seconds(),
    )
    if result.returncode == 0 and result.stopped is None:
        out(f"==> {name}: done in {result.seconds:.1f}s")
        return result.seconds
    if result.stopped is not None or not process.alive(emulator):
        reason = result.stopped or f"the emulator (pid {emulator.pid}) exited"
        raise DriverError(
            f"{name} failed: {reason}, on {emulator.endpoint}, while 'cdk {args[0]}' was "
            f"running; stopped the CLI. See {emulator.log}. Run 'make local' again to start over "
            f"(or raise {CLI_TIMEOUT_VARIABLE} for a step that needs longer)."
        )
    raise DriverError(
        f"{name} failed (cdk exit code {result.returncode}); the CLI output is above."
    )


@contextmanager
def _asking(emulator: process.Emulator, what: str) -> Iterator[None]:
    """Turn a request the emulator did not answer into a :class:`DriverError` naming it."""
    try:
        yield
    except (HTTPClientError, BotoConnectionError, OSError) as error:
        raise DriverError(
            f"{what}: the emulator (pid {emulator.pid}) on {emulator.endpoint} did not answer "
            f"({error}); see {emulator.log}. 'make local-stop' stops it, then 'make local' "
            "starts a fresh one."
        ) from error


def _started_with(emulator: process.Emulator, lambda_types: Sequence[str]) -> bool:
    argv = process.command_line(emulator.pid)
    return all(t in argv for t in lambda_types)


def _emulator(options: UpOptions, out: Callable[[str], None]) -> tuple[process.Emulator, bool]:
    """The running emulator of the state directory (True: reused), else a new one (False)."""
    current = process.running(options.state_dir)
    if current is not None and _started_with(current, options.lambda_custom_resources):
        out(
            f"==> start: deploying into the emulator already running on {current.endpoint} "
            f"(pid {current.pid}): an update of what it holds, as 'cdk deploy' updates a stack "
            "on AWS ('make local-stop' first for a fresh start)"
        )
        return current, True
    stopped = process.stop(options.state_dir)
    message = stopped.describe(options.state_dir)
    if message:
        out(f"==> {message}")
    out(f"==> start: moto {MOTO_VERSION} with the compatibility layer on 127.0.0.1")
    emulator = process.start(
        options.state_dir, lambda_custom_resources=options.lambda_custom_resources
    )
    out(f"==> start: moto on {emulator.endpoint} (pid {emulator.pid}), log {emulator.log}")
    return emulator, False


def _bootstrapped(endpoint: str) -> bool:
    try:
        stacks = report.client(endpoint, "cloudformation").describe_stacks(
            StackName=TOOLKIT_STACK
        )["Stacks"]
    except ClientError:
        return False
    return any(s["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") for s in stacks)


def up(options: UpOptions, out: Callable[[str], None] = print) -> dict[str, float]:
    """Deploy all stacks into the state directory's emulator (started if none runs); print
    what runs and what changed; return timings. One run at a time per state directory:
    another one raises :class:`runlock.Busy` naming its pid, before touching anything."""
    with runlock.held(options.state_dir):
        return _up(options, out)


def _up(options: UpOptions, out: Callable[[str], None]) -> dict[str, float]:
    started = time.monotonic()
    since = datetime.now(UTC)
    emulator, reused = _emulator(options, out)
    timings = {"start": time.monotonic() - started}
    context = context_args(options.context)
    before: summary.Snapshot | None = None
    try:
        with _asking(emulator, "bootstrap check (CloudFormation DescribeStacks)"):
            bootstrapped = reused and _bootstrapped(emulator.endpoint)
        if bootstrapped:
            out(f"==> bootstrap: {TOOLKIT_STACK} is already deployed in this emulator")
        else:
            # Outside the app directory the CLI bootstraps the named environment
            # without synthesizing the app.
            bootstrap = ["bootstrap", f"aws://{ACCOUNT_ID}/{REGION}"]
            timings["bootstrap"] = _step("bootstrap", bootstrap, emulator, options.state_dir, out)
        with _asking(emulator, "reading the stacks before the deploy"):
            before = summary.take(emulator.endpoint)
        assembly = options.assembly or assets.ready_assembly(options.app_dir)
        if assembly is None:
            assembly = (options.output_dir or options.state_dir / "cdk.out").resolve()
            synth = ["synth", "--quiet", *context, *target_args(), "-o", str(assembly)]
            timings["synth"] = _step("synth", synth, emulator, options.app_dir, out)
        source = ["--app", str(_without_image_assets(assembly, options.state_dir, out))]
        deploy = ["deploy", "--all", "--require-approval", "never", *source]
        timings["deploy"] = _step("deploy", deploy, emulator, options.app_dir, out)
    except DriverError as error:
        rollouts = _failed_rollouts(emulator, since)
        _after_failure(options, emulator, reused, before, out)
        if rollouts:
            raise DriverError("\n".join([str(error), *rollouts])) from error
        raise
    out("==> report: what runs, as the AWS CLI would describe it")
    with _asking(emulator, "the report after the deploy"):
        services = report.print_report(emulator.endpoint, out)
        traffic.print_urls(emulator.endpoint, options.state_dir.resolve(), out, wait=60.0)
        result = summary.collect(emulator.endpoint, before)
    for line in summary.lines(result):
        out(line)
    # a cloud assembly given as it is: its images are fixed at its synth, no -c applies
    hint = None if options.assembly else (rollout_hint(options.context) or SOURCE_ROLLOUT_HINT)
    _print_next_steps(emulator, [s.name for s in result.stacks], services, hint, out)
    return timings


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _failed_rollouts(emulator: process.Emulator, since: datetime) -> list[str]:
    """What CloudFormation said about each ECS service whose rollout failed in this run (the
    circuit breaker's reason: which service, which task definition, why its tasks failed)."""
    cloudformation = report.client(emulator.endpoint, "cloudformation")
    found = []
    try:
        for stack in cloudformation.describe_stacks()["Stacks"]:
            events = cloudformation.describe_stack_events(StackName=stack["StackId"])
            for event in reversed(events["StackEvents"]):
                if (
                    event["ResourceType"] == "AWS::ECS::Service"
                    and event["ResourceStatus"] in ("CREATE_FAILED", "UPDATE_FAILED")
                    and _aware(event["Timestamp"]) >= since
                ):
                    found.append(
                        f"==> the rollout of {stack['StackName']}/{event['LogicalResourceId']} "
                        f"failed ({event['ResourceStatus']}, then the stack rolled back, now "
                        f"{stack['StackStatus']}): {event.get('ResourceStatusReason', '')}"
                    )
    except (ClientError, BotoCoreError, OSError):
        return found
    return found


def _without_image_assets(assembly: Path, state_dir: Path, out: Callable[[str], None]) -> Path:
    """The assembly to deploy: without Docker image assets (nothing can build them here); each
    image is run from its source by the emulator."""
    target = (state_dir / "deploy.out").resolve()
    images = assets.deployable_copy(assembly, target, state_dir.resolve())
    for image in images:
        args = " ".join(f"{k}={v}" for k, v in sorted(image.build_args.items()))
        out(f"==> images: {image.image.split(':')[-1][:12]} not built (no Docker here): its tasks "
            f"run from its source as processes ({args or 'no build args'})")
    return target


def _after_failure(
    options: UpOptions,
    emulator: process.Emulator,
    reused: bool,
    before: summary.Snapshot | None,
    out: Callable[[str], None],
) -> None:
    """Stop an emulator this run started (a broken run never blocks the next); keep one that
    was already running, as a failed update leaves the stack on AWS, and say what it did."""
    if not process.alive(emulator) or not reused:
        process.stop(options.state_dir)
        return
    if before is not None:
        try:
            for line in summary.lines(summary.collect(emulator.endpoint, before)):
                out(line)
        except (ClientError, BotoCoreError, OSError) as error:
            out(f"==> summary: could not be read ({error}); see {emulator.log}")
    out(
        f"==> the emulator keeps running on {emulator.endpoint} with what the failed deploy "
        "left; 'make local-stop' stops it"
    )


def _print_next_steps(
    emulator: process.Emulator,
    stacks: Sequence[str],
    services: dict[str, list[str]],
    hint: str | None,
    out: Callable[[str], None],
) -> None:
    out("")
    out(f"The emulator keeps running on {emulator.endpoint} (pid {emulator.pid}).")
    out("Explore it with the AWS CLI (v1 or v2) in this shell:")
    out(
        f"    export AWS_ENDPOINT_URL={emulator.endpoint} AWS_ACCESS_KEY_ID=testing "
        f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION}"
    )
    for stack in stacks:
        if stack != TOOLKIT_STACK:
            out(f"    aws cloudformation describe-stack-resources --stack-name {stack}")
    for cluster, names in services.items():
        out(f"    aws ecs list-container-instances --cluster {cluster}")
        if names:
            out(f"    aws ecs describe-services --cluster {cluster} --services {' '.join(names)}")
    if hint is not None:
        out(f"Roll out a new version as an update of this emulator: {hint}")
    out("Stop it with: make local-stop")


def next_image(image: str) -> str:
    """The image a rollout would deploy next: the tag's last number plus one, its zero padding
    kept (``repo:11`` -> ``repo:12``, ``repo:v1.09`` -> ``repo:v1.10``); ``NEW_TAG`` in place
    of a tag without a number, a digest, or no tag."""
    name, at, _ = image.partition("@")
    repository, colon, tag = name.rpartition(":")
    if at or not colon or "/" in tag:
        return f"{name}:NEW_TAG"
    match = re.fullmatch(r"(.*?)(\d+)(\D*)", tag)
    if match is None:
        return f"{repository}:NEW_TAG"
    head, number, tail = match.groups()
    return f"{repository}:{head}{int(number) + 1:0{len(number)}d}{tail}"


def rollout_hint(context: Sequence[str]) -> str | None:
    """The ``make local`` that deploys the next image of the service this run deployed (the
    tutorial's ``location`` when it has it), with the run's other ``-c`` values kept so it
    updates the same app: derived from what was deployed, never a fixed tag."""
    values = dict(item.split("=", 1) for item in context_args(context)[1::2])
    keys = [k for k in values if k.endswith(".image")]
    if not keys:
        return None
    key = "location.image" if "location.image" in keys else keys[0]
    kept = [item for item in context if item.split("=", 1)[0] != key]
    items = [*kept, f"{key}={next_image(values[key])}"]
    value = " ".join(f"-c {shlex.quote(item)}" for item in items)
    quoted = f'"{value}"' if not set(value) & set('"$`\\') else shlex.quote(value)
    return f"make local CDK_ARGS={quoted}"


def down(state_dir: Path, out: Callable[[str], None] = print) -> None:
    """Stop the emulator (idempotent), and any server of this state directory the state file
    no longer describes."""
    stopped = process.stop(state_dir)
    out(f"==> {stopped.describe(state_dir) or 'no emulator was running'}")
    for orphan in pids.reap(state_dir):
        out(f"==> ended {orphan.label} (pid {orphan.pid}), left by an emulator that was killed")


def status(state_dir: Path, out: Callable[[str], None] = print) -> int:
    """Print what runs in the emulator of ``state_dir`` (0), or say that none runs, or that it
    cannot tell, and why (1). The state file alone is not believed: its pid must be this
    directory's server (by command line) and its endpoint must answer as that pid."""
    state = process.inspect_state(state_dir)
    state_file = state_dir / process.STATE_NAME
    servers = process.servers(state_dir)
    running = f"pid {', '.join(map(str, servers))} runs" if servers else "none runs"
    remedy = "'make local-stop' stops it, 'make local' starts afresh"
    if state.problem is not None:
        out(f"==> {state_file} is unusable ({state.problem}): {running} without it; {remedy}")
        return 1
    emulator = state.emulator
    if emulator is None:
        if servers:
            out(
                f"==> cannot tell what runs: there is no {state_file}, yet the emulator server "
                f"of this directory (found by its command line) {running}; {remedy}"
            )
        else:
            out("==> no emulator is running (make local starts one)")
        return 1
    if emulator.pid not in servers:
        why = _not_ours(emulator.pid)
        if servers:
            out(
                f"==> cannot tell what runs: {state_file} names pid {emulator.pid}, which {why}; "
                f"the emulator server of this directory (found by its command line) {running} "
                f"without a state file that describes it; {remedy}"
            )
        else:
            out(
                f"==> no emulator is running: {state_file} names pid {emulator.pid}, which "
                f"{why} (make local starts one)"
            )
        return 1
    problem = process.unanswered(emulator)
    if problem is not None:
        out(
            f"==> cannot tell what runs: the emulator (pid {emulator.pid}) runs, but {problem}; "
            f"see {emulator.log}; {remedy}"
        )
        return 1
    try:
        report.print_report(emulator.endpoint, out)
    except (HTTPClientError, BotoConnectionError, OSError) as error:
        out(f"==> cannot tell what runs: the emulator (pid {emulator.pid}) on "
            f"{emulator.endpoint} did not answer ({error}); see {emulator.log}")
        return 1
    return 0


def _not_ours(pid: int) -> str:
    """Why ``pid`` is not the state directory's emulator, for a message."""
    argv = process.command_line(pid)
    if not argv:
        return "is not running (a stale pid)"
    return f"is another process ({' '.join(argv)[:80].strip()})"
