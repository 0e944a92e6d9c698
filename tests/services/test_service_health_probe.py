"""The container health probe, run as the container runs it, against real service states.

The probe's exit status is all Docker and ECS look at: 0 keeps the task, anything
else (three times in a row) replaces it.  So each state is first proven by what
``/health`` answers, then the probe must agree with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.services.service_harness import (
    HTTP,
    MySQL,
    ServiceProcess,
    dockerfile_instruction,
    free_port,
)

StartService = Callable[..., ServiceProcess]


def probe_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK command, run with this interpreter (the image's python)."""
    argv = json.loads(dockerfile_instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    assert argv == ["python", "-m", "ecs_service.healthcheck"], "README documents this command"
    return [sys.executable, *argv[1:]]


def run_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the probe inside the service's environment, as ``docker exec`` would."""
    return subprocess.run(
        probe_command(), env=env, capture_output=True, text=True, check=False, timeout=15
    )


def healthy(request: pytest.FixtureRequest) -> ServiceProcess:
    process: ServiceProcess = request.getfixturevalue("location_service")
    return process


def database_unreachable(request: pytest.FixtureRequest) -> ServiceProcess:
    start: StartService = request.getfixturevalue("start_service")
    database: str = request.getfixturevalue("fresh_database")
    return start("location", database, wait="listening", DB_PORT=str(free_port()))


def schema_damaged(request: pytest.FixtureRequest) -> ServiceProcess:
    start: StartService = request.getfixturevalue("start_service")
    mysql: MySQL = request.getfixturevalue("mysql")
    database: str = request.getfixturevalue("fresh_database")
    process = start("location", database)
    mysql.execute("ALTER TABLE `City` DROP COLUMN `district`", database=database)
    return process


@pytest.mark.parametrize(
    ("state", "health", "exit_code"),
    [
        (healthy, 200, 0),
        (database_unreachable, 503, 1),
        (schema_damaged, 503, 1),
    ],
    ids=["healthy", "database unreachable", "schema damaged"],
)
def test_container_health_probe_fails_exactly_when_health_is_not_200(
    request: pytest.FixtureRequest,
    state: Callable[[pytest.FixtureRequest], ServiceProcess],
    health: int,
    exit_code: int,
) -> None:
    process = state(request)
    mark = process.log_mark()
    response = HTTP.get(process.url + "/health")
    assert response.status_code == health, "the state under test is what /health says"
    if health != 200:  # and the log says why
        failed = process.wait_for_record(
            lambda r: r["message"] == "health check failed", since=mark, timeout=5
        )
        reason = {database_unreachable: "database unreachable", schema_damaged: "lacks column"}
        assert failed["level"] == "WARNING" and reason[state] in failed["reason"], failed

    result = run_probe(process.env)
    assert result.returncode == exit_code, result.stdout + result.stderr
    expected = "healthy" if exit_code == 0 else f"unhealthy: {process.url}/health answered {health}"
    assert result.stdout.strip() == expected


def test_container_health_probe_fails_when_nothing_listens(
    location_service: ServiceProcess,
) -> None:
    result = run_probe({**location_service.env, "PORT": str(free_port())})
    assert result.returncode == 1 and result.stderr.startswith("unhealthy:"), result.stderr
