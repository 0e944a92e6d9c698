"""What `make diff` and `make deploy` need from AWS, checked before anything is synthesized.

    python ecs_playground_app/preflight.py {diff,deploy} [-- CDK_ARGS...]

(Run as a file, not with -m: importing the package would start the CDK's Node runtime, ~10 s.)

A synth takes a quarter of a minute; the CLI then failed with "Unable to resolve AWS account to
use" and nothing about how to fix it. This check takes a second or two and says what is missing
and how to provide it:

1. credentials: boto3 looks where the CDK CLI looks (``AWS_PROFILE`` or ``--profile`` in
   CDK_ARGS, the ``AWS_ACCESS_KEY_ID`` variables, IAM Identity Center (SSO) profiles, a
   ``credential_process``, a container or instance role). Without any there is nothing to send:
   no request is made, except the instance-role probe boto3 makes (1 s timeout, skipped when
   ``AWS_EC2_METADATA_DISABLED=true``).
2. the account: STS ``GetCallerIdentity`` proves the credentials work (timeouts 5 s / 10 s).
3. the bootstrap: the version the ``CDKToolkit`` stack records in the SSM parameter
   ``/cdk-bootstrap/<qualifier>/version`` of the region. A deploy needs it (the assets bucket and
   image repository, the deploy roles); a diff only notes its absence. A user without
   ``ssm:GetParameter`` is told it could not be checked.
4. Docker (deploy): the services' images are built locally unless each service names one.

Exit status 0 when the verb can go ahead, 1 with the guidance on stderr when it cannot.
``AWS_ENDPOINT_URL`` is honoured (the tests use moto).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_QUALIFIER = "hnb659fds"
"""The CDK's default bootstrap qualifier (context ``@aws-cdk/core:bootstrapQualifier``)."""
MIN_BOOTSTRAP_VERSION = 6
"""The least bootstrap version the stacks' templates accept (their ``CheckBootstrapVersion``
rule, from the CDK's default stack synthesizer)."""
CLI_DEFAULT_REGION = "us-east-1"
"""Where the CDK CLI deploys an environment-agnostic stack when no region is configured."""
_REGION_VARIABLES = ("AWS_REGION", "AMAZON_REGION", "AWS_DEFAULT_REGION", "AMAZON_DEFAULT_REGION")
_CLIENT_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 10, "retries": {"max_attempts": 1}}

CREDENTIALS_HELP = """\
  Provide credentials one of these ways, then run `make {verb}` again:
    - a named profile:  export AWS_PROFILE=NAME   (profiles live in ~/.aws/config; `aws configure`
                        writes one; with IAM Identity Center run `aws sso login --profile NAME`)
    - access keys:      export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
                        (and AWS_SESSION_TOKEN=... for temporary ones)
    - on EC2, ECS or CodeBuild: the instance's or task's IAM role is used by itself
  or name the profile for this run only: make {verb} CDK_ARGS="--profile NAME".
  The region comes from AWS_REGION or the profile's `region` (default: us-east-1).
  The account and region must also be bootstrapped, once (the bucket, image repository and
  roles a deploy uses): node_modules/.bin/cdk bootstrap aws://ACCOUNT/REGION
  See docs/deploying.md."""


class PreflightError(Exception):
    """The verb cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where the verb would go."""

    account: str
    arn: str
    region: str
    region_configured: bool
    bootstrap_version: int | None
    """None: not bootstrapped. -1: could not be read (access denied)."""


def _profile(cdk_args: Sequence[str]) -> str | None:
    args = list(cdk_args)
    for index, arg in enumerate(args):
        if arg == "--profile" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--profile="):
            return arg.split("=", 1)[1]
    return None


def bootstrap_qualifier(project: Path) -> str:
    """The qualifier in the project's cdk.json context, else the CDK's default."""
    try:
        settings = json.loads((project / "cdk.json").read_text())
    except (OSError, ValueError):
        return DEFAULT_QUALIFIER
    value = settings.get("context", {}).get("@aws-cdk/core:bootstrapQualifier")
    return value if isinstance(value, str) and value else DEFAULT_QUALIFIER


def locate(verb: str, cdk_args: Sequence[str], project: Path) -> Target:
    """Resolve the credentials, account, region and bootstrap version; raise PreflightError."""
    # boto3 is a development dependency (the Makefile's venv has it), not the library's.
    import boto3  # type: ignore[import-untyped]
    import botocore.exceptions  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    client_config = Config(**_CLIENT_TIMEOUTS)
    profile = _profile(cdk_args)
    try:
        session = boto3.Session(profile_name=profile)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound as error:
        raise PreflightError(
            f"make {verb}: {error}.\n" + CREDENTIALS_HELP.format(verb=verb)
        ) from None
    except botocore.exceptions.BotoCoreError as error:  # e.g. an expired SSO session
        raise PreflightError(
            f"make {verb}: the AWS credentials could not be loaded: {error}\n"
            + CREDENTIALS_HELP.format(verb=verb)
        ) from None
    if credentials is None:
        raise PreflightError(
            f"make {verb}: no AWS credentials found ({verb} talks to your AWS account; nothing "
            "was synthesized).\n" + CREDENTIALS_HELP.format(verb=verb)
        )
    # The CDK CLI's order: these variables, then the profile's `region` (boto3 reads only
    # AWS_DEFAULT_REGION of them), then us-east-1 (an instance's own region is not probed here).
    configured = next((os.environ[name] for name in _REGION_VARIABLES if os.environ.get(name)),
                      None) or session.region_name
    region = configured or CLI_DEFAULT_REGION
    try:
        identity = session.client("sts", region_name=region, config=client_config)
        caller = identity.get_caller_identity()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise PreflightError(
            f"make {verb}: the AWS credentials were found ({credentials.method}) but AWS did not "
            f"accept them: {error}\n  Refresh them (e.g. `aws sso login`, new access keys) or "
            "choose others.\n" + CREDENTIALS_HELP.format(verb=verb)
        ) from None
    account = str(caller["Account"])
    qualifier = bootstrap_qualifier(project)
    version: int | None
    try:
        ssm = session.client("ssm", region_name=region, config=client_config)
        parameter = ssm.get_parameter(Name=f"/cdk-bootstrap/{qualifier}/version")
        version = int(parameter["Parameter"]["Value"])
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        version = None if code == "ParameterNotFound" else -1
    except (botocore.exceptions.BotoCoreError, ValueError):
        version = -1
    return Target(account, str(caller["Arn"]), region, configured is not None, version)


def report(verb: str, target: Target, project: Path, docker: str | None) -> list[str]:
    """The lines to print; raises PreflightError when the verb cannot go ahead."""
    where = f"aws://{target.account}/{target.region}"
    bootstrap = f"`node_modules/.bin/cdk bootstrap {where}`"
    lines = [f"make {verb}: account {target.account} as {target.arn}, region {target.region}"
             + ("" if target.region_configured else
                " (none configured: the CDK CLI's default; set AWS_REGION to choose)")]
    qualifier = bootstrap_qualifier(project)
    if target.bootstrap_version is None:
        problem = (
            f"{where} is not bootstrapped for the CDK (no SSM parameter "
            f"/cdk-bootstrap/{qualifier}/version). Bootstrap it once per account and region: "
            f"{bootstrap} (it creates the CDKToolkit stack: the bucket and image repository "
            "for the assets and the roles a deploy assumes)."
        )
        if verb == "deploy":
            raise PreflightError(f'make deploy: {problem}\n  See docs/deploying.md.')
        lines.append(f"  note: {problem} The diff shows every resource as new.")
    elif target.bootstrap_version == -1:
        lines.append(
            f"  note: could not read /cdk-bootstrap/{qualifier}/version in {where} (no "
            f"ssm:GetParameter?); a deploy needs the account bootstrapped: {bootstrap}."
        )
    elif target.bootstrap_version < MIN_BOOTSTRAP_VERSION:
        problem = (
            f"{where} has CDK bootstrap version {target.bootstrap_version}; these stacks need "
            f"{MIN_BOOTSTRAP_VERSION} or later: run {bootstrap} again to upgrade it."
        )
        if verb == "deploy":
            raise PreflightError(f"make deploy: {problem}")
        lines.append(f"  note: {problem}")
    else:
        lines.append(f"  bootstrapped (CDKToolkit version {target.bootstrap_version})")
    if verb == "deploy" and docker is None:
        lines.append(
            "  note: Docker was not found: the deploy builds the image of every service that "
            "does not name one (`<service>.image`) and will fail; install and start Docker, or "
            'give every service an image, e.g. CDK_ARGS="-c location.image=REPO:TAG".'
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Check, print what was found or what is missing; 0 to go ahead, 1 to stop."""
    parser = argparse.ArgumentParser(prog="preflight.py")
    parser.add_argument("verb", choices=("diff", "deploy"))
    parser.add_argument("cdk_args", nargs="*", help="the CDK_ARGS the verb passes to the CLI")
    args = parser.parse_args(argv)
    project = Path.cwd()
    docker = shutil.which(os.environ.get("CDK_DOCKER") or "docker")
    try:
        target = locate(args.verb, args.cdk_args, project)
        lines = report(args.verb, target, project, docker)
    except PreflightError as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
