"""``make local-rollout`` (``python -m emulator rollout``): the rollout a user watches after
changing the application in ``docker/``, printed as a timeline while traffic goes through every
local ELB, and its exit code.

The watcher's logic (``emulator.timeline``) is tested first on scripted AWS answers (fast, no
emulator); then the command runs against the tutorial's app deployed from a copy of the project
(its own ``docker/``) into an emulator of its own: a change of the location service rolls out with
0 failed requests and never fewer InService than the minimum; a version that renames the API
path makes the command exit 1 naming the failed requests.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from emulator import timeline
from emulator.rollout import summary_problems
from emulator.traffic import Counts, Target, Traffic
from tests.emulator.conftest import REPO, Session, emulator_session, requires_cli
from tests.services.service_harness import MySQL
from tests.tutorial import tutorial_settings

# ---------------------------------------------------------------- the watcher, on scripted answers

INSTANCES = [f"i-{n}" for n in range(4)]


@dataclass
class Step:
    """What the APIs answer at one poll."""

    deployments: list[dict[str, Any]]
    events: list[str]
    """Messages, oldest first (all events of the service so far)."""
    health: dict[str, str]


def _deployment(ident: str, state: str, definition: str) -> dict[str, Any]:
    return {
        "id": ident,
        "rolloutState": state,
        "rolloutStateReason": f"ECS deployment {ident} {state.lower()}.",
        "taskDefinition": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{definition}",
        "createdAt": datetime.now(UTC),
    }


class Scripted:
    """An ECS and an ELB client that answer one :class:`Step` per poll (the last one stays)."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps, self.index = steps, 0

    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        step = self.steps[min(self.index, len(self.steps) - 1)]
        events = [
            {"id": str(n), "message": m, "createdAt": datetime.now(UTC)}
            for n, m in enumerate(step.events)
        ]
        return {"services": [{
            "serviceName": "location",
            "desiredCount": 4,
            "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200},
            "loadBalancers": [{"loadBalancerName": "elb-location"}],
            "deployments": step.deployments,
            "events": list(reversed(events)),  # newest first, as ECS answers
        }]}

    def describe_instance_health(self, LoadBalancerName: str) -> dict[str, Any]:
        step = self.steps[min(self.index, len(self.steps) - 1)]
        self.index += 1  # the ELB is read last in a poll
        return {"InstanceStates": [
            {"InstanceId": i, "State": s} for i, s in sorted(step.health.items())
        ]}


def rollout_steps(stopped_together: int = 2, fails: bool = False) -> list[Step]:
    """A rollout of 4 tasks on 4 instances: ``stopped_together`` old tasks stopped at a time,
    each replaced on its instance."""
    old = _deployment("ecs-svc/1", "COMPLETED", "location:1")
    new = _deployment("ecs-svc/2", "IN_PROGRESS", "location:2")
    health = dict.fromkeys(INSTANCES, "InService")
    events = ["(service location) has reached a steady state."]
    steps = [Step([old], list(events), dict(health))]
    for start in range(0, 4, stopped_together):
        batch = INSTANCES[start : start + stopped_together]
        events += [f"(service location) has stopped 1 running tasks: (task old{i[-1]})."
                   for i in batch]
        for instance in batch:
            del health[instance]
        steps.append(Step([new, old], list(events), dict(health)))
        events += [f"(service location) has started 1 tasks: (task new{i[-1]})." for i in batch]
        health.update(dict.fromkeys(batch, "OutOfService"))
        steps.append(Step([new, old], list(events), dict(health)))
        health.update(dict.fromkeys(batch, "InService"))
        steps.append(Step([new, old], list(events), dict(health)))
    final = {**new, "rolloutState": "FAILED" if fails else "COMPLETED",
             "rolloutStateReason": "tasks failed to start" if fails else "completed"}
    steps.append(Step([final], [*events, "(service location) has reached a steady state."],
                      dict(health)))
    return steps


def watch(steps: list[Step]) -> tuple[timeline.Watcher, list[str]]:
    api = Scripted(steps)
    watcher = timeline.Watcher(api, api, [timeline.ServiceRef("app01", "location")])
    watcher.start()
    lines = []
    while api.index < len(steps):
        lines += [m.text for m in watcher.poll()]
    return watcher, lines


def test_the_watcher_turns_the_apis_answers_into_the_rollouts_timeline() -> None:
    watcher, lines = watch(rollout_steps())
    assert lines, "no moment seen"
    assert lines[0].startswith("deployment ecs-svc/2 started: task definition location:2")
    assert "at least 2 healthy (minimumHealthyPercent 50)" in lines[0]
    assert lines[-1] == "deployment ecs-svc/2 COMPLETED: completed"
    assert lines[1:4] == [
        "task old0 stopped", "task old1 stopped",
        "i-0 deregistered from ELB elb-location (2 of 4 InService)",
    ]
    assert lines.index("task new0 started") < lines.index(
        "i-0 registered with ELB elb-location: OutOfService (2 of 4 InService)"
    ) < lines.index("i-0 InService on ELB elb-location (4 of 4 InService)")
    assert sum(bool(re.fullmatch(r"task old\d stopped", line)) for line in lines) == 4
    assert sum(bool(re.fullmatch(r"task new\d started", line)) for line in lines) == 4
    (result,) = watcher.results()
    assert (result.lowest, result.minimum, result.rolled_out) == (2, 2, True)
    assert result.problems() == []
    assert watcher.settled


def test_an_instance_in_service_comes_before_the_stop_it_allowed_when_seen_in_one_poll() -> None:
    steps = rollout_steps()
    del steps[3]  # i-0 and i-1 InService first seen with the next two tasks already stopped
    _, lines = watch(steps)
    assert lines.index("i-1 InService on ELB elb-location (2 of 4 InService)") < lines.index(
        "task old2 stopped"
    ) < lines.index("i-2 deregistered from ELB elb-location (2 of 4 InService)")


def test_a_healthy_count_below_the_minimum_is_a_problem() -> None:
    watcher, _ = watch(rollout_steps(stopped_together=4))
    (result,) = watcher.results()
    assert result.lowest == 0
    assert result.problems() == [
        "location: 0 InService at the lowest, below the minimum of 2 (minimumHealthyPercent 50 "
        "of 4 tasks)"
    ]


def test_the_minimum_rounds_up_as_ecs_does() -> None:
    """ECS rounds minimumHealthyPercent up: 50 % of 3 tasks keeps 2 healthy."""
    watch = timeline.ServiceWatch(timeline.ServiceRef("app01", "location"), desired=3,
                                  minimum_percent=50, lowest=1)
    assert watch.minimum == 2
    assert watch.problems() == [
        "location: 1 InService at the lowest, below the minimum of 2 (minimumHealthyPercent 50 "
        "of 3 tasks)"
    ]


def test_a_failed_deployment_is_a_problem() -> None:
    watcher, lines = watch(rollout_steps(fails=True))
    assert lines[-1] == "deployment ecs-svc/2 FAILED: tasks failed to start"
    (result,) = watcher.results()
    assert result.problems() == ["location: deployment failed: tasks failed to start"]


def test_a_rolled_back_version_ends_on_the_version_before_in_the_summary() -> None:
    # given a new version whose deployment fails, then the circuit breaker's rollback to location:1
    steps = rollout_steps(fails=True)
    back = {**_deployment("ecs-svc/3", "COMPLETED", "location:1"), "rolloutState": "COMPLETED"}
    steps.append(Step([back], steps[-1].events, steps[-1].health))
    watcher, _ = watch(steps)
    (result,) = watcher.results()
    lines: list[str] = []
    problems = summary_problems(result, Counts(sent=10), lines.append)
    # then the summary says where the service ended and by which path, and the failure is named
    assert lines[0] == ("    location: ended on location:1: COMPLETED, 2 deployments "
                        "(location:2 -> location:1), duration " + lines[0].rsplit(" ", 1)[-1])
    assert problems == ["location: deployment failed: tasks failed to start"]


def test_a_failed_request_is_a_problem_of_the_summary() -> None:
    watcher, _ = watch(rollout_steps())
    (result,) = watcher.results()
    lines: list[str] = []
    failed = Counts(sent=10, failed=1, reasons=["+1.0s HTTP 404 from http://x/api/cities"])
    assert summary_problems(result, failed, lines.append) == [
        "location: 1 of 10 requests failed"
    ]
    assert "            +1.0s HTTP 404 from http://x/api/cities" in lines
    assert summary_problems(result, Counts(sent=10), lines.append) == []


def test_the_traffic_counts_every_answer_but_2xx_and_every_error_and_stops_on_its_own() -> None:
    class Answers(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()
            self.wfile.write(b"gone")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        targets = [Target("good", "c", f"{base}/ok"), Target("bad", "c", f"{base}/api/cities"),
                   Target("down", "c", "http://127.0.0.1:9/")]
        with Traffic(targets, max_seconds=30, max_requests=5) as load:
            while any(c.sent < 5 for c in load.counts.values()) and load.seconds < 30:
                time.sleep(0.05)
    finally:
        server.shutdown()
    good, bad, down = (load.counts[name] for name in ("good", "bad", "down"))
    assert (good.sent, good.failed) == (5, 0)
    assert (bad.sent, bad.failed) == (5, 5)
    assert bad.reasons[0].endswith(f"HTTP 404 from {base}/api/cities: gone")
    assert (down.sent, down.failed) == (5, 5)
    assert "ConnectError" in down.reasons[0]
    assert load.seconds < 30, "bounded by max_requests"


# ---------------------------------------------------------------- the command, on the real app

TIME_SCALE = "0.05"
"""The tests' clock: a 30 s health-check interval takes 1.5 s."""
LOCATION = Path("docker/location/service.json")
MOMENT = re.compile(r"^\s+\+\s*(\d+\.\d)s  (\S+)\s+(.*)$")


@dataclass
class Project:
    """The tutorial's app from a copy of the project's ``docker/``, deployed in ``session``."""

    session: Session
    copy: Path

    def change_location(self, change: dict[str, Any]) -> None:
        path = self.copy / LOCATION
        definition = json.loads(path.read_text())
        definition.update(change)
        path.write_text(json.dumps(definition, indent=2) + "\n")

    def rollout(self) -> subprocess.CompletedProcess[str]:
        """``python -m emulator rollout`` (what ``make local-rollout`` runs) to the end."""
        command = self.session.up_command("--max-seconds", "240")
        command[command.index("up")] = "rollout"
        return subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=400, check=False
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    try:
        MySQL().execute("SELECT 1")
    except Exception as error:
        pytest.skip(f"no MySQL server for the services: {error}")
    root = tmp_path_factory.mktemp("rollout")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EMULATOR_TIME_SCALE", TIME_SCALE)  # the emulator server reads it at start
        with emulator_session(root / "emulator", []) as session:
            copy = root / "project"
            shutil.copytree(REPO / "docker", copy / "docker")
            settings = tutorial_settings(REPO)
            settings["context"]["imagesDirectory"] = str(copy / "docker")
            (session.app_dir / "cdk.json").write_text(json.dumps(settings, indent=2))
            created = session.up()
            assert created.returncode == 0, created.stdout + created.stderr
            yield Project(session, copy)


def moments(output: str) -> list[tuple[float, str, str]]:
    """(seconds, service, text) of every timeline line."""
    return [
        (float(m.group(1)), m.group(2), m.group(3))
        for m in map(MOMENT.match, output.splitlines()) if m
    ]


@pytest.mark.cli
@requires_cli
@pytest.mark.long
def test_a_changed_service_rolls_out_on_the_timeline_with_no_failed_request(
    project: Project,
) -> None:
    location = json.loads((project.copy / LOCATION).read_text())
    fields = [{**f, "min_length": 1} if f["name"] == "district" else f for f in location["fields"]]
    project.change_location({"fields": fields})  # district may no longer be empty

    result = project.rollout()

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    seen = moments(result.stdout)
    location_moments = [text for _, service, text in seen if service == "location"]
    assert location_moments, output
    assert location_moments[0].startswith("deployment ") and " started: " in location_moments[0]
    assert re.match(r"deployment \S+ COMPLETED", location_moments[-1]), output
    stopped = [i for i, t in enumerate(location_moments) if re.fullmatch(r"task \S+ stopped", t)]
    started = [i for i, t in enumerate(location_moments) if re.fullmatch(r"task \S+ started", t)]
    in_service = [i for i, t in enumerate(location_moments) if " InService on ELB " in t]
    assert (len(stopped), len(started), len(in_service)) == (4, 4, 4), output
    assert stopped[0] < started[0] < in_service[0], f"a task stops to free its port\n{output}"
    assert in_service[0] < stopped[-1], f"the second half stops after an InService\n{output}"
    assert not [text for _, service, text in seen if service == "user"], "user did not change"
    assert "    location: rolled out to " in result.stdout
    assert re.search(r"location: .*COMPLETED, 1 deployment, duration \d+\.\ds", output)
    summary = result.stdout.split("    location: rolled out", 1)[1]
    sent = re.search(r"requests: (\d+) sent, 0 failed", summary)
    assert sent and int(sent.group(1)) > 20, output
    lowest = re.search(r"healthy: lowest (\d) InService of 4 tasks, minimum 2 ", summary)
    assert lowest and int(lowest.group(1)) >= 2, output
    assert "    user: no new deployment" in result.stdout
    assert "==> rollout: OK" in result.stdout


@pytest.mark.cli
@requires_cli
@pytest.mark.long
def test_a_version_that_breaks_requests_fails_the_rollout(project: Project) -> None:
    project.change_location({"resource": "towns"})  # /api/cities is gone from the new version

    result = project.rollout()

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert re.search(r"FAILED location: \d+ of \d+ requests failed", output), output
    assert "HTTP 404 from http://127.0.0.1:" in output
    assert "FAILED user" not in output, "user's requests kept being served"
    assert "==> rollout: OK" not in output


def test_the_rollout_command_needs_a_running_emulator(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--state-dir", str(tmp_path), "rollout"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "run 'make local' first" in result.stdout
