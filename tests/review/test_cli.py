"""`python -m ecs_playground.platform.review run` end to end, on a clone of this repository:
BASE in a git worktree, head in the working tree, in parallel, the same CDK_ARGS on both sides;
exit 0 / 2 / 1; the report on stdout and in a file, progress on stderr.

The CDK CLI is replaced by fake_cdk.py (app.py run in one Python process, as the CLI would):
the real CLI costs ~25 s per side; test_agreement runs it, and `make review` uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_playground.platform.review.__main__ import main
from ecs_playground.platform.review.report import MARKER

from .synth_app import ROOT

pytestmark = pytest.mark.slow  # starts Python/CDK processes of its own

FAKE_CDK = f"{sys.executable} {Path(__file__).with_name('fake_cdk.py')}"
DB = "DatabaseInstanceAA8A5FDE"


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecs_playground.platform.review", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository's HEAD whose working tree changes the database's master user
    (a create-only property: the instance is replaced)."""
    repo = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(repo)], check=True)
    cdk_json = repo / "cdk.json"
    settings = json.loads(cdk_json.read_text())
    settings["context"]["db.masterUsername"] = "dbadmin"
    cdk_json.write_text(json.dumps(settings, indent=2) + "\n")
    return repo


@pytest.fixture(scope="module")
def destructive_run(clone: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("review-run")
    result = tool("run", "--repo", str(clone), "--base", "HEAD", "--dir", str(out),
                  "--cdk", FAKE_CDK, "--", "-c", "location.image=srirajan/location:12")
    return result, out


def _template(assembly: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((assembly / "EcsPlayground.template.json").read_text())
    return loaded


def test_replaced_database_exits_2_with_the_report_on_stdout_and_in_a_file(
    destructive_run: tuple[subprocess.CompletedProcess[str], Path]
) -> None:
    result, out = destructive_run
    assert result.returncode == 2, result.stderr[-3000:]
    report = (out / "report.md").read_text()
    assert result.stdout == report
    assert report.startswith(MARKER + "\n## 🔴 Review:")
    assert f"`{DB}` (RDS::DBInstance) **REPLACED** — not acknowledged" in report
    assert "`MasterUsername` `admin` → `dbadmin` **REPLACE**" in report
    assert f"make review ALLOW_REPLACE={DB}" in report
    # progress goes to stderr, not into the report
    assert "review: synthesizing BASE" in result.stderr
    assert "review: synthesizing head" in result.stderr
    assert "review:" not in result.stdout


def test_base_comes_from_the_worktree_and_cdk_args_reach_both_sides(
    destructive_run: tuple[subprocess.CompletedProcess[str], Path], clone: Path
) -> None:
    _result, out = destructive_run

    def db_user(side: str) -> object:
        resources = _template(out / side)["Resources"]
        assert isinstance(resources, dict)
        return resources[DB]["Properties"]["MasterUsername"]

    assert (db_user("base"), db_user("head")) == ("admin", "dbadmin")
    for side in ("base", "head"):
        text = (out / side / "EcsPlayground.template.json").read_text()
        assert '"srirajan/location:12"' in text
    worktrees = subprocess.run(["git", "-C", str(clone), "worktree", "list"], check=True,
                               capture_output=True, text=True).stdout.splitlines()
    assert len(worktrees) == 1, worktrees  # the temporary worktree is gone


def test_acknowledging_every_destructive_change_exits_0(
    destructive_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _result, out = destructive_run
    base, head = str(out / "base"), str(out / "head")
    assert main(["compare", base, head, "--report", str(tmp_path / "a.md")]) == 2
    line = next(x for x in capsys.readouterr().out.splitlines() if "ALLOW_REPLACE=" in x)
    names = line.split("ALLOW_REPLACE=")[1].split("`")[0]
    assert main(["compare", base, head, "--allow-replace", names,
                 "--report", str(tmp_path / "b.md")]) == 0
    report = capsys.readouterr().out
    assert "## 🟢 Review: safe to merge" in report
    assert f"Acknowledged with ALLOW_REPLACE: `{DB}`" in report
    assert "✅ ALLOW_REPLACE" in report


def test_unknown_base_is_a_usage_error_naming_it(
    clone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--repo", str(clone), "--base", "no-such-branch", "--dir", str(tmp_path),
                 "--cdk", FAKE_CDK])
    output = capsys.readouterr()
    assert code == 1
    assert "BASE 'no-such-branch' is not a commit" in output.err
    assert output.out == "" and not (tmp_path / "report.md").exists()


def test_app_that_does_not_synth_on_one_side_is_a_usage_error_naming_the_side(
    clone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a working tree whose app stops with an error before it synthesizes (BASE is fine)
    broken = tmp_path / "broken"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(clone), str(broken)], check=True)
    app = broken / "app.py"
    app.write_text('import sys\nsys.exit("Invalid configuration: unknown key '
                   "'db.instanceClas'; did you mean 'db.instanceClass'?\")\n" + app.read_text())
    # when the review runs, then it stops BASE's synth and names the head side and the reason
    code = main(["run", "--repo", str(broken), "--base", "HEAD", "--dir", str(tmp_path / "out"),
                 "--cdk", FAKE_CDK])
    error = capsys.readouterr().err
    assert code == 1, error[-2000:]
    assert "the app does not synthesize on the head side" in error
    assert "unknown key 'db.instanceClas'; did you mean 'db.instanceClass'?" in error
    assert not (tmp_path / "out" / "report.md").exists()


def test_bad_option_is_a_usage_error_not_a_destructive_change(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--no-such-option"])
    assert exit_.value.code == 1
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
