"""`make deploy ENV=... PLAN=cdk.review/plan.json`: deploy what the review reviewed, and nothing
else (docs/delivering.md).

    python -m ecs_playground_app.deliver --plan FILE [--env NAME] [--assembly DIR]
                                              [--cdk COMMAND] [-- CDK_ARGS...]

From the cloud assembly the review synthesized (the plan's head, never a new synth), per stack of
the environment, in dependency order, after two checks of every stack:
1. the deployed template (CloudFormation GetTemplate) is the plan's BASE template, else refuse,
   naming the resources and sections that differ (someone deployed something else, or the wrong
   account); a stack that does not exist matches a BASE without it;
2. the template, the stack's manifest record, its asset manifest and every asset's source are the
   plan's head (sha256), else refuse, naming the file;
then, per stack:
3. ``cdk deploy --method=prepare-change-set`` creates the change set without executing it;
   DescribeChangeSet's replacements and removals must each be in the plan (else the change set
   is deleted and the deploy refused), and the deployed template is checked again;
4. only then ``cdk deploy --method=execute-change-set`` executes it.

Exit status: 0 delivered (or nothing to deliver), 1 error (a bad option or plan, the CDK CLI
failed), 2 refused (the plan does not match: one message says why; nothing was executed).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assembly_review.plan import (
    DEFAULT_ENVIRONMENT,
    SCHEMA_ID,
    SCHEMA_VERSION,
    StackArtifact,
    canonical_sha256,
    head_hashes,
    stack_artifacts,
    template_differences,
)

DEFAULT_CDK = "node_modules/.bin/cdk --no-notices"
DELIVERED, ERROR, REFUSED = 0, 1, 2
_TAIL_LINES = 30
_ABSENT = ("REVIEW_IN_PROGRESS",)
"""A stack in this state was only ever given a change set: CloudFormation has no template."""


class DeliveryError(RuntimeError):
    """The deploy could not run (exit 1): a bad option, an unreadable plan, a failing CLI."""


class Refused(RuntimeError):
    """The plan does not hold (exit 2): nothing was executed."""


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"deliver: {message}", file=sys.stderr, flush=True)


# -- the plan and the assembly -------------------------------------------------------------------


def load_plan(path: Path) -> dict[str, Any]:
    """The plan, checked to be one this code reads."""
    if not path.is_file():
        raise DeliveryError(f"no plan at {path}: run `make review` first (it writes "
                            "cdk.review/plan.json), then make deploy PLAN=cdk.review/plan.json")
    try:
        plan: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DeliveryError(f"{path} is not JSON ({error}): give the plan.json the review "
                            "wrote") from error
    if plan.get("schema") != SCHEMA_ID or plan.get("schemaVersion") != SCHEMA_VERSION:
        raise DeliveryError(
            f"{path} is not a version {SCHEMA_VERSION} plan (schema {plan.get('schema')!r}, "
            f"version {plan.get('schemaVersion')!r}): review again with this version of the "
            "tool")
    return plan


def environment_of(plan: Mapping[str, Any], name: str | None) -> tuple[str, dict[str, Any]]:
    """(name, entry) of the environment to deploy; without a name, the only one there is."""
    environments: dict[str, dict[str, Any]] = plan["environments"]
    if name is None:
        if len(environments) == 1:
            return next(iter(environments.items()))
        raise DeliveryError(f"the plan has {len(environments)} environments "
                            f"({', '.join(sorted(environments))}): name one, e.g. ENV=dev")
    if name not in environments:
        raise DeliveryError(f"environment {name!r} is not in the plan (it has "
                            f"{', '.join(sorted(environments)) or 'none'}): review it first")
    return name, environments[name]


def deploy_order(stacks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Stack names with every dependency before its dependents (then by name)."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name not in stacks:
            return
        if name in path:
            raise DeliveryError(f"the plan's stacks depend on each other in a cycle: "
                                f"{' -> '.join((*path, name))}")
        for dependency in sorted(stacks[name].get("dependsOn", [])):
            visit(dependency, (*path, name))
        order.append(name)

    for name in sorted(stacks):
        visit(name, ())
    return order


def check_verdict(name: str, environment: Mapping[str, Any]) -> None:
    """Refuse an environment whose review did not say 'safe to merge'."""
    if environment["exitStatus"] != 0:
        raise Refused(f"the review's verdict for environment {name!r} is "
                      f"{environment['verdict']!r} (exit {environment['exitStatus']}), not safe: "
                      "read the report, fix the change (or acknowledge it with ALLOW_REPLACE) "
                      "and review again")


def check_head(name: str, environment: Mapping[str, Any], assembly: Path) -> dict[str,
                                                                                  StackArtifact]:
    """Refuse unless the assembly holds exactly the plan's head for the environment: every
    template, manifest record, asset manifest and asset as hashed at review time."""
    found = {s.stack_name: s for s in stack_artifacts(assembly) if s.environment == name}
    planned = {stack: entry for stack, entry in environment["stacks"].items() if entry["head"]}
    problems = [f"stack {stack} is in the assembly but not in the plan (not reviewed)"
                for stack in sorted(set(found) - set(planned))]
    problems += [f"stack {stack} is in the plan but not in the assembly {assembly}"
                 for stack in sorted(set(planned) - set(found))]
    for stack in sorted(set(found) & set(planned)):
        problems += _head_mismatches(stack, planned[stack]["head"], head_hashes(found[stack]),
                                     found[stack].directory)
    if problems:
        raise Refused(f"the assembly {assembly} is not what was reviewed (environment "
                      f"{name!r}): " + "; ".join(problems)
                      + ". Deploy the assembly the review wrote, or review again")
    return found


def _head_mismatches(stack: str, planned: Mapping[str, Any], actual: Mapping[str, Any],
                     directory: Path) -> list[str]:
    where = f"stack {stack}:"
    problems = []
    if actual["templateSha256"] != planned["templateSha256"]:
        problems.append(f"{where} template {directory / actual['templateFile']} changed after "
                        "the review (sha256 differs)")
    if actual["artifactSha256"] != planned["artifactSha256"]:
        problems.append(f"{where} its record in {directory / 'manifest.json'} changed (stack "
                        "name, roles, tags or parameters)")
    if actual["assetManifestSha256"] != planned["assetManifestSha256"]:
        problems.append(f"{where} asset manifest {directory / str(actual['assetManifest'])} "
                        "changed")
    want = {a["id"]: a for a in planned["assets"]}
    got = {a["id"]: a for a in actual["assets"]}
    for asset_id in sorted(set(want) | set(got)):
        before, after = want.get(asset_id), got.get(asset_id)
        source = (after or before or {}).get("source", {})
        path = directory / str(source.get("path") or source.get("directory") or asset_id)
        if before is None or after is None:
            problems.append(f"{where} asset {asset_id} ({path}) "
                            + ("is not in the plan" if before is None else "is missing"))
        elif before != after:
            problems.append(f"{where} asset {asset_id}: {path} changed after the review "
                            "(sha256 differs)")
    return problems


# -- AWS -----------------------------------------------------------------------------------------


@dataclass
class CloudFormation:
    """The CloudFormation calls the deploy makes, for one stack's region."""

    client: Any

    @classmethod
    def for_region(cls, region: str | None) -> CloudFormation:
        """A client for the region (None: the credentials' default region)."""
        import boto3  # type: ignore[import-untyped]  # only a deploy needs it

        return cls(boto3.client("cloudformation", region_name=region))

    def _missing(self, error: Exception) -> bool:
        return "does not exist" in str(error)

    def template(self, stack: str) -> dict[str, Any] | None:
        """The deployed template, or None when the stack does not exist (or was only ever
        given a change set)."""
        try:
            found = self.client.describe_stacks(StackName=stack)["Stacks"]
        except self.client.exceptions.ClientError as error:
            if self._missing(error):
                return None
            raise
        if not found or found[0]["StackStatus"] in _ABSENT:
            return None
        body = self.client.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
        if isinstance(body, str):
            loaded: dict[str, Any] = json.loads(body)
            return loaded
        return dict(body)

    def change_set(self, stack: str, name: str) -> dict[str, Any] | None:
        """DescribeChangeSet, every page; None when there is none (the CLI found no change)."""
        pages: dict[str, Any] = {}
        token: str | None = None
        while True:
            kwargs = {"StackName": stack, "ChangeSetName": name}
            try:
                page = self.client.describe_change_set(**kwargs, **(
                    {"NextToken": token} if token else {}))
            except self.client.exceptions.ClientError as error:
                if "ChangeSetNotFound" in str(error) or self._missing(error):
                    return None
                raise
            pages = {**page, "Changes": [*pages.get("Changes", []), *page.get("Changes", [])]}
            token = page.get("NextToken")
            if not token:
                return pages

    def discard(self, stack: str, name: str) -> None:
        """Delete the prepared change set (and the empty stack a first change set made)."""
        try:
            self.client.delete_change_set(StackName=stack, ChangeSetName=name)
            status = self.client.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        except self.client.exceptions.ClientError as error:
            if self._missing(error) or "ChangeSetNotFound" in str(error):
                return
            raise
        if status in _ABSENT:
            self.client.delete_stack(StackName=stack)


def check_base(stack: str, entry: Mapping[str, Any], deployed: Mapping[str, Any] | None) -> None:
    """Refuse unless the deployed template is the plan's BASE template."""
    base = entry["base"]
    if base is None and deployed is None:
        return
    if base is None:
        raise Refused(f"stack {stack} exists, but the reviewed BASE has no such stack: it was "
                      "deployed out of band (or these credentials reach another account); "
                      "review against what is deployed")
    if deployed is None:
        raise Refused(f"stack {stack} does not exist, but the reviewed BASE has it: it was "
                      "deleted out of band (or these credentials reach another account or "
                      "region); review against what is deployed")
    if canonical_sha256(deployed) != base["canonicalSha256"]:
        raise Refused(f"stack {stack}: the deployed template is not the reviewed BASE template "
                      "(someone deployed something else since, or the review's BASE is not what "
                      "runs): " + "; ".join(template_differences(base, deployed) or
                                            ["formatting only"])
                      + ". Review the change against what is deployed")


def unplanned(entry: Mapping[str, Any], change_set: Mapping[str, Any]) -> list[str]:
    """The change set's replacements and removals that the plan did not show, one line each."""
    planned = {c["logicalId"]: c for c in entry["changes"]}
    problems = []
    for change in change_set.get("Changes", []):
        resource = change.get("ResourceChange", {})
        logical_id = str(resource.get("LogicalResourceId"))
        action, replacement = resource.get("Action"), resource.get("Replacement")
        plan = planned.get(logical_id, {})
        shown = plan.get("action", "no change")
        if action == "Remove" and shown != "remove":
            problems.append(f"{logical_id} ({resource.get('ResourceType')}) would be removed; "
                            f"the plan shows {shown}")
        elif action == "Modify" and replacement == "True" and shown != "replace":
            problems.append(f"{logical_id} ({resource.get('ResourceType')}) would be replaced; "
                            f"the plan shows {shown}")
        elif (action == "Modify" and replacement == "Conditional" and shown != "replace"
              and not plan.get("conditional")):
            problems.append(f"{logical_id} ({resource.get('ResourceType')}) may be replaced "
                            f"(Replacement: Conditional); the plan shows {shown}")
    return problems


# -- the CLI -------------------------------------------------------------------------------------


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run_cli(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    say("$ " + shlex.join(command))
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _cli(run: Runner, command: Sequence[str], what: str) -> None:
    result = run(command)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-_TAIL_LINES:])
        raise DeliveryError(f"{what} failed (cdk exited {result.returncode}):\n{tail}")


@dataclass
class Delivery:
    """One environment of a plan, deployed from one assembly."""

    plan: Mapping[str, Any]
    environment: str
    assembly: Path
    cdk: Sequence[str]
    cdk_args: Sequence[str] = ()
    aws: Callable[[str | None], CloudFormation] = CloudFormation.for_region
    run: Runner = _run_cli

    def deploy(self) -> list[str]:
        """Check, prepare, compare, execute; return the stacks whose change set was executed."""
        name, entry = environment_of(self.plan, self.environment)
        check_verdict(name, entry)
        stacks = entry["stacks"]
        artifacts = check_head(name, entry, self.assembly)
        order = [s for s in deploy_order(stacks) if stacks[s]["head"]]
        for stack in sorted(set(stacks) - set(order)):
            say(f"stack {stack} is in BASE only: left alone (delete it with cdk destroy)")
        clients = {s: self.aws(stacks[s]["region"]) for s in order}
        for stack in order:
            check_base(stack, stacks[stack], clients[stack].template(stack))
        say(f"environment {name!r}: {len(order)} stack(s) match the plan's BASE and head")
        executed = []
        for stack in order:
            if self._deliver(stack, stacks[stack], artifacts[stack], clients[stack]):
                executed.append(stack)
        return executed

    def _deliver(self, stack: str, entry: Mapping[str, Any], artifact: StackArtifact,
                 aws: CloudFormation) -> bool:
        change_set = f"reviewed-{entry['head']['canonicalSha256'][:12]}-{int(time.time())}"
        common = [artifact.display_name, "--app", str(self.assembly), "--exclusively",
                  "--require-approval", "never", "--change-set-name", change_set,
                  *self.cdk_args]
        _cli(self.run, [*self.cdk, "deploy", "--method=prepare-change-set", *common],
             f"preparing the change set of {stack}")
        described = aws.change_set(stack, change_set)
        if described is None or not described.get("Changes"):
            if described is not None:
                aws.discard(stack, change_set)
            say(f"stack {stack}: no change to deploy")
            return False
        try:
            problems = unplanned(entry, described)
            if problems:
                raise Refused(f"stack {stack}: the change set {change_set} does what the plan "
                              "did not show: " + "; ".join(problems)
                              + ". It was deleted, nothing was executed; review again")
            check_base(stack, entry, aws.template(stack))
        except Refused:
            aws.discard(stack, change_set)
            raise
        say(f"stack {stack}: the change set's {len(described['Changes'])} change(s) are the "
            "plan's; executing it")
        _cli(self.run, [*self.cdk, "deploy", "--method=execute-change-set", *common],
             f"executing the change set of {stack}")
        return True


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m ecs_playground_app.deliver",
                                  description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--plan", required=True, help="the plan.json make review wrote")
    top.add_argument("--env", default=None,
                     help=f"environment to deploy (default: the plan's only one, "
                          f"'{DEFAULT_ENVIRONMENT}' for an app without environments)")
    top.add_argument("--assembly", default=None,
                     help="the reviewed cloud assembly (default: the plan's head, relative to "
                          "the plan)")
    top.add_argument("--cdk", default=DEFAULT_CDK, help=f"CDK CLI (default: {DEFAULT_CDK})")
    top.add_argument("cdk_args", nargs=argparse.REMAINDER,
                     help="after --: more arguments for cdk deploy (e.g. --profile NAME)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        plan_file = Path(args.plan)
        plan = load_plan(plan_file)
        assembly = Path(args.assembly) if args.assembly else (
            plan_file.parent / plan["head"]["assembly"])
        if not (assembly / "manifest.json").is_file():
            raise DeliveryError(f"{assembly} is not a cloud assembly: deploy the assembly the "
                                "review wrote (its head), next to the plan")
        delivery = Delivery(plan, args.env, assembly, shlex.split(args.cdk),
                            [a for a in args.cdk_args if a != "--"])
        executed = delivery.deploy()
    except Refused as refusal:
        print(f"deliver: REFUSED: {refusal}", file=sys.stderr)
        return REFUSED
    except DeliveryError as error:
        print(f"deliver: error: {error}", file=sys.stderr)
        return ERROR
    say(f"delivered: {', '.join(executed) or 'nothing to change'}")
    return DELIVERED


if __name__ == "__main__":
    sys.exit(main())
