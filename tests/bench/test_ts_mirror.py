"""The TypeScript mirror (bench/ts-app) builds the same platform as app.py, so the benchmark's
python/typescript ratio compares the same app (bench/README.md).

The cheap checks (pins, feature flags) run always. The synth comparison is marked slow: it
installs the mirror's pinned packages once (`npm ci` into bench/ts-app/node_modules with the
project's Node 24: about 25 s and 190 MB the first time), then synthesizes both apps, about 20 s
of CPU together on 2 cores (the Python app in this process, the mirror with the pinned CDK CLI).
It compares templates only: no timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ..default_app import run_app
from ..tutorial import ROOT, TUTORIAL_CDK_JSON, TUTORIAL_CONTEXT

BENCH = ROOT / "bench"
TS_APP = BENCH / "ts-app"
STACK = "EcsPlayground"


def _bench_module(name: str) -> ModuleType:
    """bench/<name>.py (a script folder, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _bench_module("compare_templates")
ts_app = _bench_module("ts_app")


def _requirement(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (ROOT / "requirements.txt").read_text(),
                      re.MULTILINE)
    assert match, f"{name} is not pinned in requirements.txt"
    return match.group(1)


def test_the_mirror_pins_the_pythons_cdk_libraries() -> None:
    # given the Python app's pins, when the mirror's package.json and lock are read
    package = json.loads((TS_APP / "package.json").read_text())["dependencies"]
    lock = json.loads((TS_APP / "package-lock.json").read_text())["packages"]
    # then the same versions, exactly, in both files
    pins = {name: _requirement(name) for name in ("aws-cdk-lib", "constructs", "cdk-nag")}
    assert pins
    for name, version in pins.items():
        assert package.get(name) == version, f"bench/ts-app/package.json {name}: want {version}"
        assert lock[f"node_modules/{name}"]["version"] == version, (
            f"bench/ts-app/package-lock.json {name}: want {version} (npm install in bench/ts-app)"
        )


def test_the_mirror_has_the_pythons_feature_flags_and_cdk_switches() -> None:
    # given the feature flags (@aws-cdk/...) and CDK switches (aws:cdk:...) of the tutorial's
    # cdk.json and of the mirror's
    def flags(path: Path) -> dict[str, Any]:
        context = json.loads(path.read_text())["context"]
        return {key: value for key, value in context.items()
                if key.startswith(("@", "aws:cdk:"))}

    python, typescript = flags(TUTORIAL_CDK_JSON), flags(TS_APP / "cdk.json")
    # then they are the same keys with the same values
    assert python
    assert typescript == python, {
        key: (python.get(key), typescript.get(key))
        for key in set(python) | set(typescript) if python.get(key) != typescript.get(key)
    }


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Python, TypeScript) templates of the platform stack, each as `cdk synth` writes it."""
    ts_app.install()
    out = tmp_path_factory.mktemp("ts-mirror")
    result = ts_app.synth(out / "typescript")
    assert result.returncode == 0, f"the TypeScript mirror failed to synthesize:\n{result.stderr}"
    python = run_app(out / "python", TUTORIAL_CONTEXT, cli=True)
    return tuple(  # type: ignore[return-value]
        json.loads((directory / f"{STACK}.template.json").read_text())
        for directory in (python, out / "typescript")
    )


@pytest.mark.long
@pytest.mark.slow
def test_the_mirror_has_the_same_resources_by_type_and_count(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    python, typescript = templates
    assert python["Resources"], "the Python template has no resources"
    differences = compare.count_differences(python, typescript)
    assert not differences, (
        "bench/ts-app no longer mirrors the Python app (resource types or counts differ); "
        "update bench/ts-app/ so the benchmark compares the same platform:\n  "
        + "\n  ".join(differences)
    )


@pytest.mark.long
@pytest.mark.slow
def test_the_mirror_has_the_same_logical_ids(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    python, typescript = templates
    differences = compare.id_differences(python, typescript)
    assert not differences, (
        "bench/ts-app builds resources or outputs under other logical IDs than the Python app "
        "(construct IDs or tree differ):\n  " + "\n  ".join(differences)
    )


def test_the_mirror_constructs_its_app_with_the_pythons_trace_switches() -> None:
    # given the context app.py gives its cdk.App (no stack traces in the assembly's metadata)
    from ecs_playground_app.app import TRACE_SWITCHES

    source = (TS_APP / "app.ts").read_text()
    # then the mirror's `new cdk.App({ context: ... })` sets each to the same value
    assert TRACE_SWITCHES
    for key, value in TRACE_SWITCHES.items():
        assert f"'{key}': {json.dumps(value)}" in source, f"bench/ts-app/app.ts: set {key}"
