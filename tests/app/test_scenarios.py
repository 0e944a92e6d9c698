"""Tests own their scenarios: a routine change of the user's cdk.json (a desired count, a third
service, the database's instance class) must leave every test of the tutorial's platform green,
and leave only the files that follow cdk.json stale, each check naming `make regenerate`.

A static check keeps the test modules away from the repository's cdk.json: a module that names a
`cdk.json` file, or runs the CDK CLI or app.py in the repository (where they read it), must be in
TOUCHES_CDK_JSON with the reason. The list is exact: a module that no longer does so must leave it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest

from ecs_playground_app.config_docs import markdown_table
from tests.conftest import build_stack
from tests.tutorial import ROOT, TUTORIAL_CONTEXT

TESTS = ROOT / "tests"

TOUCHES_CDK_JSON: dict[str, str] = {
    "tests/default_app.py": "reads the user's cdk.json: the default app, which three generated "
                            "files follow (make regenerate)",
    "tests/tutorial.py": "writes the tutorial's cdk.json into a folder the CDK CLI runs in",
    "tests/emulator/conftest.py": "writes the cdk.json of a folder holding a bare assembly",
    "tests/emulator/test_guards.py": "writes the cdk.json of a temporary folder whose app "
                                        "never finishes",
    "tests/emulator/test_up.py": "reads the tutorial's cdk.json written in the session's app "
                                    "folder",
    "tests/emulator/test_rollout_timeline.py": "writes the tutorial's cdk.json (images from a "
                                                  "copy of docker/) into the session's app folder",
    "tests/test_install.py": "runs `make install` with stand-in installers into a venv of its "
                             "own; nothing reads cdk.json",
    "tests/test_make.py": "asks `make -q` in the repository whether the install's stamps are up "
                          "to date (no recipe runs; nothing reads cdk.json)",
    "tests/review/conftest.py": "runs `cdk diff --app ASSEMBLY` on assemblies synthesized from "
                                "the tutorial's scenario: cdk.json's context does not apply",
    "tests/review/fake_cdk.py": "a stand-in for the CDK CLI: reads the cdk.json of the folder "
                                "it runs in, as the CLI does",
    "tests/bench/test_ts_mirror.py": "reads the TypeScript mirror's own bench/ts-app/cdk.json "
                                      "(its feature flags), never the user's",
    "tests/review/test_cli.py": "commits the tutorial's cdk.json into a clone of HEAD and edits it "
                                "there",
    "tests/review/test_report.py": "names cdk.json only as text of a report it renders",
    "tests/app/test_preflight.py": "writes a cdk.json into a temporary folder (the bootstrap "
                               "qualifier)",
}
"""Every test module that names a cdk.json file or runs the CDK CLI in the repository, and why."""

RUNS_IN_THE_REPOSITORY = ("CDK", "cdk", "app.py", "make")
"""What reads the cdk.json of the folder it runs in, when a call names it and runs in ROOT."""


def cdk_json_uses(source: str) -> Iterator[str]:
    """Where a module's code touches a cdk.json: a path to one (reading or writing it:
    `ROOT / "cdk.json"`, `Path("cdk.json")`), or a call that runs the CDK CLI, app.py or make
    with `cwd=` the repository (ROOT or REPO), where they read the user's cdk.json."""
    tree = ast.parse(source)
    paths = [n.right for n in ast.walk(tree) if isinstance(n, ast.BinOp)
             and isinstance(n.op, ast.Div)]
    paths += [a for n in ast.walk(tree) if isinstance(n, ast.Call) for a in n.args]
    for node in paths:
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and node.value.rsplit("/", 1)[-1] == "cdk.json"):
            yield f"line {node.lineno}: names {node.value!r}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            cwd = next((k.value for k in node.keywords if k.arg == "cwd"), None)
            if isinstance(cwd, ast.Name) and cwd.id in ("ROOT", "REPO"):
                command = " ".join(ast.unparse(a) for a in node.args)
                if any(word in command for word in RUNS_IN_THE_REPOSITORY):
                    yield f"line {node.lineno}: runs {command} in the repository"


def test_no_test_module_reads_the_users_cdk_json_unless_listed() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert modules
    touching = {}
    for module in modules:
        uses = list(cdk_json_uses(module.read_text(encoding="utf-8")))
        if uses:
            touching[module.relative_to(ROOT).as_posix()] = uses
    unlisted = {m: u for m, u in touching.items() if m not in TOUCHES_CDK_JSON}
    assert not unlisted, (
        "these test modules read cdk.json or run the CDK CLI on it, but the user's cdk.json is "
        "their data, not the tests' contract: build the tutorial's platform from tests/tutorial.py "
        "(TUTORIAL_CONTEXT, write_cdk_json); only tests/default_app.py follows cdk.json: "
        f"{unlisted}")
    gone = sorted(set(TOUCHES_CDK_JSON) - set(touching))
    assert not gone, f"no longer touch cdk.json: remove them from TOUCHES_CDK_JSON: {gone}"


@pytest.mark.parametrize("source, found", [
    ('CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]', True),
    ('settings = json.loads(Path("cdk.json").read_text())', True),
    ('subprocess.run([str(CDK), "synth"], cwd=ROOT, check=True)', True),
    ('subprocess.run([sys.executable, "-c", "import x"], cwd=ROOT, check=True)', False),
    ('subprocess.run([str(CDK), "synth"], cwd=tmp_path, check=True)', False),
    ('(tmp_path / "cdk.json").write_text("{}")', True),
    ('open(os.path.join(REPO, "cdk.json"))', True),
    ('"""Reads cdk.json, in prose."""\nX = 1\n"""A cdk.json attribute docstring."""', False),
    ('message = "cdk.json is stale"\nsame = name == "cdk.json"', False),
])
def test_the_check_finds_each_way_of_reading_cdk_json(source: str, found: bool) -> None:
    assert bool(list(cdk_json_uses(source))) is found


# --- a routine change of cdk.json, in this process ---------------------------------------------

ROUTINE_CHANGE: dict[str, Any] = {
    "location.desiredCount": 2,
    "services": ["location", "user", "billing"],
    "billing.image": "public.ecr.aws/nginx/nginx:1.27",
    "billing.containerPort": 8080,
    "billing.healthCheckPath": "/",
    "db.instanceClass": "db.t3.small",
}
"""The routine change of issue 18: a desired count, a third service, the database's class."""


def test_the_routine_change_is_a_valid_configuration() -> None:
    # the walk of issue 18 (copy the repository, apply ROUTINE_CHANGE to its cdk.json, `make
    # test`, `make regenerate`, `make test`) is a routine change only while the app accepts it
    stack = build_stack(**ROUTINE_CHANGE)  # raises on any problem of the configuration
    assert list(stack.layout) == ["location", "user", "billing"]
    assert stack.layout["billing"] in stack.service_stacks  # a new stack: a new snapshot
    assert markdown_table({**TUTORIAL_CONTEXT, **ROUTINE_CHANGE}) != markdown_table(
        TUTORIAL_CONTEXT)
