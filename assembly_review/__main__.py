"""Command line of the review tool.

    python -m assembly_review run [--base REF] [--allow-replace IDS]
                                                 [--cdk-args ARGS] [-- CDK_ARGS...]
        synthesize BASE (a temporary git worktree) and the working tree, print the report;
        write it and the plan (plan.json, docs/delivering.md) into cdk.review/
    python -m assembly_review compare BASE_DIR HEAD_DIR [--allow-replace IDS]
                                                     [--report FILE] [--plan FILE]
        the report and the plan for two cloud assemblies that exist already
    python -m assembly_review diagram ASSEMBLY [--write FILE]
        docs/architecture.md for an assembly

Every value is used verbatim, never parsed by a shell: --base '$(id)' is a ref named `$(id)`.
Without --base, BASE is the merge base of HEAD with main; an empty or malformed --base is an error.

Exit status (run and compare; it follows the report's verdict, 0 only for safe to merge):
{statuses}
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import plan
from .diagram import MermaidUnavailable, architecture_markdown, parse_errors
from .inputs import changed_inputs
from .report import Review, render, review
from .status import ExitStatus, table
from .synth import (
    Side,
    UsageError,
    head_label,
    progress,
    resolve_base,
    reuse_kept_commit,
    synthesize,
    worktree,
)
from .template import AssemblyError, load_assembly

DEFAULT_DIR = Path("cdk.review")
DEFAULT_CDK = "node_modules/.bin/cdk --no-notices"
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")


def _allowed(text: str) -> list[str]:
    """ALLOW_REPLACE's logical IDs; anything that cannot be a logical ID is an error."""
    names = [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
    bad = [name for name in names if not _LOGICAL_ID.fullmatch(name)]
    if bad:
        raise UsageError(f"ALLOW_REPLACE names {', '.join(repr(b) for b in bad)}, which cannot be "
                         "logical IDs (letters and digits only): give the IDs the report names, "
                         "comma-separated, e.g. ALLOW_REPLACE=DatabaseInstanceAA8A5FDE")
    return names


def _cdk_args(args: argparse.Namespace) -> list[str]:
    """--cdk-args (split like a shell's words, without running anything) then the ones after --."""
    try:
        words = shlex.split(args.cdk_args_text)
    except ValueError as error:
        raise UsageError(f"CDK_ARGS {args.cdk_args_text!r} cannot be split into arguments "
                         f"({error}): balance the quotes") from error
    return words + [a for a in args.cdk_args if a != "--"]


def _emit(result: Review, path: Path, plan_file: Path, base: Path, head: Path) -> None:
    """Print the report and write it, then the plan of the same review."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result))
    sys.stdout.write(path.read_text())
    sys.stdout.flush()
    progress(f"report written to {path}")
    plan.write(result, base, head, plan_file)
    progress(f"plan written to {plan_file} (make deploy PLAN={plan_file} enforces it)")


def _run(args: argparse.Namespace) -> int:
    repo = Path(args.repo).resolve()
    out = (repo / args.dir) if not Path(args.dir).is_absolute() else Path(args.dir)
    for stale in ("report.md", "plan.json"):  # no stale report or plan if this run fails
        (out / stale).unlink(missing_ok=True)
    # what the user gave first: a bad BASE, ALLOW_REPLACE or CDK_ARGS is named as such
    cdk_args = _cdk_args(args)
    allowed = _allowed(args.allow_replace)
    commit, base_label = resolve_base(repo, args.base)
    cdk = shlex.split(args.cdk)
    if not Path(cdk[0]).is_absolute() and (repo / cdk[0]).exists():
        cdk[0] = str(repo / cdk[0])
    elif not Path(cdk[0]).is_absolute() and "/" in cdk[0]:
        raise UsageError(f"the CDK CLI {cdk[0]} is missing in {repo}: run `make install`")
    inputs = changed_inputs(repo, commit)
    started = time.monotonic()
    head = Side("head", head_label(repo), repo, out / "head")
    if reuse_kept_commit(Side("BASE", base_label, repo, out / "base"), repo, commit, cdk,
                         cdk_args):
        synthesize([head], cdk, cdk_args)
    else:
        with worktree(repo, commit) as base_dir:
            synthesize([Side("BASE", base_label, base_dir, out / "base"), head], cdk, cdk_args)
    progress(f"both sides synthesized in {time.monotonic() - started:.1f} s; comparing")
    result = review(load_assembly(out / "base"), load_assembly(out / "head"),
                    allowed=allowed, base_label=base_label,
                    head_label=head.label, cdk_args=cdk_args, inputs=inputs)
    _emit(result, out / "report.md", out / "plan.json", out / "base", out / "head")
    return result.exit_code


def _compare(args: argparse.Namespace) -> int:
    allowed = _allowed(args.allow_replace)
    try:
        base, head = load_assembly(Path(args.base_dir)), load_assembly(Path(args.head_dir))
    except AssemblyError as error:
        raise UsageError(str(error)) from error
    result = review(base, head, allowed=allowed, base_label=f"`{args.base_dir}`",
                    head_label=f"`{args.head_dir}`", synthesized=False)
    _emit(result, Path(args.report), Path(args.plan), Path(args.base_dir), Path(args.head_dir))
    return result.exit_code


def _diagram(args: argparse.Namespace) -> int:
    try:
        text = architecture_markdown(Path(args.assembly))
    except AssemblyError as error:
        raise UsageError(str(error)) from error
    if not args.write:
        sys.stdout.write(text)
        return 0
    target = Path(args.write)
    candidate = target.with_name(f".{target.name}.new")
    candidate.write_text(text)
    try:
        errors = parse_errors([candidate])
    except MermaidUnavailable as error:
        candidate.unlink()
        raise UsageError(str(error)) from error
    if errors:
        candidate.unlink()
        raise UsageError("Mermaid's parser rejects the generated diagram (a bug in "
                         "assembly_review/diagram/): " + "; ".join(errors.values()))
    candidate.replace(target)
    progress(f"wrote {target} (checked by Mermaid's parser)")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a bad argument; here 2 means 'data loss', so usage is ERROR (1)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"review: error: {message}", file=sys.stderr)
        raise SystemExit(ExitStatus.ERROR)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = _Parser(prog="python -m assembly_review",
                                  description=(__doc__ or "").format(statuses=table()),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="synthesize BASE and the working tree, then compare")
    run.add_argument("--base", default=None,
                     help="git ref of BASE, verbatim (default: merge base with main; an empty "
                          "value is an error)")
    run.add_argument("--allow-replace", default="",
                     help="logical IDs (comma-separated) whose replacement/removal is intended")
    run.add_argument("--repo", default=".", help="the git repository (default: .)")
    run.add_argument("--dir", default=str(DEFAULT_DIR),
                     help="where the assemblies and report.md go (default: cdk.review)")
    run.add_argument("--cdk", default=DEFAULT_CDK, help=f"CDK CLI command (default: {DEFAULT_CDK})")
    run.add_argument("--cdk-args", dest="cdk_args_text", default="",
                     help="arguments for cdk synth on both sides as one string, split like "
                          "shell words but never run by a shell (what make review's CDK_ARGS "
                          "passes)")
    run.add_argument("cdk_args", nargs=argparse.REMAINDER,
                     help="after --: arguments for cdk synth on both sides, e.g. -c key=value")
    run.set_defaults(handler=_run)
    compare = commands.add_parser("compare", help="compare two existing cloud assemblies")
    compare.add_argument("base_dir")
    compare.add_argument("head_dir")
    compare.add_argument("--allow-replace", default="")
    compare.add_argument("--report", default=str(DEFAULT_DIR / "report.md"))
    compare.add_argument("--plan", default=str(DEFAULT_DIR / "plan.json"),
                         help="where the plan goes (default: cdk.review/plan.json)")
    compare.set_defaults(handler=_compare)
    diagram = commands.add_parser("diagram", help="docs/architecture.md from a cloud assembly")
    diagram.add_argument("assembly")
    diagram.add_argument("--write", default="", help="write to this file instead of stdout")
    diagram.set_defaults(handler=_diagram)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as error:
        print(f"review: error: {error}", file=sys.stderr)
        code = ExitStatus.ERROR
    if args.command != "diagram":
        status = ExitStatus(code)
        print(f"review: exit {status.value}: {status.meaning}", file=sys.stderr)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
