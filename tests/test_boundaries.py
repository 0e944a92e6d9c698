"""The packages' boundaries, held by their imports: each package imports only what its users
may be given.

- ``ecs_playground``: the construct library (the wheel ``pip install`` gives an importer): the CDK
  and the standard library, nothing of this repository's app, tools or emulator;
- ``assembly_review``: the review tool, for any two cloud assemblies: the standard library only
  (no CDK, no library, no app; CloudFormation Validate's engine, the cloudformation-validate
  package, is imported when it validates);
- ``ecs_playground_app``: the app layer composes the library and may use the review tool (its
  synth summary prices templates with it); it never imports the emulator.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("ecs_playground", "ecs_playground_app", "assembly_review", "emulator", "bench", "tests",
        "app")

ALLOWED = {
    "ecs_playground": {"ecs_playground"},
    "assembly_review": {"assembly_review"},
    "ecs_playground_app": {"ecs_playground_app", "ecs_playground", "assembly_review"},
}
"""Of this repository's top-level packages, which each package may import."""
FORBIDDEN_THIRD_PARTY = {"assembly_review": {"aws_cdk", "constructs", "jsii", "cdk_nag"}}


def imports(path: Path) -> set[str]:
    """Absolute names of the modules a module imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            names.add(".".join(p for p in (base, node.module or "") if p))
    return names


def modules(package: str) -> list[Path]:
    found = sorted((ROOT / package).rglob("*.py"))
    assert len(found) > 5, f"{package}: no modules found under {ROOT / package}"
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_its_users_may_be_given(package: str) -> None:
    offenders = {}
    for path in modules(package):
        tops = {name.split(".")[0] for name in imports(path)}
        bad = sorted((tops & set(OURS)) - ALLOWED[package]
                     | tops & FORBIDDEN_THIRD_PARTY.get(package, set()))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"{package} imports what it must not: {offenders}"


@pytest.mark.parametrize(("package", "entry"), [
    ("ecs_playground", "ecs_playground"),
    ("assembly_review", "assembly_review.__main__"),
])
def test_importing_a_package_loads_nothing_beyond_its_boundary(package: str, entry: str) -> None:
    # dynamic imports (importlib, lazy attributes) escape the static check above: this one runs
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys, importlib; importlib.import_module({entry!r}); "
         "print(sorted({m.split('.')[0] for m in sys.modules}))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    loaded = set(ast.literal_eval(probe.stdout.strip()))
    assert package in loaded
    assert not (loaded & set(OURS)) - ALLOWED[package], loaded
    assert not loaded & FORBIDDEN_THIRD_PARTY.get(package, set()), loaded


def test_the_review_reads_the_quota_metadata_the_library_writes() -> None:
    # the one contract between them is a template metadata key, spelled in both
    from assembly_review.report import QUOTA_INCREASES_METADATA_KEY
    from ecs_playground.quotas import INCREASES_METADATA_KEY

    assert QUOTA_INCREASES_METADATA_KEY == INCREASES_METADATA_KEY


def test_the_library_tests_use_the_library_alone() -> None:
    # tests/ mirrors the packages: what tests the library imports neither the app layer nor the
    # emulator (what needs them lives in tests/app/ and tests/emulator/)
    found = sorted((ROOT / "tests" / "library").rglob("*.py"))
    assert len(found) > 10, found
    offenders = {}
    for path in found:
        bad = sorted({name.split(".")[0] for name in imports(path)}
                     & {"ecs_playground_app", "emulator"})
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"library tests import what the library must do without: {offenders}"


def test_the_emulator_server_runs_the_librarys_pure_code_without_the_cdk() -> None:
    # the server uses the capacity model and the provisioner's code, which import no CDK; through
    # the library's package they would import aws_cdk (~4 s of CPU and a Node process per
    # emulator started)
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "from emulator.compat import apply_all, local_mysql\n"
         "from emulator.runtime import scheduler\n"
         "from types import SimpleNamespace as NS\n"
         "apply_all()\n"
         "instance = NS(registered_resources=[{'name': 'CPU', 'integerValue': 0}],"
         " remaining_resources=[])\n"
         "scheduler.register_resources(instance, 't2.medium', '')\n"
         "assert instance.registered_resources[0]['integerValue'] == 2048, instance\n"
         "assert local_mysql.MASTER_OWNER.physical_id == 'local'\n"
         "print(sorted({m.split('.')[0] for m in sys.modules}))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    loaded = set(ast.literal_eval(probe.stdout.strip().splitlines()[-1]))
    assert not loaded & {"aws_cdk", "constructs", "jsii", "ecs_playground"}, loaded
