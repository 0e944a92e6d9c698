"""`python -m assembly_review run` end to end, on a clone of this repository:
BASE in a git worktree, head in the working tree, in parallel, the same CDK_ARGS on both sides;
exit 0 / 2 / 1; the report on stdout and in a file, progress on stderr.

The CDK CLI is replaced by fake_cdk.py (app.py run in one Python process, as the CLI would):
the real CLI costs ~25 s per side; test_agreement runs it, and `make review` uses it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assembly_review.__main__ import main
from assembly_review.inputs import InputChange, changed_inputs
from assembly_review.report import MARKER
from assembly_review.status import ExitStatus
from tests.test_make import INSTALLED
from tests.tutorial import TUTORIAL_CDK_JSON

from .synth_app import ROOT

pytestmark = pytest.mark.slow  # starts Python/CDK processes of its own

FAKE_CDK = f"{sys.executable} {Path(__file__).with_name('fake_cdk.py')}"
DB = "DatabaseInstanceAA8A5FDE"


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "assembly_review", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=review-test",
                    "-c", "user.email=review-test@example.com", *args],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository's HEAD whose HEAD commit holds the tutorial's fixed scenario
    (tests/tutorial_cdk.json as cdk.json: relative paths, so BASE's worktree runs its own app)
    and whose working tree changes the database's master user (a create-only property: the
    instance is replaced) and the Makefile (something the review itself runs)."""
    repo = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(ROOT), str(repo)], check=True)
    cdk_json = repo / "cdk.json"
    shutil.copyfile(TUTORIAL_CDK_JSON, cdk_json)
    git(repo, "commit", "--quiet", "--allow-empty", "-am", "the tutorial's scenario")
    settings = json.loads(cdk_json.read_text())
    settings["context"]["db.masterUsername"] = "dbadmin"
    cdk_json.write_text(json.dumps(settings, indent=2) + "\n")
    with (repo / "Makefile").open("a") as makefile:
        makefile.write("\n# a change to what the review runs\n")
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
    # what the synth runs changed (the Makefile): said before anything else
    assert report.splitlines()[5].startswith(
        "> ⚠️ **This change edits what the review itself runs**: `Makefile`.")
    assert f"`{DB}` (RDS::DBInstance) **REPLACED** — not acknowledged" in report
    assert "`MasterUsername` `admin` → `dbadmin` **REPLACE**" in report
    assert f"make review ALLOW_REPLACE={DB}" in report
    # and the plan of the same review beside it (tests/review/test_plan.py)
    plan = json.loads((out / "plan.json").read_text())
    assert (plan["verdict"], plan["head"]["assembly"]) == ("data-loss", "head")
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
    # the hint of a compare names the compare's own option, not make's
    line = next(x for x in capsys.readouterr().out.splitlines() if "To accept, rerun" in x)
    assert "make review" not in line, line
    names = line.split("--allow-replace ")[1].split("`")[0]
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


def test_changed_inputs_name_cdk_json_commands_and_files_that_drive_the_synth(
    tmp_path: Path,
) -> None:
    # given a repository whose working tree changes cdk.json's app, a requirements file, adds a
    # new requirements file and edits app.py (the app itself, reviewed by the templates)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    (repo / "cdk.json").write_text(json.dumps({"app": "python3 app.py", "context": {"a": 1}}))
    (repo / "requirements.txt").write_text("aws-cdk-lib==2.0.0\n")
    (repo / "app.py").write_text("print('app')\n")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "base")
    (repo / "cdk.json").write_text(json.dumps({"app": "cat base.json", "context": {"a": 2}}))
    (repo / "requirements.txt").write_text("aws-cdk-lib==2.0.1\n")
    (repo / "requirements-extra.txt").write_text("anything\n")
    (repo / "app.py").write_text("print('changed app')\n")
    # when the inputs are compared with BASE
    found = changed_inputs(repo, "HEAD")
    # then the app command and both requirements files are named; context and app.py are not
    assert found == [InputChange("cdk.json", "app", "python3 app.py", "cat base.json"),
                     InputChange("requirements-extra.txt"), InputChange("requirements.txt")]


MAKE_STAMP = ROOT / INSTALLED[0]


@pytest.fixture
def plain_repo(tmp_path: Path) -> Path:
    """A git repository with one commit on main, and nothing to synthesize."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "base")
    return repo


def make_review(repo: Path, *assignments: str) -> subprocess.CompletedProcess[str]:
    """`make review ASSIGNMENTS` with this repository's Makefile and .venv, run in repo (the stamp
    is taken as up to date: the test never installs anything)."""
    assert MAKE_STAMP.exists(), "run `make install`"
    command = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"),
               f"VENV={ROOT / '.venv'}", "-o", str(MAKE_STAMP), "review", *assignments]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=120,
                          check=False)


def test_make_review_passes_values_verbatim_never_through_a_shell(plain_repo: Path) -> None:
    # given values that a shell would run: a command substitution in BASE, ALLOW_REPLACE, CDK_ARGS
    pwned = plain_repo.parent / "pwned"
    runs = {
        "BASE": make_review(plain_repo, f"BASE=$$(touch {pwned}-base)HEAD"),
        "ALLOW_REPLACE": make_review(plain_repo, "BASE=main",
                                     f"ALLOW_REPLACE=$$(touch {pwned}-allow)"),
        "CDK_ARGS": make_review(plain_repo, "BASE=main",
                                f"CDK_ARGS=-c x=$$(touch {pwned}-cdk-args)"),
    }
    # then nothing ran, and each review stopped with its usage status (nothing to synthesize)
    assert not list(plain_repo.parent.glob("pwned*")), {k: r.stderr for k, r in runs.items()}
    for name, result in runs.items():
        assert result.returncode != 0, name
        assert f"review: exit {ExitStatus.ERROR.value}:" in result.stderr, result.stderr
    # and the values that cannot be a ref or a logical ID are named as the user typed them
    assert "BASE '$$(touch" in runs["BASE"].stderr and "is not a git ref" in runs["BASE"].stderr
    assert "ALLOW_REPLACE names '$$(touch'" in runs["ALLOW_REPLACE"].stderr


@pytest.mark.parametrize(("assignment", "message"), [
    ("BASE=$(id)", "BASE '$(id)' is not a commit"),
    ("BASE=", "BASE is empty"),
])
def test_make_review_empty_or_unexpanded_base_is_an_error_never_the_default(
    plain_repo: Path, assignment: str, message: str
) -> None:
    # given a repository where the default BASE (merge base with main) exists
    # when make review gets a BASE that make would expand to nothing, or an empty one
    result = make_review(plain_repo, assignment)
    # then the review stops and names it, instead of silently reviewing against main
    assert message in result.stderr, result.stderr
    assert f"review: exit {ExitStatus.ERROR.value}:" in result.stderr
    assert "synthesizing" not in result.stderr


@pytest.mark.parametrize(("base", "message"), [
    (" ", "BASE is empty"),
    ("-h", "BASE '-h' is not a git ref: it starts with '-'"),
    ("main\nHEAD", "BASE 'main\\nHEAD' is not a git ref: it contains '\\n'"),
])
def test_malformed_base_is_a_usage_error(plain_repo: Path, base: str, message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--repo", str(plain_repo), f"--base={base}", "--dir",
                 str(plain_repo / "out")])
    error = capsys.readouterr().err
    assert code == ExitStatus.ERROR and message in error, error


def test_help_documents_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert list(ExitStatus)
    for status in ExitStatus:
        assert f"{status.value} {status.meaning}" in text


def test_cdk_args_are_split_like_words_but_unbalanced_quotes_are_an_error(
    plain_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--repo", str(plain_repo), "--base=main", "--cdk-args=-c 'x=1",
                 "--dir", str(plain_repo / "out")])
    error = capsys.readouterr().err
    assert code == ExitStatus.ERROR
    assert "CDK_ARGS \"-c 'x=1\" cannot be split into arguments" in error, error
