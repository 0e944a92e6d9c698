"""``make local-rollout`` (``python -m emulator rollout``): redeploy the app into the running
emulator, as ``make local`` does, while continuous traffic goes through every local ELB, and
print the rollout as a timeline as it happens, then per service what the traffic met.

The timeline comes from the AWS APIs alone (:mod:`emulator.timeline`: ECS ``DescribeServices``,
ELB ``DescribeInstanceHealth``); the traffic is :class:`emulator.traffic.Traffic`. The exit code
is 0 only when no request failed, no service's InService count went below the minimum its
``minimumHealthyPercent`` allows, every deployment completed and the deploy itself succeeded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator import driver, process, report, timeline, traffic
from emulator.runtime import clock

POLL_SECONDS = 0.2
LOG_NAME = "rollout-deploy.log"
"""The redeploy's whole output (what ``make local`` prints), in the state directory."""


@dataclass
class Deploy:
    """``driver.up`` in a thread of its own: its output goes to a log; its step lines
    (``==> ...``) are handed to ``step`` as they come."""

    options: driver.UpOptions
    log: Path
    step: Callable[[str], None]
    error: str | None = None
    done: bool = False

    def _out(self, line: str) -> None:
        with self.log.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
        if line.startswith("==> ") and not line.startswith("==> report"):
            self.step(line[4:])

    def run(self) -> None:
        try:
            driver.up(self.options, self._out)
        except (driver.DriverError, RuntimeError) as error:
            self.error = str(error)
            self._out(f"error: {error}")
        finally:
            self.done = True


def summary_problems(
    watch: timeline.ServiceWatch, counts: traffic.Counts | None, out: Callable[[str], None]
) -> list[str]:
    """Print one service's summary (its rollout, the requests sent to it and failed, the lowest
    InService count against the minimum); return its problems (none: it passed)."""
    name = watch.ref.name
    if watch.rolled_out:
        final = watch.new_deployments[-1]
        state = watch.states.get(final, "?")
        took = f"{watch.duration:.1f}s" if watch.duration is not None else "not finished"
        definition = timeline.short_name(watch.task_definitions.get(final, ""))
        if len(watch.new_deployments) == 1:
            out(f"    {name}: rolled out to {definition}: {state}, 1 deployment, duration {took}")
        else:  # e.g. the circuit breaker's rollback: the failed version, then the one before
            path = " -> ".join(timeline.short_name(watch.task_definitions.get(d, "?"))
                               for d in watch.new_deployments)
            out(f"    {name}: ended on {definition}: {state}, {len(watch.new_deployments)} "
                f"deployments ({path}), duration {took}")
    else:
        out(f"    {name}: no new deployment (its task definition did not change)")
    problems = watch.problems()
    if counts is not None:
        out(f"        requests: {counts.sent} sent, {counts.failed} failed")
        for reason in counts.reasons:
            out(f"            {reason}")
        if counts.failed:
            problems.append(f"{name}: {counts.failed} of {counts.sent} requests failed")
    mark = "ok" if watch.lowest is None or watch.lowest >= watch.minimum else "BELOW THE MINIMUM"
    out(f"        healthy: lowest {watch.lowest} InService of {watch.desired} tasks, minimum "
        f"{watch.minimum} (minimumHealthyPercent {watch.minimum_percent}): {mark}")
    if watch.rolled_out and watch.finished is None:
        problems.append(f"{name}: the rollout did not finish while watched")
    return problems


@dataclass
class Outcome:
    """What a watched redeploy found."""

    services: list[timeline.ServiceWatch]
    counts: dict[str, traffic.Counts]
    """Service name -> the requests sent to it."""
    traffic_seconds: float
    problems: list[str] = field(default_factory=list)
    """Empty: every check held."""


class NothingToWatch(RuntimeError):
    """No emulator runs, or none of its services runs behind a classic ELB."""


def watch(
    options: driver.UpOptions, max_seconds: float = 600.0, out: Callable[[str], None] = print
) -> Outcome:
    """Redeploy under traffic, printing the timeline and the summary as they come."""
    emulator = process.running(options.state_dir)
    if emulator is None:
        raise NothingToWatch(
            f"no emulator runs for {options.state_dir}: run 'make local' first, change the "
            "application in docker/, then 'make local-rollout'"
        )
    targets = traffic.targets(emulator.endpoint, options.state_dir)
    if not targets:
        raise NothingToWatch(
            "no ECS service runs from its source behind a classic ELB in the emulator: nothing "
            "to send traffic to ('make local' deploys the tutorial's two services)"
        )
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            out(line)

    watcher = timeline.Watcher(
        report.client(emulator.endpoint, "ecs"),
        report.client(emulator.endpoint, "elb"),
        [timeline.ServiceRef(t.cluster, t.service) for t in targets],
    )
    watcher.start()
    log = options.state_dir / LOG_NAME
    log.write_text("", encoding="utf-8")
    deploy = Deploy(options, log, lambda line: say(
        timeline.Moment(watcher.since(), "make local", line).line()))
    say(f"==> rollout: traffic through {len(targets)} ELB(s) for at most {max_seconds:.0f}s: "
        + ", ".join(f"{t.service} {t.url}" for t in targets))
    say(f"==> rollout: redeploying as 'make local' does (its output: {log}); health checks run "
        f"at {clock_scale(emulator.endpoint)}x the template's times; the timeline (seconds "
        "since the start):")
    timed_out = False
    with traffic.Traffic(targets, max_seconds) as load:
        deployer = threading.Thread(target=deploy.run, daemon=True, name="deploy")
        deployer.start()
        while True:
            for moment in watcher.poll():
                say(moment.line())
            if deploy.done and watcher.settled:
                break
            if watcher.since() >= max_seconds:
                timed_out = True
                break
            time.sleep(POLL_SECONDS)
    say(f"==> rollout: {watcher.since():.1f}s, traffic stopped after {load.seconds:.1f}s")
    outcome = Outcome(watcher.results(), load.counts, load.seconds)
    for service in outcome.services:
        outcome.problems += summary_problems(service, load.counts.get(service.ref.name), say)
    if timed_out:
        outcome.problems.append(f"not settled within {max_seconds:.0f}s (raise --max-seconds)")
    if deploy.error is not None:
        outcome.problems.append(f"the deploy failed: {deploy.error}")
    elif not deploy.done:
        outcome.problems.append("the deploy did not finish")
    if not any(s.rolled_out for s in outcome.services):
        say("==> rollout: no service got a new deployment (nothing changed in docker/ or the "
            "task definitions)")
    return outcome


def run(
    options: driver.UpOptions, max_seconds: float = 600.0, out: Callable[[str], None] = print
) -> int:
    """Redeploy under traffic and print the timeline; 0 when every check held, 1 when one did
    not (the reasons printed last), 2 when there is nothing to watch."""
    try:
        outcome = watch(options, max_seconds, out)
    except NothingToWatch as error:
        out(f"error: {error}")
        return 2
    for problem in outcome.problems:
        out(f"FAILED {problem}")
    if not outcome.problems:
        out("==> rollout: OK: no request failed, never fewer InService than the minimum, "
            "every deployment completed")
    return 1 if outcome.problems else 0


def clock_scale(endpoint: str) -> float:
    """The emulator's time scale (what its health checks and grace periods run at)."""
    scale = traffic.load_balancers(endpoint).get("timeScale")
    return float(scale) if scale is not None else clock.scale()
