#!/usr/bin/env python3
"""The TypeScript mirror (bench/ts-app): install its pinned packages and synthesize it.

Used by bench/synth_benchmark.sh (`ts_app.py install`) and tests/bench/test_ts_mirror.py.

* `install`: `npm ci` into bench/ts-app/node_modules when it is missing or older than
  package-lock.json, with the project's Node 24 (.venv/bin first on PATH). About 25 s and
  190 MB the first time (aws-cdk-lib, cdk-nag, constructs from the npm registry); nothing after.
* `synth OUTDIR [CDK ARGS...]`: `cdk synth -q` of the mirror into OUTDIR with the pinned CLI.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TS_APP = ROOT / "bench" / "ts-app"
CDK = ROOT / "node_modules" / ".bin" / "cdk"
LOCK = TS_APP / "package-lock.json"
INSTALLED = TS_APP / "node_modules" / ".package-lock.json"


def node_environment() -> dict[str, str]:
    """The environment the benchmark and the test run node and the CLI in: the checkout's
    .venv/bin first (Node 24 from nodeenv, not a system node 20), no CLI telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    return env


def installed() -> bool:
    """Whether node_modules holds what package-lock.json pins (npm writes .package-lock.json)."""
    return INSTALLED.is_file() and INSTALLED.stat().st_mtime >= LOCK.stat().st_mtime


def install() -> None:
    """`npm ci` when needed; raises CalledProcessError (with npm's output) when it fails. One at
    a time (a lock on package-lock.json): two at once in the same folder fail (npm's ENOTEMPTY,
    seen when two test workers ran the mirror's test module at once); the second waits, then
    finds the folder installed."""
    with LOCK.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():
            return
        print("Installing bench/ts-app dependencies (npm ci)...", file=sys.stderr)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TS_APP,
                       env=node_environment(), check=True, timeout=600)


def synth(outdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cdk synth -q --no-notices -o OUTDIR ARGS` of the mirror (install first)."""
    return subprocess.run(
        [str(CDK), "synth", "-q", "--no-notices", "-o", str(outdir), *args], cwd=TS_APP,
        env=node_environment(), capture_output=True, text=True, timeout=600, check=False,
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        install()
        return 0
    if argv[:1] == ["synth"] and len(argv) >= 2:
        install()
        result = synth(Path(argv[1]), *argv[2:])
        sys.stderr.write(result.stderr)
        return result.returncode
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
