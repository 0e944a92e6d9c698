"""The deploy-role side of the delivery workflow (docs/delivering.md): a small stack, deployed
once per AWS account, with GitHub's OIDC provider and one deploy role per environment.

Each role trusts only GitHub's OIDC tokens for this repository *and* that environment's job
(``sub`` = ``repo:OWNER/REPO:environment:NAME``, audience ``sts.amazonaws.com``, both
StringEquals), and may do one thing: ``sts:AssumeRole`` on the CDK bootstrap roles of the account
(deploy, file and image publishing, lookup) in the regions given. Everything a deployment does,
it does through those roles, which ``cdk bootstrap`` created with their own permissions.

Synthesize or deploy it as an app of its own (``make deploy-role``)::

    cdk deploy --app "python -m ecs_playground_app.deploy_role" \\
        -c deployRole.repository=OWNER/REPO -c deployRole.environments=dev,staging

Context keys: ``deployRole.repository`` (required), ``deployRole.environments`` (a,b or a JSON
list; default: the names of cdk.json's ``environments``), ``deployRole.oidcProviderArn`` (reuse
an account's existing provider: an account holds one per URL), ``deployRole.regions`` (default:
the stack's region), ``deployRole.stackName`` (default ``GitHubDeployRoles``), and the CDK's own
``@aws-cdk/core:bootstrapQualifier`` (default ``hnb659fds``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from ecs_playground.validation import Problem, PropsValidationError, is_token

from . import gates
from .parsers import ParseError, parse_str_list

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT = "@aws-cdk/core:bootstrapQualifier"
BOOTSTRAP_ROLES = ("deploy", "file-publishing", "image-publishing", "lookup")
"""The bootstrap roles the CDK CLI assumes (cfn-exec is CloudFormation's, never assumed by it)."""
DEFAULT_STACK_NAME = "GitHubDeployRoles"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_ENVIRONMENT = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_QUALIFIER = re.compile(r"[a-z0-9]{1,10}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_PROVIDER_ARN = re.compile(
    rf"arn:aws[a-z-]*:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}")


@dataclass(frozen=True, kw_only=True)
class GitHubDeployRolesProps:
    """What the deploy roles of one account need."""

    repository: str
    """The GitHub repository, OWNER/REPO: only its workflows' tokens are trusted."""
    environments: Sequence[str]
    """GitHub Environments (the workflow's `environment:`), one deploy role each."""
    oidc_provider_arn: str | None = None
    """An existing GitHub OIDC provider of the account. Default: None, the stack creates it (an
    account holds one provider per URL: give this when another stack made it)."""
    qualifier: str = DEFAULT_QUALIFIER
    """The bootstrap qualifier (`cdk bootstrap --qualifier`). Default: the CDK's own."""
    regions: Sequence[str] = field(default=())
    """Regions whose bootstrap roles the deploy roles may assume. Default: empty, the stack's
    own region."""

    def problems(self) -> list[Problem]:
        """Every invalid prop."""
        found = []
        if not _REPOSITORY.fullmatch(self.repository):
            found.append(Problem("repository", self.repository, "OWNER/REPO (GitHub's names)",
                                 "give the repository whose workflows deploy, e.g. acme/platform"))
        if not self.environments:
            found.append(Problem("environments", list(self.environments),
                                 "one GitHub Environment name or more",
                                 "name the environments this account deploys, e.g. dev,staging"))
        bad = [e for e in self.environments if not _ENVIRONMENT.fullmatch(e)]
        if bad or len(set(self.environments)) != len(self.environments):
            found.append(Problem("environments", list(self.environments),
                                 "distinct names of letters, digits, '_', '.', '-'",
                                 "use the GitHub Environments' names, each once"))
        arn = self.oidc_provider_arn
        if arn is not None and not is_token(arn) and not _PROVIDER_ARN.fullmatch(arn):
            found.append(Problem("oidc_provider_arn", arn,
                                 f"arn:aws:iam::ACCOUNT:oidc-provider/{GITHUB_OIDC_HOST}",
                                 "give the ARN of the account's GitHub provider, or leave it "
                                 "out to create one"))
        if not _QUALIFIER.fullmatch(self.qualifier):
            found.append(Problem("qualifier", self.qualifier, "1-10 lower-case letters or digits",
                                 "give the qualifier `cdk bootstrap --qualifier` used"))
        bad_regions = [r for r in self.regions if not _REGION.fullmatch(r)]
        if bad_regions:
            found.append(Problem("regions", list(self.regions), "AWS region codes (eu-west-1)",
                                 "list the regions the environments deploy to"))
        return found


class GitHubDeployRoles(Construct):
    """GitHub's OIDC provider (unless given) and one deploy role per environment."""

    def __init__(self, scope: Construct, construct_id: str,
                 props: GitHubDeployRolesProps | None = None, **kwargs: Any) -> None:
        props = props or GitHubDeployRolesProps(**kwargs)
        problems = props.problems()
        if problems:
            raise PropsValidationError("GitHubDeployRoles", construct_id, problems)
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        if props.oidc_provider_arn:
            self.provider_arn = props.oidc_provider_arn
        else:
            provider = iam.OidcProviderNative(self, "GitHubProvider", url=GITHUB_OIDC_URL,
                                              client_ids=[AUDIENCE])
            self.provider_arn = provider.oidc_provider_arn
        regions = list(props.regions) or [stack.region]
        self.bootstrap_role_arns = [
            stack.format_arn(service="iam", region="", resource="role",
                             resource_name=f"cdk-{props.qualifier}-{role}-role-"
                                           f"{stack.account}-{region}")
            for region in regions for role in BOOTSTRAP_ROLES]
        self.roles: dict[str, iam.Role] = {}
        roles = Construct(self, "Roles")
        for environment in props.environments:
            role = iam.Role(
                roles, environment,
                assumed_by=iam.WebIdentityPrincipal(self.provider_arn, conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub":
                            f"repo:{props.repository}:environment:{environment}",
                    }}),
                description=(f"GitHub Actions deploy role of {props.repository}, environment "
                             f"{environment}: assumes the CDK bootstrap roles, nothing else"),
                max_session_duration=cdk.Duration.hours(1),
            )
            role.add_to_policy(iam.PolicyStatement(actions=["sts:AssumeRole"],
                                                   resources=self.bootstrap_role_arns))
            cdk.CfnOutput(self, f"{environment}RoleArn", value=role.role_arn,
                          description=f"AWS_DEPLOY_ROLE_ARN of the GitHub Environment "
                                      f"{environment}")
            self.roles[environment] = role


def props_from_context(context: Mapping[str, Any]) -> GitHubDeployRolesProps:
    """The props from CDK context (module docstring); a malformed value is a ParseError."""
    environments = context.get("deployRole.environments")
    if environments is None and isinstance(context.get("environments"), Mapping):
        environments = list(context["environments"])
    return GitHubDeployRolesProps(
        repository=str(context.get("deployRole.repository", "")),
        environments=parse_str_list(environments or []),
        oidc_provider_arn=context.get("deployRole.oidcProviderArn") or None,
        qualifier=str(context.get(QUALIFIER_CONTEXT) or DEFAULT_QUALIFIER),
        regions=parse_str_list(context.get("deployRole.regions") or []),
    )


def build(app: cdk.App) -> cdk.Stack:
    """The deploy-role stack of an app, from its context, with the security gates."""
    context = app.node.get_all_context()
    stack = cdk.Stack(app, str(context.get("deployRole.stackName") or DEFAULT_STACK_NAME),
                      description="GitHub Actions OIDC deploy roles (ecs-playground delivery)")
    GitHubDeployRoles(stack, "DeployRoles", props_from_context(context))
    gates.register(app)
    return stack


def main() -> int:
    """`cdk synth/deploy --app "python -m ecs_playground_app.deploy_role"`."""
    app = cdk.App()
    try:
        build(app)
    except (PropsValidationError, ParseError) as error:
        print(error, file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
