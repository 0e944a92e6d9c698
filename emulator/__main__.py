"""``python -m emulator up|rollout|down|status``: the entry points behind ``make local``,
``make local-rollout`` and ``make local-stop``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator import driver, rollout

REPO = Path(__file__).resolve().parent.parent


def _deploy_options(parser: argparse.ArgumentParser) -> None:
    """What ``up`` deploys (``rollout`` redeploys the same way)."""
    parser.add_argument(
        "--app-dir", type=Path, default=REPO, help="directory with cdk.json (default: the repo)"
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="CDK context, passed to bootstrap and deploy (repeatable)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="cloud assembly directory (cdk -o)"
    )
    parser.add_argument(
        "--app",
        type=Path,
        default=None,
        metavar="ASSEMBLY_DIR",
        help="deploy this cloud assembly (from 'cdk synth -o DIR') as it is, without a synth; "
        "-c and -o do not apply to it",
    )
    parser.add_argument(
        "--lambda-custom-resource",
        action="append",
        default=[],
        metavar="TYPE",
        help="answer this custom resource type with its own Lambda code (Python), run in the "
        "emulator (repeatable)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=REPO / ".local", help="pid/port/log (git-ignored)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start the emulator, bootstrap, deploy all stacks, print what runs"
    )
    _deploy_options(up)
    watch = commands.add_parser(
        "rollout",
        help="redeploy into the running emulator (as 'up') under continuous traffic through "
        "every local ELB; print the rollout as a timeline and per service the requests sent and "
        "failed and the lowest InService count; exit 1 if a request failed, the InService count "
        "went below the minimum or a deployment failed",
    )
    _deploy_options(watch)
    watch.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="stop the traffic and the watch after this long (default 600)",
    )
    commands.add_parser("down", help="stop the emulator")
    commands.add_parser("status", help="print what runs in the emulator")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code is 0 on success."""
    args = _parser().parse_args(argv)
    args.state_dir = args.state_dir.resolve()
    if args.command == "down":
        driver.down(args.state_dir)
        return 0
    if args.command == "status":
        return driver.status(args.state_dir)
    if args.app and (args.context or args.output):
        print("error: -c and -o do not apply to --app (a cloud assembly is already synthesized)",
              file=sys.stderr)
        return 2
    options = driver.UpOptions(
        args.app_dir.resolve(),
        args.state_dir,
        args.context,
        args.output,
        args.lambda_custom_resource,
        args.app.resolve() if args.app else None,
    )
    if args.command == "rollout":
        return rollout.run(options, args.max_seconds)
    try:
        timings = driver.up(options)
    except (driver.DriverError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
