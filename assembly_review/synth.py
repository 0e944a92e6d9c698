"""Synthesizing both sides of a review: BASE in a temporary git worktree, head in the working tree,
in parallel, with the same CDK CLI, virtualenv and context arguments.

A side whose folder holds exactly one commit's files (BASE's worktree: nothing modified, untracked
or ignored) synthesizes the same assembly every time for the same commit tree, CDK CLI, installed
packages, arguments and environment: that assembly is kept (cdk.review/cache/<key>) and reused by
the next review against the same BASE, which then synthesizes the head side alone.

Any problem a user can fix (an unknown ref, an app that does not synthesize on one side) raises
:class:`UsageError` naming the side and the reason: the CLI exits 1 with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cdk_validation import CdkValidation, ValidatedAssembly
from .fingerprint import files_fingerprint, installed_packages, sha256

DEFAULT_BRANCHES = ("main", "origin/main")
_TAIL_LINES = 25
CACHE_ENTRIES = 3
"""Assemblies kept in the cache folder (the newest ones)."""
_ENVIRONMENT_PREFIXES = ("CDK_", "AWS_", "JSII_", "NODE_", "PYTHON", "npm_config_")
"""Environment variables that can change what an app, the CDK CLI or jsii produce."""


class UsageError(RuntimeError):
    """Something the user has to fix before the review can run."""


@dataclass(frozen=True)
class Side:
    """One side of the review: where its app is and where its assembly goes."""

    name: str
    """'BASE' or 'head'."""
    label: str
    """What the report calls it: '`1a2b3c4` (merge base with main)'."""
    app_dir: Path
    outdir: Path


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the report only)."""
    print(f"review: {message}", file=sys.stderr, flush=True)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def check_base(base: str) -> None:
    """Raise UsageError for an empty or malformed BASE (a value given, not the default)."""
    if not base.strip():
        raise UsageError("BASE is empty: give a git ref (e.g. BASE=origin/main), or leave BASE "
                         "out for the merge base of HEAD with main")
    bad = sorted({c for c in base if c.isspace() or not c.isprintable()})
    if bad or base.startswith("-"):
        why = ("starts with '-'" if base.startswith("-") else
               "contains " + ", ".join(repr(c) for c in bad))
        raise UsageError(f"BASE {base!r} is not a git ref: it {why}; give a branch, tag or commit "
                         "(e.g. origin/main, v1.4, HEAD~3)")


def resolve_base(repo: Path, base: str | None) -> tuple[str, str]:
    """(commit, label) of BASE; None means the merge base of HEAD with main. A BASE that is
    given is used verbatim (never parsed by a shell): empty, malformed or unknown is an error."""
    if base is None:
        for branch in DEFAULT_BRANCHES:
            probe = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                                    f"{branch}^{{commit}}"], capture_output=True, text=True,
                                   check=False)
            if probe.returncode == 0:
                commit = _git(repo, "merge-base", "HEAD", branch)
                return commit, f"`{commit[:10]}` (merge base of HEAD and {branch})"
        raise UsageError("no BASE given and no main branch to take the merge base with: pass "
                         "BASE=<git ref>, e.g. make review BASE=origin/main")
    check_base(base)
    probe = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet",
                            "--end-of-options", f"{base}^{{commit}}"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        raise UsageError(f"BASE {base!r} is not a commit in {repo}: give a branch, tag or commit "
                         "that `git rev-parse` knows (fetch it first if it is remote)")
    commit = probe.stdout.strip()
    shown = base.replace("`", "'")
    return commit, f"`{commit[:10]}` ({shown})"


def head_label(repo: Path) -> str:
    """'working tree of `abc1234` (main), with uncommitted changes'."""
    commit = _git(repo, "rev-parse", "HEAD")
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    dirty = _git(repo, "status", "--porcelain")
    where = f"working tree of `{commit[:10]}` ({branch})"
    return where + (", with uncommitted changes" if dirty else "")


@contextlib.contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A temporary, detached worktree of the commit; removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="ecs-playground-review-"))
    path = parent / "base"
    _git(repo, "worktree", "add", "--detach", "--force", str(path), commit)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
                       capture_output=True, check=False)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True,
                       check=False)


BASE_WITHOUT_VALIDATION = {"CDK_VALIDATION": "false"}
"""BASE is synthesized to be compared, not deployed: aws-cdk-lib's built-in CloudFormation
validation (a WASM module compiled in every synth: about 45 % of the default app's synth CPU)
runs on the head side only. It reports; it never changes a template (both ways byte-identical).
The head is validated too, by the same engine run natively after its synth (cdk_validation.py),
unless that cannot mirror the installed aws-cdk-lib: then its synth validates."""


def _environment(side: Side, validation: CdkValidation | str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    if side.name == "BASE":
        env.update(BASE_WITHOUT_VALIDATION)
    elif isinstance(validation, CdkValidation):
        env.update(validation.SYNTH_ENVIRONMENT)
    # The app imports its own ecs_playground (the worktree's for BASE), not the installed one.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(side.app_dir),
                                                      env.get("PYTHONPATH", "")]))
    return env


def assembly_key(side: Side, cdk: Sequence[str], cdk_args: Sequence[str]) -> str | None:
    """The cache key of a side's assembly, or None when its folder is not exactly a commit's
    files (modified, untracked or ignored files can change what the app synthesizes)."""
    # Modified or untracked files first (a working tree with changes stops here), then ignored
    # ones, listed a folder at a time: `git status --ignored --untracked-files=all` listed every
    # file of .venv and node_modules (71,000 here, 0.13 s) only to find the answer in the first.
    for check in (["status", "--porcelain", "--untracked-files=all"],
                  ["ls-files", "--others", "--ignored", "--exclude-standard", "--directory",
                   "--no-empty-directory"]):
        state = subprocess.run(["git", "-C", str(side.app_dir), *check],
                               capture_output=True, text=True, check=False)
        if state.returncode or state.stdout.strip():
            return None
    tree = subprocess.run(["git", "-C", str(side.app_dir), "rev-parse", "HEAD^{tree}"],
                          capture_output=True, text=True, check=False)
    if tree.returncode:
        return None
    return _tree_key(tree.stdout.strip(), cdk, cdk_args)


def commit_key(repo: Path, commit: str, cdk: Sequence[str], cdk_args: Sequence[str]) -> str:
    """The key :func:`assembly_key` gives a fresh worktree of the commit (exactly its files),
    without making one."""
    return _tree_key(_git(repo, "rev-parse", f"{commit}^{{tree}}"), cdk, cdk_args)


def _tree_key(tree: str, cdk: Sequence[str], cdk_args: Sequence[str]) -> str:
    cli = Path(shutil.which(cdk[0]) or cdk[0]).resolve()
    cli_package = next((p / "package.json" for p in cli.parents if (p / "package.json").is_file()),
                       cli)
    material = {
        "tree": tree, "cdk": list(cdk), "arguments": list(cdk_args),
        "environment": {k: v for k, v in sorted(os.environ.items())
                        if k.startswith(_ENVIRONMENT_PREFIXES)},
        "python": sys.version,
        "packages": installed_packages([Path(sysconfig.get_paths()["purelib"])]),
        "cli": files_fingerprint([cli, cli_package]),
        "user configuration": files_fingerprint([Path.home() / ".cdk.json"]),
    }
    return sha256(json.dumps(material, sort_keys=True).encode())


def reuse_kept_commit(side: Side, repo: Path, commit: str, cdk: Sequence[str],
                      cdk_args: Sequence[str]) -> bool:
    """Put the commit's kept assembly in the side's outdir, without a worktree (checking out
    every file of BASE only to find its assembly kept cost a review ~1 s); False when none is
    kept, and the side is synthesized in a worktree as before."""
    _fresh_outdir(side)
    key = commit_key(repo, commit, cdk, cdk_args)
    if not _reuse(side, key):
        return False
    _say_reused(side, key)
    return True


def _fresh_outdir(side: Side) -> None:
    shutil.rmtree(side.outdir, ignore_errors=True)
    side.outdir.parent.mkdir(parents=True, exist_ok=True)


def _say_reused(side: Side, key: str) -> None:
    progress(f"{side.name} ({side.label}) reused from {_cache_dir(side) / key[:16]}...: "
             "synthesized before from the same commit tree, CDK CLI, packages, CDK "
             "arguments and environment")


def _cache_dir(side: Side) -> Path:
    return side.outdir.parent / "cache"


def _reuse(side: Side, key: str) -> bool:
    """Copy (hard links) the kept assembly into the side's outdir; False when none is kept."""
    kept = _cache_dir(side) / key
    if not (kept / "manifest.json").is_file():
        return False
    shutil.copytree(kept, side.outdir, copy_function=_link)
    os.utime(kept)  # the newest entries stay
    return True


def _keep(side: Side, key: str) -> None:
    """Keep the side's fresh assembly under its key; drop all but the newest CACHE_ENTRIES."""
    cache = _cache_dir(side)
    partial = cache / f".{key}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(side.outdir, partial, copy_function=_link)
    shutil.rmtree(cache / key, ignore_errors=True)
    partial.rename(cache / key)
    entries = sorted((p for p in cache.iterdir() if not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_ENTRIES:]:
        shutil.rmtree(old, ignore_errors=True)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def synthesize(sides: Sequence[Side], cdk: Sequence[str], cdk_args: Sequence[str]) -> None:
    """`cdk synth` of every side at once, except a side whose assembly is kept from an earlier
    review (assembly_key); raise UsageError naming the first side that fails (the others are
    stopped)."""
    started = time.monotonic()
    running: dict[str, tuple[Side, subprocess.Popen[str], Path]] = {}
    keys: dict[str, str] = {}
    validation = CdkValidation.installed(sides[-1].outdir.parent / "cfn-validate-config")
    validated: dict[str, ValidatedAssembly] = {}
    for side in sides:
        _fresh_outdir(side)
        key = assembly_key(side, cdk, cdk_args)
        if key is not None and _reuse(side, key):
            _say_reused(side, key)
            continue
        if key is not None:
            keys[side.name] = key
        log = side.outdir.parent / f"{side.outdir.name}.synth.log"
        handle = log.open("w")
        command = [*cdk, "synth", "--quiet", "-o", str(side.outdir), *cdk_args]
        progress(f"synthesizing {side.name} ({side.label}) in {side.app_dir}")
        if side.name != "BASE" and isinstance(validation, str):
            progress(f"{side.name}: CDK's CloudFormation validation stays in its synth "
                     f"({validation})")
        process = subprocess.Popen(command, cwd=side.app_dir, env=_environment(side, validation),
                                   stdout=handle, stderr=subprocess.STDOUT, text=True)
        handle.close()
        running[side.name] = (side, process, log)
        if side.name != "BASE" and isinstance(validation, CdkValidation):
            validated[side.name] = ValidatedAssembly(
                validation, side.outdir, side.outdir.parent / "cfn-validate-passes")
    engine_needed: set[str] = set()
    failure: tuple[Side, int, Path] | None = None
    invalid: tuple[Side, str] | None = None
    while running and failure is None and invalid is None:
        for name, (side, process, log) in list(running.items()):
            code = process.poll()
            if code is None:
                # the templates are written before the synth's validation plugins run: build
                # the engine meanwhile if one of them was not validated before
                if name in validated and name not in engine_needed and (
                        side.outdir / "manifest.json").exists():
                    engine_needed.add(name)
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        if validated[name].to_validate():
                            validated[name].validation.warm_up()
                continue
            del running[name]
            if code != 0:
                failure = (side, code, log)
                break
            if name in validated:
                found = validated[name].report()
                if found:
                    invalid = (side, found)
                    break
            progress(f"{side.name} synthesized in {time.monotonic() - started:.1f} s")
            if name in keys:
                _keep(side, keys[name])
        time.sleep(0.02)
    for _side, process, _log in running.values():
        process.terminate()
        process.wait()
    if invalid:
        side, found = invalid
        raise UsageError(
            f"the {side.name} side ({side.label}) does not pass CDK's CloudFormation validation "
            f"(CloudFormation Validate, as aws-cdk-lib configures it; a synth with it on fails "
            f"alike on its errors):\n{found.rstrip()}")
    if failure:
        side, code, log = failure
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-_TAIL_LINES:])
        raise UsageError(
            f"the app does not synthesize on the {side.name} side ({side.label}, in "
            f"{side.app_dir}; cdk exited {code}). Last lines of {log}:\n{tail}"
        )
