"""The real app through ``python -m emulator up`` (what ``make local`` runs) and the real CDK CLI:
failure recovery, create, the hints, an update, and destroy with a protected and an unprotected
database.

The app is the tutorial's fixed scenario (``tests/tutorial.py``), never the user's ``cdk.json``.
The tests share this file's emulator (the `session` fixture below) and each asks for the steps it
needs as module fixtures, so any one runs alone (``-k``): `killed` (the emulator killed
mid-deploy), `created` (the ``up`` of the platform: after `killed`, the one that recovers from it
with a fresh emulator), `twin` (a second platform beside the first), `refused` (the first ``cdk
destroy``). In file order each step runs once and every later ``up`` deploys into the running
emulator, as ``make local`` does. The kill and the recovery, the update and the second platform
are long scenarios (`make test-long`, CI): without them `created` deploys into this file's
running emulator.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from ecs_playground_app import layout
from emulator import cdk, process
from emulator.compat import custom_resources, local_mysql, notes
from emulator.compat.util import camel_keys
from tests.emulator.conftest import (
    README_CONTEXT,
    STACK,
    TWIN,
    TWIN_EXTRA,
    Session,
    emulated_counts,
    emulator_session,
    requires_cli,
    small_app,
)
from tests.emulator.inventory import exists
from tests.tutorial import TUTORIAL_CONTEXT

pytestmark = [pytest.mark.cli, requires_cli]
# The second platform's tests (a 6-service catalog synthesized, deployed beside the first and
# destroyed: about half of this file's time) are marked long: `make test-long` runs them, `make
# test` leaves them out.

PROTECTED_MESSAGE = (
    "Cannot delete protected DB Instance, please disable deletion protection and try again."
)
WATCHDOG_BOUND_SECONDS = 30
"""The CLI alone retries a dead endpoint for longer (7 attempts, back-off up to 15 s each)."""



@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """This file's own emulator, started as ``make local`` starts one. Its first test kills it
    and the next ``up`` starts another, without the test-only custom resource provider of the
    other files' session emulator: sharing one would break them whenever they run after this
    file on the same worker (serially, or as xdist happens to schedule them)."""
    with emulator_session(tmp_path_factory.mktemp("local"), ()) as session:
        yield session


@pytest.fixture(scope="module", autouse=True)
def _twin_synth_in_background(request: pytest.FixtureRequest, session: Session) -> None:
    """The second platform's synth runs in the background from the first test of this file on,
    when its test runs at all (under pytest-xdist, only the worker running this file starts it)."""
    if any("twin" in getattr(item, "fixturenames", ()) for item in request.session.items):
        session.start_twin_synth()


def _resources(session: Session, stack: str = STACK) -> dict[str, dict[str, str]]:
    cfn = session.clients("cloudformation")
    listed = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r for r in listed}


def _physical(session: Session) -> dict[str, str]:
    return {k: v["PhysicalResourceId"] for k, v in _resources(session).items()}


def _service(session: Session, name: str) -> dict[str, Any]:
    ecs = session.clients("ecs")
    arns = [a for a in ecs.list_services(cluster="app01")["serviceArns"] if a.endswith(f"/{name}")]
    return ecs.describe_services(cluster="app01", services=arns)["services"][0]


def _unresolved(session: Session, template: dict[str, Any], physical: dict[str, str],
                label: str = "") -> list[str]:
    """Template resources whose physical ID does not resolve through their service's API."""
    return [
        f"{label}{name} ({body['Type']})"
        for name, body in template.items()
        if not exists(session.clients, body["Type"], physical[name], body.get("Properties"),
                      physical)
    ]


def _task_definition(session: Session, arn: str) -> dict[str, Any]:
    return session.clients("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]


def _logical_id(template: dict[str, Any], resource_type: str, key: str, value: str) -> str:
    (found,) = [
        name
        for name, body in template.items()
        if body["Type"] == resource_type and body["Properties"].get(key) == value
    ]
    return found


@dataclass(frozen=True)
class Killed:
    """An ``up`` whose emulator was killed at CreateChangeSet."""

    returncode: int
    errors: str
    seconds: float
    """From the kill to the driver's exit."""
    pid: int
    """The killed emulator's."""


@pytest.fixture(scope="module")
def killed(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Killed:
    """This file's emulator killed under a deploy: the driver's watchdog, not the app, is under
    test, so a ready cloud assembly (no synth) reaches CreateChangeSet as the real app does."""
    victim = session.emulator
    app = small_app(
        tmp_path_factory.mktemp("kill"), "KillProbe", {"Topic": {"Type": "AWS::SNS::Topic"}}
    )
    driver = session.start_up(app)
    assert driver.stdout is not None
    killed_at = None
    for line in driver.stdout:
        # The CLI has read the assembly and is now creating the change set: the deploy is
        # under way when its emulator dies.
        if "creating CloudFormation changeset" in line:
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            break
    _, errors = driver.communicate(timeout=300)
    assert killed_at is not None, "the deploy never reached CreateChangeSet"
    seconds = time.monotonic() - killed_at
    return Killed(driver.returncode, errors, seconds, victim.pid)


# long: a deploy whose emulator dies, and the fresh emulator the next `up` starts (below), cost
# an emulator and a bootstrap more; make test deploys the platform into this file's running
# emulator, and keeps a killed emulator's task processes (test_runtime.py) and its state
# (test_state.py)
@pytest.mark.long
def test_emulator_dying_mid_deploy_fails_clearly(session: Session, killed: Killed) -> None:
    assert killed.returncode != 0
    assert re.search(
        r"deploy failed: the emulator \(pid \d+\) (exited|stopped listening).* while "
        r"'cdk deploy' was running",
        killed.errors,
    ), killed.errors
    assert killed.seconds < WATCHDOG_BOUND_SECONDS, (
        f"the driver waited {killed.seconds:.0f}s for a dead emulator"
    )
    assert process.read_state(session.state_dir) is None, "the dead emulator's state file stayed"


@dataclass(frozen=True)
class Created:
    """The tutorial's platform created by ``up``: into this file's running emulator, or after
    the kill (when `killed` ran first) into a fresh one."""

    result: subprocess.CompletedProcess[str]
    physical: dict[str, str]
    """The stack's physical IDs, by logical ID, right after the create."""

    @property
    def output(self) -> str:
        return self.result.stdout


@pytest.fixture(scope="module")
def created(session: Session) -> Created:
    """``up`` of the tutorial's platform (every test that needs the platform deployed asks for
    this, so each runs alone with ``-k``). In file order after `killed` (make test-long, CI), it
    is the ``up`` that recovers from the killed emulator."""
    result = session.up()
    assert result.returncode == 0, result.stdout + result.stderr
    return Created(result, _physical(session))


@pytest.mark.long  # see test_emulator_dying_mid_deploy_fails_clearly
def test_up_after_a_killed_emulator_starts_a_fresh_one(
    session: Session, killed: Killed, created: Created
) -> None:
    # `killed` first, then `created`: the up that follows the kill
    assert "==> start: moto" in created.output, "up did not start a fresh emulator"
    assert "deploying into the emulator already running" not in created.output
    fresh = process.read_state(session.state_dir)
    assert fresh is not None and fresh.pid != killed.pid


def test_up_creates_every_resource(session: Session, created: Created) -> None:
    template = session.template()["Resources"]
    physical = created.physical
    assert sorted(physical) == sorted(template), "resources skipped by the emulator"
    missing = _unresolved(session, template, physical)
    assert not missing, f"physical IDs that do not resolve: {missing}"
    assert f"{STACK}: CREATE_COMPLETE, new stack: {len(template)} resources created" in (
        created.output
    )


def _database_users_run() -> bool:
    """Whether the emulator runs ``Custom::DatabaseUsers`` for real (a MySQL server listens)."""
    return local_mysql.Server.from_environment().reachable()


def test_create_summary_counts_every_simulation(session: Session, created: Created) -> None:
    template = session.template()["Resources"]
    services = [b for b in template.values() if b["Type"] == "AWS::ECS::Service"]
    instances = sum(
        int(b["Properties"].get("DesiredCapacity") or b["Properties"]["MinSize"])
        for b in template.values()
        if b["Type"] == "AWS::AutoScaling::AutoScalingGroup"
    )
    stand_ins = [
        b
        for b in template.values()
        if isinstance(custom_resources.PROVIDERS.get(b["Type"]), custom_resources.StandIn)
    ]
    users = [b for b in template.values() if b["Type"] == "Custom::DatabaseUsers"]
    assert (len(services), instances, len(stand_ins), len(users)) == (2, 4, 1, 1)
    ran = _database_users_run()
    # the two services' images are built from docker/: their tasks run as processes, so only
    # the container instances (no ECS agent) are simulated
    assert emulated_counts(created.output) == {
        notes.NOT_APPLIED: 0,
        notes.SIMULATED: instances,
        notes.STAND_IN: len(stand_ins) + (0 if ran else len(users)),
        notes.LAMBDA_CODE: len(users) if ran else 0,
        notes.SKIPPED: 0,
    }
    assert "(container instance joined 4)" in created.output
    assert "ECS steady state" not in created.output


def _database_logins(
    session: Session, template: dict[str, Any], physical: dict[str, str]
) -> list[str]:
    """Log in to the local MySQL as every service user a ``Custom::DatabaseUsers`` of the
    template provisioned, with its secret's password; return the schemas each may use."""
    server = local_mysql.Server.from_environment()
    secrets = session.clients("secretsmanager")
    schemas = []
    for body in template.values():
        if body["Type"] != "Custom::DatabaseUsers":
            continue
        for service in body["Properties"]["Services"]:
            arn = physical[service["SecretArn"]["Ref"]]
            secret = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
            connection = pymysql.connect(
                host=server.host,
                port=server.port,
                user=secret["username"],
                password=secret["password"],
            )
            with connection.cursor() as cursor:
                cursor.execute("SHOW GRANTS")
                grants = " ".join(row[0] for row in cursor.fetchall())
            connection.close()
            assert f"ON `{service['Schema']}`.*" in grants, grants
            schemas.append(service["Schema"])
    return schemas


def test_database_users_handler_ran_against_the_local_mysql(
    session: Session, created: Created
) -> None:
    output = created.output
    if not _database_users_run():
        assert "Create not run: no MySQL server at" in output
        return
    schemas = _database_logins(session, session.template()["Resources"], _physical(session))
    assert len(schemas) == 2


@pytest.mark.usefixtures("created")
def test_create_holds_the_tutorial_facts(session: Session) -> None:
    ecs = session.clients("ecs")
    cluster = ecs.describe_clusters(clusters=["app01"])["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert cluster["registeredContainerInstancesCount"] == 4
    groups = session.clients("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [(g["DesiredCapacity"], len(g["Instances"])) for g in groups] == [(4, 4)]
    elbs = session.clients("elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert len(elbs) == 2
    for elb in elbs:
        assert elb["ListenerDescriptions"]
        assert elb["HealthCheck"]["Target"].startswith("HTTP:")
    names = {e["LoadBalancerName"] for e in elbs}
    for name in ("user", "location"):
        service = _service(session, name)
        assert service["desiredCount"] == 4
        assert service["deploymentConfiguration"]["maximumPercent"] == 200
        assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 50
        assert service["loadBalancers"][0]["loadBalancerName"] in names
    (database,) = session.clients("rds").describe_db_instances()["DBInstances"]
    assert database["DeletionProtection"] is True
    secrets = session.clients("secretsmanager")
    arn = secrets.list_secrets()["SecretList"][0]["ARN"]
    assert '"password"' in secrets.get_secret_value(SecretId=arn)["SecretString"]


@pytest.mark.usefixtures("created")
def test_create_keeps_every_task_definition_field(session: Session) -> None:
    template = session.template()["Resources"]
    listed = _resources(session)
    for name, body in template.items():
        if body["Type"] != "AWS::ECS::TaskDefinition":
            continue
        described = _task_definition(session, listed[name]["PhysicalResourceId"])
        for expected in camel_keys(body["Properties"]["ContainerDefinitions"]):
            actual = next(
                c for c in described["containerDefinitions"] if c["name"] == expected["name"]
            )
            for key in expected:
                assert key in actual, f"{name}: container field {key} lost"
        assert described["networkMode"] == body["Properties"].get("NetworkMode", "bridge")


# What a pasted hint runs, in a fresh shell: the exported variables only (no profile, no
# config file), the AWS CLI's argument names mapped onto botocore's model, as the CLI maps them.
_RUN_HINT = """
import json, shlex, sys
import boto3
from botocore import xform_name
service, operation, *args = shlex.split(sys.argv[1])[1:]
client = boto3.client(service)
model = client.meta.service_model
(name,) = [n for n in model.operation_names if xform_name(n, "-") == operation]
members = model.operation_model(name).input_shape.members
params, key = {}, None
for arg in args:
    if arg.startswith("--"):
        (key,) = [m for m in members if xform_name(m, "-") == arg[2:]]
        params[key] = [] if members[key].type_name == "list" else None
    elif isinstance(params[key], list):
        params[key].append(arg)
    else:
        params[key] = arg
answer = getattr(client, xform_name(name))(**params)
print(json.dumps({k: v for k, v in answer.items() if k != "ResponseMetadata"}, default=str))
"""


def test_the_printed_hints_work_as_printed(created: Created, tmp_path: Path) -> None:
    output = created.output
    # the services' images are built from docker/ and run from there: a new version is a change
    # of their code, then `make local` again (tests/emulator/test_runtime.py rolls one out)
    assert (
        "Roll out a new version as an update of this emulator: change a service's code under "
        "docker/ (e.g. docker/location/) and run 'make local' again"
    ) in output
    assert "'make local-rollout' does the same under traffic" in output
    (export,) = [line.strip() for line in output.splitlines() if line.strip().startswith("export ")]
    commands = [line.strip() for line in output.splitlines() if line.startswith("    aws ")]
    assert len(commands) >= 3, output
    variables = dict(word.split("=", 1) for word in shlex.split(export)[1:])
    assert variables["AWS_DEFAULT_REGION"] == "us-east-1", "AWS CLI v1 reads only this one"
    shell = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        **variables,
    }
    answers = []
    for command in commands:
        ran = subprocess.run(
            [sys.executable, "-c", _RUN_HINT, command],
            env=shell,
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, f"{command}\n{ran.stderr}"
        answers.append(json.loads(ran.stdout))
    described = next(a for a in answers if "services" in a)
    assert sorted(s["serviceName"] for s in described["services"]) == ["location", "user"]
    assert all(any(isinstance(v, list) and v for v in a.values()) for a in answers), answers


# long: the real app rolled out a second time (a slow rollout case: ~8 s of CPU); make test keeps
# the small app's update (test_compat.py) and the runtime's task replacement
@pytest.mark.long
def test_up_on_a_running_emulator_deploys_an_update(session: Session, created: Created) -> None:
    template = session.template()["Resources"]
    task = _logical_id(template, "AWS::ECS::TaskDefinition", "Family", "location")
    service = _logical_id(template, "AWS::ECS::Service", "ServiceName", "location")
    before = _task_definition(session, _service(session, "location")["taskDefinition"])
    result = session.up("-c", "location.image=srirajan/location:11")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "==> start: deploying into the emulator already running" in result.stdout
    after = _task_definition(session, _service(session, "location")["taskDefinition"])
    assert after["revision"] == before["revision"] + 1
    assert after["containerDefinitions"][0]["image"] == "srirajan/location:11"
    physical = _physical(session)
    changed = sorted(k for k in physical if physical[k] != created.physical[k])
    assert changed == [task], "an update replaced more than the task definition"
    assert sorted(physical) == sorted(created.physical)
    # from an image asset (ECR) to a registry image: the execution role loses its ECR pull
    # statement and the stack's CDK metadata its asset, as the same change does on AWS
    assert f"{STACK}: UPDATE_COMPLETE, 4 of {len(template)} resources changed" in result.stdout
    changes = re.findall(r"^      (replaced|updated|created|deleted|not applied) +(\S+)",
                         result.stdout, flags=re.MULTILINE)
    policy = next(k for k in template if k.startswith("ServicesLocationTaskDefinitionExecutionRole")
                  and template[k]["Type"] == "AWS::IAM::Policy")
    assert sorted(changes) == sorted([("replaced", task), ("updated", service),
                                      ("updated", policy), ("updated", "CDKMetadata")])
    assert emulated_counts(result.stdout) == {
        notes.NOT_APPLIED: 0,
        notes.SIMULATED: 1,
        notes.STAND_IN: 0,
        notes.LAMBDA_CODE: 0,
        notes.SKIPPED: 0,
    }
    assert "ECS service app01/location: 4 of 4 tasks shown RUNNING" in result.stdout
    # the closing hint rolls out the next image, not the one just deployed
    assert 'make local CDK_ARGS="-c location.image=srirajan/location:12"' in result.stdout


def _stack_physical(session: Session, stack: str) -> dict[str, str]:
    return {k: v["PhysicalResourceId"] for k, v in _resources(session, stack).items()}


def _expected_twin_stacks() -> list[str]:
    """The platform stack, then one stack per service stack the layout assigns the catalog to
    (pins from the README command or cdk.json, else the hash of the name)."""
    context = {**TUTORIAL_CONTEXT, **README_CONTEXT}
    services = README_CONTEXT["services"].split(",")
    pins = {s: (str(context[f"{s}.stack"]) if f"{s}.stack" in context else None) for s in services}
    keys = layout.by_stack(layout.assign(pins, int(context["serviceStacks"])))
    return [TWIN if key == layout.PLATFORM else f"{TWIN}-{key}" for key in keys]


def _twin_templates(assembly: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = [
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    ]
    return {
        stack: json.loads((assembly / f"{stack}.template.json").read_text())["Resources"]
        for stack in stacks
    }


def _cross_stack_references(node: Any) -> list[dict[str, Any]]:
    """Every Fn::GetStackOutput / Fn::ImportValue in a template fragment."""
    if isinstance(node, list):
        return [ref for item in node for ref in _cross_stack_references(item)]
    if not isinstance(node, dict):
        return []
    if "Fn::GetStackOutput" in node or "Fn::ImportValue" in node:
        return [node]
    return [ref for value in node.values() for ref in _cross_stack_references(value)]


@dataclass(frozen=True)
class Twin:
    """The second platform, deployed beside the first from its cloud assembly."""

    result: subprocess.CompletedProcess[str]
    assembly: Path
    templates: dict[str, dict[str, Any]]
    """Each stack's template resources."""
    physical: dict[str, dict[str, str]]
    """Each stack's physical IDs, by logical ID, right after the deploy."""
    first: dict[str, str]
    """The first platform's physical IDs just before."""

    @property
    def output(self) -> str:
        return self.result.stdout


@pytest.fixture(scope="module")
def twin(session: Session, created: Created) -> Twin:
    """``up --app`` of the README's second platform with its catalog, synthesized in the
    background since this file's first test (started here when this runs alone)."""
    first = _physical(session)
    session.start_twin_synth()
    assert session.twin_synth is not None, "the twin's synth did not start"
    assembly = session.twin_synth.assembly()
    result = session.up("--app", str(assembly), output=False)
    assert result.returncode == 0, result.stdout + result.stderr
    templates = _twin_templates(assembly)
    physical = {stack: _stack_physical(session, stack) for stack in templates}
    return Twin(result, assembly, templates, physical, first)


@pytest.mark.long
def test_second_platform_with_a_six_service_catalog_deploys_side_by_side(
    session: Session, twin: Twin
) -> None:
    """Issue 8 (two platforms in one account), issue 12 (everything on, 0 skipped) and issue 13
    (a 6-service catalog over service stacks) in one deployment: the README's command for a
    second platform with the catalog, plus every operations feature."""
    assert not set(README_CONTEXT) & set(TWIN_EXTRA), "the README's values must deploy as written"
    first, result, templates = twin.first, twin.result, twin.templates
    # the platform stack and at least two service stacks, as the layout assigns the catalog
    stacks = _expected_twin_stacks()
    assert sorted(templates) == sorted(stacks)
    assert len(stacks) >= 3, f"the catalog is not split over two service stacks: {stacks}"
    # cdk deploy --all deploys the platform stack before the stacks that read it
    order = [result.stdout.index(f"    {stack}: deploying...") for stack in stacks]
    assert order[0] == min(order), f"a service stack deployed before {TWIN}"
    # every stack in the summary (created, with its count) and in the hints; the first unchanged
    assert re.search(
        rf"{STACK}: (CREATE|UPDATE)_COMPLETE, unchanged \({len(first)} resources\)", result.stdout
    ), result.stdout
    cfn = session.clients("cloudformation")
    for stack, template in templates.items():
        assert f"    {stack}: CREATE_COMPLETE, new stack: {len(template)} resources created" in (
            result.stdout
        )
        assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == (
            "CREATE_COMPLETE"
        )
    for stack in (STACK, *stacks):
        assert f"aws cloudformation describe-stack-resources --stack-name {stack}" in result.stdout
    assert _physical(session) == first, "deploying the twin changed the first stack"
    # every template resource of every twin stack exists and resolves through its service API
    physical = twin.physical
    for stack, template in templates.items():
        assert sorted(physical[stack]) == sorted(template), f"{stack}: resources skipped"
        missing = _unresolved(session, template, physical[stack], f"{stack}/")
        assert not missing, f"physical IDs that do not resolve: {missing}"
    # 2 instances (ASG min 2); 5 services at steady state (user's image is built from docker/:
    # its tasks run as processes, nothing simulated); location and user start at 1 task, raised
    # to min 2 by autoscaling; one database users provisioner per stack
    ran = _database_users_run()
    provisioners = len(stacks)
    assert emulated_counts(result.stdout) == {
        notes.NOT_APPLIED: 0,
        notes.SIMULATED: 2 + 5 + 2,
        notes.STAND_IN: 1 + (0 if ran else provisioners),
        notes.LAMBDA_CODE: provisioners if ran else 0,
        notes.SKIPPED: 0,
    }
    assert "Application Auto Scaling set the desired count to 2 (min 2, max 5)" in result.stdout
    ecs = session.clients("ecs")
    arns = ecs.list_services(cluster="app01")["serviceArns"]
    found = ecs.describe_services(cluster="app01", services=arns)["services"]
    assert sorted((s["serviceName"], s["desiredCount"]) for s in found) == [
        ("location", 4),
        ("user", 4),
    ]
    (database,) = [
        physical[TWIN][n] for n, b in templates[TWIN].items() if b["Type"] == "AWS::RDS::DBInstance"
    ]
    (created,) = session.clients("rds").describe_db_instances(DBInstanceIdentifier=database)[
        "DBInstances"
    ]
    assert created["DeletionProtection"] is False


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {n: b for n, b in template.items() if b["Type"] == resource_type}


@pytest.mark.long
def test_every_catalog_service_runs_its_task_definition_behind_its_elb(
    session: Session, twin: Twin
) -> None:
    templates, physical = twin.templates, twin.physical
    platform = templates[TWIN]
    (provider,) = _of_type(platform, "AWS::ECS::CapacityProvider")
    subnets = {physical[TWIN][n] for n in _of_type(platform, "AWS::EC2::Subnet")}
    ecs, elb = session.clients("ecs"), session.clients("elb")
    running = []
    for stack, template in templates.items():
        for name, body in _of_type(template, "AWS::ECS::Service").items():
            (service,) = ecs.describe_services(
                cluster="app02", services=[physical[stack][name]]
            )["services"]
            where = f"{stack}/{name}"
            assert service["status"] == "ACTIVE", where
            assert service["clusterArn"].endswith(":cluster/app02"), where
            assert service["runningCount"] == service["desiredCount"] >= 1, where
            task = body["Properties"]["TaskDefinition"]["Ref"]
            assert service["taskDefinition"] == physical[stack][task], where
            definition = _task_definition(session, service["taskDefinition"])
            assert definition["status"] == "ACTIVE", where
            strategy = service["capacityProviderStrategy"]
            assert [s["capacityProvider"] for s in strategy] == [physical[TWIN][provider]], where
            (balancer,) = service["loadBalancers"]
            (wanted,) = body["Properties"]["LoadBalancers"]
            elb_name = physical[stack][wanted["LoadBalancerName"]["Ref"]]
            assert balancer["loadBalancerName"] == elb_name, where
            (described,) = elb.describe_load_balancers(
                LoadBalancerNames=[balancer["loadBalancerName"]]
            )["LoadBalancerDescriptions"]
            ports = [d["Listener"]["InstancePort"] for d in described["ListenerDescriptions"]]
            host_ports = [
                m.get("hostPort", m["containerPort"])
                for c in definition["containerDefinitions"]
                for m in c.get("portMappings", [])
            ]
            assert set(ports) <= set(host_ports), where
            assert set(described["Subnets"]) <= subnets, f"{where}: ELB outside the platform VPC"
            running.append(service["serviceName"])
    assert len(running) == len(README_CONTEXT["services"].split(",")) == 6, running
    arns = ecs.list_services(cluster="app02")["serviceArns"]
    assert len(arns) == 6, "the cluster runs services the templates do not declare"


@pytest.mark.long
def test_service_stacks_read_the_platform_stacks_outputs(session: Session, twin: Twin) -> None:
    templates = twin.templates
    cfn = session.clients("cloudformation")
    (platform,) = cfn.describe_stacks(StackName=TWIN)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in platform.get("Outputs", [])}
    exports = {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}
    for stack, template in templates.items():
        if stack == TWIN:
            continue
        references = _cross_stack_references(template)
        assert references, f"{stack} does not read the platform stack"
        for reference in references:
            if "Fn::ImportValue" in reference:
                assert reference["Fn::ImportValue"] in exports, (stack, reference)
                continue
            spec = reference["Fn::GetStackOutput"]
            assert spec["StackName"] == TWIN, (stack, spec)
            assert outputs.get(spec["OutputName"]), (stack, spec)


@pytest.mark.long
def test_every_catalog_service_has_its_mysql_user(session: Session, twin: Twin) -> None:
    output = twin.output
    if not _database_users_run():
        assert "Create not run: no MySQL server at" in output
        return
    templates, physical = twin.templates, twin.physical
    logins = [
        schema
        for stack, template in templates.items()
        for schema in _database_logins(session, template, physical[stack])
    ]
    assert len(logins) == 6, logins
    assert {"location02", "user02"} <= set(logins)


@pytest.mark.long
def test_everything_on_properties_reach_the_service_apis(session: Session, twin: Twin) -> None:
    physical = twin.physical[TWIN]
    template = twin.templates[TWIN]
    by_type: dict[str, list[str]] = {}
    for name, body in template.items():
        by_type.setdefault(body["Type"], []).append(name)
    cloudwatch = session.clients("cloudwatch")
    alarms = cloudwatch.describe_alarms(
        AlarmNames=[physical[n] for n in by_type["AWS::CloudWatch::Alarm"]]
    )["MetricAlarms"]
    assert len(alarms) == len(by_type["AWS::CloudWatch::Alarm"])
    for name in by_type["AWS::CloudWatch::Alarm"]:
        wanted = template[name]["Properties"]
        (alarm,) = [a for a in alarms if a["AlarmName"] == physical[name]]
        assert alarm.get("DatapointsToAlarm") == wanted.get("DatapointsToAlarm"), name
        assert len(alarm["AlarmActions"]) == len(wanted.get("AlarmActions", [])), name
        assert len(alarm["OKActions"]) == len(wanted.get("OKActions", [])), name
        expressions = [m["Expression"] for m in wanted.get("Metrics", []) if "Expression" in m]
        assert [m["Expression"] for m in alarm.get("Metrics", []) if "Expression" in m] == (
            expressions
        ), name
    assert any(
        "Expression" in m for a in alarms for m in a.get("Metrics", [])
    ), "no math-expression alarm"
    (dashboard,) = by_type["AWS::CloudWatch::Dashboard"]
    assert cloudwatch.get_dashboard(DashboardName=physical[dashboard])["DashboardBody"]
    discovery = session.clients("servicediscovery")
    (namespace,) = by_type["AWS::ServiceDiscovery::PrivateDnsNamespace"]
    assert discovery.get_namespace(Id=physical[namespace])["Namespace"]["Name"] == "app02.internal"
    ecs = session.clients("ecs")
    arns = ecs.list_services(cluster="app02")["serviceArns"]
    services = ecs.describe_services(cluster="app02", services=arns)["services"]
    registries = {s["serviceName"]: s["serviceRegistries"] for s in services}
    for service_name in ("location", "user"):
        (registry,) = registries[service_name]
        service_id = registry["registryArn"].rsplit("/", 1)[-1]
        assert discovery.get_service(Id=service_id)["Service"]["NamespaceId"] == physical[namespace]
    for service in services:
        alarms_config = service["deploymentConfiguration"]["alarms"]
        assert alarms_config["enable"] and alarms_config["rollback"]
        assert len(alarms_config["alarmNames"]) == 2
    scaling = session.clients("application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert sorted((t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets) == [
        ("service/app02/location", 2, 5),
        ("service/app02/user", 2, 5),
    ]
    policies = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert len(policies) == len(by_type["AWS::ApplicationAutoScaling::ScalingPolicy"])
    (provider,) = ecs.describe_capacity_providers(
        capacityProviders=[physical[by_type["AWS::ECS::CapacityProvider"][0]]]
    )["capacityProviders"]
    assert provider["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 90
    (group,) = session.clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[physical[by_type["AWS::AutoScaling::AutoScalingGroup"][0]]]
    )["AutoScalingGroups"]
    assert {m["Metric"] for m in group["EnabledMetrics"]} == {
        "GroupInServiceInstances",
        "GroupDesiredCapacity",
    }
    location = next(s for s in services if s["serviceName"] == "location")
    definition = _task_definition(session, location["taskDefinition"])
    assert "ecs-playground/registry" in (
        definition["containerDefinitions"][0]["repositoryCredentials"]["credentialsParameter"]
    )
    topics = session.clients("sns").list_subscriptions()["Subscriptions"]
    assert {"ops@example.org", "oncall@example.org"} <= {t["Endpoint"] for t in topics}


@pytest.mark.long
def test_destroying_the_second_platform_leaves_the_first_intact(
    session: Session, twin: Twin
) -> None:
    first = _physical(session)
    templates, assembly = twin.templates, twin.assembly
    result = cdk.run(
        ["destroy", "--all", "--force", "--app", str(assembly)],
        session.emulator.endpoint,
        session.app_dir,
    )
    assert result.returncode == 0, result.output
    # cdk destroy --all removes the service stacks before the platform stack they read
    order = {stack: result.output.index(f"{stack}: destroyed") for stack in templates}
    assert max(order.values()) == order[TWIN], order
    for stack, template in templates.items():
        _assert_destroyed(session, stack, template, twin.physical[stack])
    assert _physical(session) == first
    template = session.template()["Resources"]
    gone = [
        f"{name} ({body['Type']})"
        for name, body in template.items()
        if not exists(session.clients, body["Type"], first[name], body.get("Properties"))
    ]
    assert not gone, f"destroying the twin removed resources of the first stack: {gone}"
    names = {p for physical in twin.physical.values() for p in physical.values()}
    assert not session.clients("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs"
    )["ScalableTargets"]
    assert not [
        a for a in session.clients("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"] in names
    ]
    services = [
        twin.physical[s][n] for s, t in templates.items() for n in _of_type(t, "AWS::ECS::Service")
    ]
    described = session.clients("ecs").describe_services(cluster="app02", services=services)
    assert [s["status"] for s in described["services"]] == ["INACTIVE"] * 6, described


def _needs(template: dict[str, Any], name: str) -> set[str]:
    """Everything ``name`` needs, transitively."""
    from emulator.compat.cfn_engine import dependencies

    graph = dependencies(template)
    found: set[str] = set()
    pending = [name]
    while pending:
        for needed in graph[pending.pop()] - found:
            found.add(needed)
            pending.append(needed)
    return found


@dataclass(frozen=True)
class Refused:
    """``cdk destroy`` of the first platform, refused by its protected database."""

    result: cdk.Result
    physical: dict[str, str]
    """The stack's physical IDs before the destroy."""


@pytest.fixture(scope="module")
def refused(session: Session, created: Created) -> Refused:
    """The first ``cdk destroy`` of the tutorial's platform (the file's last steps use it)."""
    physical = _physical(session)
    return Refused(session.destroy(), physical)


def test_destroy_refuses_a_protected_database(session: Session, refused: Refused) -> None:
    template = session.template()["Resources"]
    database = _logical_id(template, "AWS::RDS::DBInstance", "Engine", "mysql")
    physical, result = refused.physical, refused.result
    assert result.returncode != 0, result.output
    assert PROTECTED_MESSAGE in result.output
    (stack,) = session.clients("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert database in stack["StackStatusReason"]
    (kept,) = session.clients("rds").describe_db_instances(
        DBInstanceIdentifier=physical[database]
    )["DBInstances"]
    assert kept["DeletionProtection"] is True
    remaining = _resources(session)
    assert {database, *_needs(template, database)} <= set(remaining), "deleted what the DB needs"
    for name, body in template.items():
        if body["Type"] == "AWS::ECS::Service":
            assert name not in remaining, f"{name}: independent of the database, yet kept"
    for name, resource in remaining.items():
        assert exists(
            session.clients, resource["ResourceType"], resource["PhysicalResourceId"],
            template[name].get("Properties"),
        ), f"{name} is listed but gone"


def _must_remain(template: dict[str, Any], body: dict[str, Any]) -> bool:
    """Kept by a Retain policy, or an attachment whose secret is kept (its effect lives in the
    secret)."""
    retain = ("Retain", "RetainExceptOnCreate")
    if body["Type"] == "AWS::SecretsManager::SecretTargetAttachment":
        secret = body["Properties"]["SecretId"].get("Ref", "")
        return template.get(secret, {}).get("DeletionPolicy") in retain
    return body.get("DeletionPolicy") in retain


def _assert_destroyed(
    session: Session, stack: str, template: dict[str, Any], physical: dict[str, str]
) -> None:
    """The stack is gone; what a Retain policy keeps exists in its service; the rest does not; a
    Snapshot-policy database left its final snapshot."""
    stacks = session.clients("cloudformation").describe_stacks()["Stacks"]
    assert stack not in [s["StackName"] for s in stacks]
    kept = {n for n, b in template.items() if _must_remain(template, b)}
    assert kept, "the app retains nothing: this check would pass on an empty list"
    wrong = []
    for name, body in template.items():
        if body["Type"].startswith("Custom::") or body["Type"] == "AWS::CDK::Metadata":
            continue
        still = exists(
            session.clients, body["Type"], physical[name], body.get("Properties"), physical
        )
        if still != (name in kept):
            wrong.append(f"{name} ({body['Type']}): {'left' if still else 'deleted'}")
    assert not wrong, f"destroy got these wrong: {wrong}"
    snapshots = {
        s["DBSnapshotIdentifier"]
        for s in session.clients("rds").describe_db_snapshots()["DBSnapshots"]
    }
    for name, body in template.items():
        if body["Type"] == "AWS::RDS::DBInstance" and body.get("DeletionPolicy") == "Snapshot":
            assert f"{physical[name]}-final-snapshot" in snapshots


def test_destroy_after_disabling_protection_keeps_only_retained_resources(
    session: Session, refused: Refused
) -> None:
    # A stack whose deletion failed cannot be updated on AWS: the way out is the RDS API.
    template = session.template()["Resources"]
    physical = refused.physical
    database = _logical_id(template, "AWS::RDS::DBInstance", "Engine", "mysql")
    session.clients("rds").modify_db_instance(
        DBInstanceIdentifier=physical[database], DeletionProtection=False, ApplyImmediately=True
    )
    result = session.destroy()
    assert result.returncode == 0, result.output
    _assert_destroyed(session, STACK, template, physical)

