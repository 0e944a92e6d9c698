"""``python -m emulator up|down|status``: the entry points behind ``make local`` / ``make local-
stop``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator import driver

REPO = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=REPO / ".local", help="pid/port/log (git-ignored)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up", help="start the emulator, bootstrap, deploy all stacks, print what runs"
    )
    up.add_argument(
        "--app-dir", type=Path, default=REPO, help="directory with cdk.json (default: the repo)"
    )
    up.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="CDK context, passed to bootstrap and deploy (repeatable)",
    )
    up.add_argument(
        "-o", "--output", type=Path, default=None, help="cloud assembly directory (cdk -o)"
    )
    up.add_argument(
        "--app",
        type=Path,
        default=None,
        metavar="ASSEMBLY_DIR",
        help="deploy this cloud assembly (from 'cdk synth -o DIR') as it is, without a synth; "
        "-c and -o do not apply to it",
    )
    up.add_argument(
        "--lambda-custom-resource",
        action="append",
        default=[],
        metavar="TYPE",
        help="answer this custom resource type with its own Lambda code (Python), run in the "
        "emulator (repeatable)",
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
    try:
        timings = driver.up(options)
    except (driver.DriverError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
