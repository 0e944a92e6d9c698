"""Stands in for `cdk synth --quiet -o OUT [-c KEY=VALUE]...` in the review's end-to-end tests.

It runs the current directory's app.py in one Python process, as the CLI would (cdk.json's context,
the `-c` overrides as strings, the CLI's own context keys), without the ~25 s of the Node CLI.
The review tool calls it like the CLI: in BASE's worktree for BASE, in the repository for head.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

from synth_app import CLI_CONTEXT


def main(argv: list[str]) -> int:
    """Parse the synth arguments, run ./app.py into the output folder."""
    assert argv[:2] == ["synth", "--quiet"], argv
    outdir, overrides = None, {}
    args = iter(argv[2:])
    for arg in args:
        if arg == "-o":
            outdir = next(args)
        elif arg == "-c":
            key, _, value = next(args).partition("=")
            overrides[key] = value
    assert outdir, "no -o OUTDIR"
    context = json.loads(Path("cdk.json").read_text())["context"]
    os.environ["CDK_CONTEXT_JSON"] = json.dumps({**context, **CLI_CONTEXT, **overrides})
    os.environ["CDK_OUTDIR"] = outdir
    os.environ.setdefault("CDK_VALIDATION", "false")
    sys.path.insert(0, os.getcwd())  # the app's own ecs_playground (BASE's, in its worktree)
    runpy.run_path("app.py", run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
