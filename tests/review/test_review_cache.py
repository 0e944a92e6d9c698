"""`make review` keeps BASE's assembly (review/synth.py): the next review against the same BASE
synthesizes the head side alone, and nothing else is ever reused.

A stand-in CLI writes an assembly whose template records the commit's app.txt and every call,
so the tests take a second and can tell a reused assembly from a fresh one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assembly_review import synth as synth_module
from assembly_review.synth import (
    Side,
    UsageError,
    assembly_key,
    commit_key,
    reuse_kept_commit,
    synthesize,
    worktree,
)

CLI = """
import json, os, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("-o") + 1])
with open(os.environ["CALLS"], "a") as calls:
    calls.write(os.getcwd() + "\\n")
app = pathlib.Path("app.txt").read_text()
if "broken" in app:
    sys.exit(4)
out.mkdir(parents=True)
(out / "App.template.json").write_text(json.dumps({"Description": app, "args": sys.argv[1:],
                                                   "validation": os.environ.get("CDK_VALIDATION")}))
manifest = {}
if "invalid" in app:  # a stack CloudFormation Validate rejects
    (out / "Bad.template.json").write_text(json.dumps({"Resources": {"Queue": {
        "Type": "AWS::SQS::Queue", "Properties": {"Bogus": 1}}}}))
    manifest = {"version": "48.0.0", "artifacts": {"Bad": {
        "type": "aws:cloudformation:stack", "environment": "aws://unknown-account/unknown-region",
        "displayName": "Bad", "properties": {"templateFile": "Bad.template.json"}}}}
(out / "manifest.json").write_text(json.dumps(manifest))
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / ".gitignore").write_text("cdk.review/\n")
    (repo / "app.txt").write_text("one")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    (tmp_path / "cli.py").write_text(CLI)
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    return repo


def review_synth(repo: Path, commit: str, *args: str) -> tuple[list[str], str]:
    """Both sides synthesized as `make review` does: (the folders the CLI ran in, BASE's
    template)."""
    calls = Path(repo.parent / "calls")
    calls.unlink(missing_ok=True)
    out = repo / "cdk.review"
    with worktree(repo, commit) as base_dir:
        sides = [Side("BASE", "base", base_dir, out / "base"), Side("head", "head", repo,
                                                                   out / "head")]
        synthesize(sides, [sys.executable, str(repo.parent / "cli.py")], list(args))
        ran = ["BASE" if line == str(base_dir) else "head"
               for line in calls.read_text().splitlines()] if calls.exists() else []
    return sorted(ran), (out / "base" / "App.template.json").read_text()


def test_base_skips_the_cdks_validation_and_the_head_is_validated_natively_or_by_its_synth(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a user's environment (the tests' own turns the validation off)
    monkeypatch.delenv("CDK_VALIDATION", raising=False)

    def validation_seen() -> dict[str, str | None]:
        review_synth(repo, _git(repo, "rev-parse", "HEAD"))
        return {side: json.loads((repo / "cdk.review" / side / "App.template.json").read_text())
                ["validation"] for side in ("base", "head")}

    # then BASE, only compared, skips CloudFormation's validation; the head's synth leaves it to
    # the same engine run natively after it (assembly_review/cdk_validation.py)
    assert validation_seen() == {"base": "false", "head": "false"}
    # and when that cannot mirror the installed aws-cdk-lib, the head's synth validates
    monkeypatch.setattr(synth_module.CdkValidation, "installed",
                        classmethod(lambda cls, cache: "another engine"))
    assert validation_seen() == {"base": "false", "head": None}


def test_a_head_that_fails_the_cdks_validation_fails_the_review_in_its_words(
        repo: Path) -> None:
    # given a head whose template CloudFormation Validate rejects, as CDK's own validation would
    (repo / "app.txt").write_text("invalid")
    with pytest.raises(UsageError) as raised:
        review_synth(repo, _git(repo, "rev-parse", "HEAD"))
    # then the review fails as a synth with the validation on would, in CDK's words
    message = str(raised.value)
    assert "head side (head) does not pass CDK's CloudFormation validation" in message, message
    assert "ERROR Bogus: Additional properties are not allowed" in message, message
    assert "Acknowledge with 'CloudFormation-Validate::F3002'" in message, message


def test_base_is_synthesized_once_per_commit_and_arguments(
        repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    # given a first review: both sides synthesized
    ran, first = review_synth(repo, base)
    assert ran == ["BASE", "head"]
    capsys.readouterr()

    # when the head changes and the review runs again against the same BASE
    (repo / "app.txt").write_text("two")
    ran, again = review_synth(repo, base)
    # then only the head is synthesized; BASE's assembly is the kept one, and the output says so
    assert ran == ["head"] and again == first
    assert "BASE (base) reused from" in capsys.readouterr().err
    assert (repo / "cdk.review" / "head" / "App.template.json").read_text().count("two") == 1

    # other CDK arguments, another environment or another BASE commit: synthesized again
    assert review_synth(repo, base, "-c", "x=1")[0] == ["BASE", "head"]
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    assert review_synth(repo, base)[0] == ["BASE", "head"]
    _git(repo, "commit", "-qam", "two")
    ran, newer = review_synth(repo, _git(repo, "rev-parse", "HEAD"))
    assert ran == ["BASE", "head"] and '"two"' in newer


def test_a_side_with_files_outside_the_commit_is_never_kept(repo: Path) -> None:
    # the head (the working tree) always has an ignored cdk.review/: it is synthesized each time
    base = _git(repo, "rev-parse", "HEAD")
    review_synth(repo, base)
    assert review_synth(repo, base)[0] == ["head"]
    assert review_synth(repo, base)[0] == ["head"]


def test_only_a_folder_of_exactly_the_commits_files_gets_a_key(repo: Path) -> None:
    cli = [sys.executable, str(repo.parent / "cli.py")]
    side = Side("head", "head", repo, repo / "cdk.review" / "head")
    assert assembly_key(side, cli, []) is not None  # nothing but the commit's files
    extra = {"modified": repo / "app.txt", "untracked": repo / "new.txt",
             "ignored, in a folder": repo / "cdk.review" / "deep" / "x.json"}
    for kind, path in extra.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("changed")
        assert assembly_key(side, cli, []) is None, kind
        _git(repo, "checkout", "--", "app.txt")
        _git(repo, "clean", "-qfdx")
        assert assembly_key(side, cli, []) is not None, kind


def test_a_failing_synth_is_not_kept(repo: Path) -> None:
    (repo / "app.txt").write_text("broken")
    _git(repo, "commit", "-qam", "broken")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "app.txt").write_text("fine")
    for _ in range(2):
        with pytest.raises(UsageError, match="BASE side"):
            review_synth(repo, base)
    assert not (repo / "cdk.review" / "cache").exists() or not any(
        (repo / "cdk.review" / "cache").iterdir())


def test_a_kept_base_is_reused_without_a_worktree_under_the_key_a_worktree_gets(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _git(repo, "rev-parse", "HEAD")
    cli = [sys.executable, str(repo.parent / "cli.py")]
    out = repo / "cdk.review"
    with worktree(repo, base) as base_dir:
        # the key from the commit alone is the one the worktree's side gets
        assert commit_key(repo, base, cli, []) == assembly_key(
            Side("BASE", "base", base_dir, out / "base"), cli, [])
    side = Side("BASE", "base", repo, out / "base")
    # nothing kept yet: no reuse, and the caller makes the worktree
    assert not reuse_kept_commit(side, repo, base, cli, [])
    _, first = review_synth(repo, base)
    (repo / "app.txt").write_text("head's own")  # what the working tree holds changes nothing
    worktrees = _git(repo, "worktree", "list")
    capsys.readouterr()

    assert reuse_kept_commit(side, repo, base, cli, [])
    assert (out / "base" / "App.template.json").read_text() == first
    assert "BASE (base) reused from" in capsys.readouterr().err
    assert _git(repo, "worktree", "list") == worktrees  # none made
    # other arguments: not kept, so synthesized in a worktree as before
    assert not reuse_kept_commit(side, repo, base, cli, ["-c", "x=1"])
