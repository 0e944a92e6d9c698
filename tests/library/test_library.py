"""The library as another CDK app meets it: importable without the app layer, typed for its type
checker, documented in help(), usable twice in one stack, and the README's examples run."""

from __future__ import annotations

import inspect
import json
import pydoc
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template
from constructs import Construct

import ecs_playground
from ecs_playground import (
    ClassicLoadBalancedService,
    ClassicLoadBalancedServiceProps,
    ContainerCluster,
    ContainerClusterProps,
    DatabaseUsers,
    DatabaseUsersProps,
    ExistingMySqlDatabase,
    Monitoring,
    MonitoringProps,
    MySqlDatabase,
    MySqlDatabaseProps,
    PropsKeywordError,
    PropsValidationError,
)
from ecs_playground.props import CONFIGURABLE, DOC
from tests.conftest import ROOT
from tests.factories import existing_vpc, new_stack

from .doc_blocks import DocumentedBlocks, documented_pages, python_blocks

LIBRARY = ROOT / "ecs_playground"
PROPS = (ContainerClusterProps, MySqlDatabaseProps, ClassicLoadBalancedServiceProps)


@pytest.mark.parametrize("cls", PROPS, ids=lambda c: c.__name__)
def test_every_field_is_documented_and_says_if_it_is_configurable(cls: type) -> None:
    # (the app has a context parser for each configurable one: tests/app/test_library_in_the_app.py)
    assert cls.__dataclass_fields__  # type: ignore[attr-defined]
    for f in cls.__dataclass_fields__.values():  # type: ignore[attr-defined]
        assert len(f.metadata.get(DOC, "")) > 10, f"{cls.__name__}.{f.name} has no documentation"
        assert isinstance(f.metadata.get(CONFIGURABLE), bool), f"{cls.__name__}.{f.name}"


@pytest.mark.parametrize("cls", PROPS, ids=lambda c: c.__name__)
def test_help_shows_each_fields_documentation(cls: type) -> None:
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert cls.__dataclass_fields__  # type: ignore[attr-defined]
    for f in cls.__dataclass_fields__.values():  # type: ignore[attr-defined]
        first_words = " ".join(f.metadata[DOC].split()[:4])
        assert f"{f.name}: {first_words}" in text, f"help() lacks {f.name}"


def _platform(scope: Construct, vpc: ec2.IVpc) -> None:
    cluster = ContainerCluster(scope, "Cluster", ContainerClusterProps(vpc=vpc))
    database = MySqlDatabase(scope, "Database", MySqlDatabaseProps(vpc=vpc))
    database.connections.allow_default_port_from(cluster, "MySQL from the ECS instances")
    users = DatabaseUsers(scope, "DatabaseUsers", DatabaseUsersProps(
        database=database, services={"web": "web", "api": "api"},
    ))
    for name, port in (("web", 8080), ("api", 8081)):
        ClassicLoadBalancedService(scope, name.title(), ClassicLoadBalancedServiceProps(
            name=name, cluster=cluster, container_port=port,
            image=ecs.ContainerImage.from_registry(f"example/{name}:1.0"),
            environment=database.container_environment(name),
            secrets=users.container_secrets(name),
        ))


PHYSICAL_NAMES = {
    "AWS::ECS::Cluster": "ClusterName", "AWS::ECS::Service": "ServiceName",
    "AWS::ECS::TaskDefinition": "Family", "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::RDS::DBInstance": "DBInstanceIdentifier", "AWS::SecretsManager::Secret": "Name",
    "AWS::ElasticLoadBalancing::LoadBalancer": "LoadBalancerName",
    "AWS::S3::Bucket": "BucketName", "AWS::AutoScaling::AutoScalingGroup":
    "AutoScalingGroupName", "AWS::ECS::CapacityProvider": "Name",
}


def test_two_complete_platforms_live_side_by_side_in_one_stack() -> None:
    # given two platforms (cluster, database, two services each) in one stack and one VPC
    stack = new_stack("TwoPlatforms")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    _platform(Construct(stack, "Blue"), vpc)
    _platform(Construct(stack, "Green"), vpc)
    # when it is synthesized, then every resource is there twice ...
    resources = Template.from_stack(stack).to_json()["Resources"]
    counts = {t: sum(r["Type"] == t for r in resources.values()) for t in PHYSICAL_NAMES}
    assert counts["AWS::ECS::Cluster"] == 2 and counts["AWS::ECS::Service"] == 4
    assert counts["AWS::RDS::DBInstance"] == 2
    # ... and no physical name is fixed twice (CloudFormation generates them)
    fixed = [json.dumps(r["Properties"][PHYSICAL_NAMES[r["Type"]]])
             for r in resources.values()
             if PHYSICAL_NAMES.get(r["Type"], "-") in r.get("Properties", {})]
    assert len(fixed) == len(set(fixed)), f"physical names set twice: {fixed}"
    # ... and no task reads a database's master secret: each service has a user of its own
    master = [i for i, r in resources.items() if r["Type"] in (
        "AWS::SecretsManager::SecretTargetAttachment", "AWS::SecretsManager::Secret")
        and i.startswith(("BlueDatabaseSecret", "GreenDatabaseSecret"))]
    task_secrets = [json.dumps(c.get("Secrets")) for r in resources.values()
                    if r["Type"] == "AWS::ECS::TaskDefinition"
                    for c in r["Properties"]["ContainerDefinitions"]]
    assert master and len(task_secrets) == 4
    assert not [s for s in task_secrets if any(f'"{i}"' in s for i in master)], task_secrets


# --- the master credentials are never a service's (issue 18, point 8) --------------------------


def test_the_database_offers_services_no_master_credentials() -> None:
    # given every public method of MySqlDatabase, then none hands out ECS secrets: a service's
    # credentials come from DatabaseUsers, its own user limited to its own schema
    methods = {name: inspect.signature(member).return_annotation
               for name, member in inspect.getmembers(MySqlDatabase, inspect.isfunction)
               if not name.startswith("_")}
    assert "allow_from" in methods
    assert not [n for n, returns in methods.items() if "Secret" in str(returns)], methods


def test_the_readme_examples_give_each_service_its_own_database_user() -> None:
    # docs/constructs.md shows the surface piece by piece (its own test), not a whole platform
    blocks = [b for page, b in _documented_python_blocks()
              if "ClassicLoadBalancedService(" in b and page != "docs/constructs.md"]
    assert len(blocks) >= 2
    for block in blocks:
        assert "DatabaseUsers(" in block and "container_secrets()" not in block, block
        assert re.search(r"secrets=users\.container_secrets\(\"\w+\"\)", block), block


# --- keyword arguments, as aws-cdk-lib's constructs take them (issue 18, point 7) --------------


def _users_keywords(stack: cdk.Stack) -> dict[str, Any]:
    vpc = existing_vpc(stack)
    group = ec2.SecurityGroup.from_security_group_id(stack, "DbSg", "sg-0123456789abcdef0")
    return {"services": {"web": "web"}, "database": ExistingMySqlDatabase(
        vpc=vpc, hostname="db.example.org", security_groups=[group],
        secret=secretsmanager.Secret.from_secret_name_v2(stack, "Admin", "admin"))}


def _service_keywords(stack: cdk.Stack) -> dict[str, Any]:
    return {"name": "web", "container_port": 8080,
            "cluster": ContainerCluster(stack, "Cluster", vpc=existing_vpc(stack)),
            "image": ecs.ContainerImage.from_registry("example/web:1.0")}


KEYWORD_CASES: dict[type, tuple[type, Any]] = {
    ContainerCluster: (ContainerClusterProps, lambda s: {"vpc": existing_vpc(s),
                                                         "min_capacity": 3, "max_capacity": 4}),
    MySqlDatabase: (MySqlDatabaseProps, lambda s: {"vpc": existing_vpc(s), "multi_az": True}),
    ClassicLoadBalancedService: (ClassicLoadBalancedServiceProps, _service_keywords),
    DatabaseUsers: (DatabaseUsersProps, _users_keywords),
    Monitoring: (MonitoringProps, lambda s: {"dashboard_name": "shop"}),
}


def test_every_exported_construct_has_a_keyword_case() -> None:
    exported = {getattr(ecs_playground, n) for n in ecs_playground.__all__}
    constructs = {c for c in exported if isinstance(c, type) and issubclass(c, Construct)}
    assert constructs == set(KEYWORD_CASES)


@pytest.mark.parametrize("construct", list(KEYWORD_CASES), ids=lambda c: c.__name__)
def test_keywords_build_the_same_construct_as_a_props_object(construct: type) -> None:
    # given the same values as keyword arguments and as a props object, in two identical stacks
    props_class, keywords = KEYWORD_CASES[construct]
    by_keywords, by_props = new_stack("Shop"), new_stack("Shop")
    construct(by_keywords, "It", **keywords(by_keywords))
    construct(by_props, "It", props_class(**keywords(by_props)))
    # then the templates are the same
    assert Template.from_stack(by_keywords).to_json() == Template.from_stack(by_props).to_json()


def test_an_unknown_keyword_is_one_error_naming_the_allowed_keywords() -> None:
    stack = new_stack()
    with pytest.raises(PropsKeywordError) as err:
        ContainerCluster(stack, "Apps", vpce=existing_vpc(stack), min_capacity=3)
    # one error, a TypeError as Python raises for a wrong call, with every problem
    assert isinstance(err.value, TypeError) and isinstance(err.value, PropsValidationError)
    assert [p.prop for p in err.value.problems] == ["vpce", "vpc"]
    message = str(err.value)
    assert "ContainerCluster 'Apps': 2 invalid prop(s)" in message
    assert "allowed the fields of ContainerClusterProps: vpc, cluster_name, instance_type" \
        in message
    assert "did you mean 'vpc'?" in message
    assert "vpc = <missing>: allowed an IVpc (required: it has no default)" in message
    assert stack.node.try_find_child("Apps") is None


def test_a_props_object_and_keywords_at_once_is_an_error() -> None:
    stack = new_stack()
    with pytest.raises(PropsKeywordError) as err:
        ContainerCluster(stack, "Apps", ContainerClusterProps(vpc=existing_vpc(stack)),
                         min_capacity=3)  # type: ignore[call-overload]
    assert "not both; move min_capacity=... into the ContainerClusterProps(...)" in str(err.value)


def test_something_else_than_the_props_class_is_named() -> None:
    stack = new_stack()
    with pytest.raises(PropsKeywordError) as err:
        MySqlDatabase(stack, "Db", {"vpc": existing_vpc(stack)})  # type: ignore[call-overload]
    assert "allowed a MySqlDatabaseProps; pass MySqlDatabaseProps(...), or the fields as " \
        "keywords: MySqlDatabase(scope, id, vpc=..., ...)" in str(err.value)


def test_keywords_get_the_same_validation_as_props() -> None:
    stack = new_stack()
    with pytest.raises(PropsValidationError) as err:
        ContainerCluster(stack, "Apps", vpc=existing_vpc(stack), min_capacity=5, max_capacity=4)
    assert [p.prop for p in err.value.problems] == ["min_capacity"]


def test_help_shows_both_forms_with_the_fields_as_keywords() -> None:
    signature = inspect.signature(ClassicLoadBalancedService.__init__)
    assert list(signature.parameters)[:4] == ["self", "scope", "id", "props"]
    assert signature.parameters["container_port"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.parameters["desired_count"].default == 2
    text = pydoc.render_doc(ClassicLoadBalancedService, renderer=pydoc.plaintext)
    assert "or from its fields as keyword arguments" in text


def test_a_database_on_a_default_vpc_goes_into_its_private_subnets() -> None:
    stack = new_stack()
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)  # public + private with egress, no isolated subnets
    MySqlDatabase(stack, "Database", MySqlDatabaseProps(vpc=vpc))
    (group,) = Template.from_stack(stack).find_resources("AWS::RDS::DBSubnetGroup").values()
    subnets = [s["Ref"] for s in group["Properties"]["SubnetIds"]]
    assert len(subnets) == 2 and all("PrivateSubnet" in s for s in subnets), subnets


def test_a_database_in_a_vpc_with_public_subnets_only_is_refused_clearly() -> None:
    stack = new_stack()
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, subnet_configuration=[
        ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)])
    problems = MySqlDatabaseProps(vpc=vpc).validate()
    assert [p.prop for p in problems] == ["vpc"]
    assert "never placed in public subnets" in problems[0].fix


# --- the ELB health check follows what the caller gave (issue 18, point 9) --------------------


@pytest.mark.parametrize(("extra", "target"), [
    ({}, "TCP:8080"),  # a registry image (nginx has no /health): a TCP check of the port given
    ({"host_port": 8081}, "TCP:8081"),  # the ELB checks the instance's host port
    ({"host_port": 8081, "health_check_path": "/ready"}, "HTTP:8081/ready"),
])
def test_the_elb_health_check_follows_the_host_port(extra: dict[str, Any], target: str) -> None:
    stack = new_stack()
    ClassicLoadBalancedService(stack, "Web", **_service_keywords(stack), **extra)
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElasticLoadBalancing::LoadBalancer",
        {"HealthCheck": Match.object_like({"Target": target})},
    )


def _documented_python_blocks() -> list[tuple[str, str]]:
    """Every ```python block of the README and of docs/*.md, with the page it is on."""
    return python_blocks(*documented_pages())


@pytest.mark.slow
def test_readme_python_examples_run_as_written(documented_blocks: DocumentedBlocks) -> None:
    # every block of the README and docs/, each in a fresh namespace, in one process (one jsii
    # start, not one per block or page)
    assert documented_blocks.pages() >= {
        "README.md", "docs/database-users.md", "docs/constructs.md"}, documented_blocks.pages()
    result = documented_blocks.result
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.rstrip().endswith(f"ran {len(documented_blocks.blocks)} blocks")
    for page in documented_blocks.pages():
        documented_blocks.assert_page_ran(page)


@pytest.mark.slow
def test_the_wheel_is_typed_and_a_consumers_type_checker_uses_it(tmp_path: Path) -> None:
    # given the wheel a consumer installs
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # exactly the library's files: no app layer, review tool, emulator or test in it
    library = subprocess.run(["git", "ls-files", "ecs_playground"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert "ecs_playground/py.typed" in library
    dist_info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert sorted(set(names) - dist_info) == sorted(library)
    assert any(n.endswith("licenses/LICENSE") for n in dist_info)
    # when it is installed in a fresh environment and a consumer passes "1024" for an int
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")],
                   check=True)
    (site,) = (tmp_path / "env" / "lib").glob("python3*/site-packages")
    zipfile.ZipFile(wheel).extractall(site)
    consumer = tmp_path / "consumer.py"
    consumer.write_text(
        "from aws_cdk import aws_ec2 as ec2\n"
        "from constructs import Construct\n"
        "from ecs_playground import ContainerCluster, ContainerClusterProps\n\n\n"
        "def props(vpc: ec2.IVpc) -> ContainerClusterProps:\n"
        '    return ContainerClusterProps(vpc=vpc, min_capacity="1024")\n\n\n'
        "def keywords(scope: Construct, vpc: ec2.IVpc) -> None:\n"
        '    ContainerCluster(scope, "Good", vpc=vpc, min_capacity=2)\n'
        '    ContainerCluster(scope, "Typo", vpce=vpc)\n'
        '    ContainerCluster(scope, "Type", vpc=vpc, min_capacity="2")\n'
    )
    config = tmp_path / "mypy.ini"
    config.write_text(  # aws_cdk's own types are not what is tested here (and take minutes)
        "[mypy]\nstrict = True\n[mypy-aws_cdk.*,constructs.*,jsii.*,cdk_nag.*]\n"
        "ignore_missing_imports = True\nfollow_imports = skip\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--python-executable",
         str(tmp_path / "env" / "bin" / "python"), "--cache-dir", str(tmp_path / "cache"),
         str(consumer)], cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    # then the consumer's type checker catches it, from our annotations, in both forms
    assert 'Argument "min_capacity" to "ContainerClusterProps" has incompatible type "str"; ' \
        'expected "int"' in result.stdout, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    # (line 7: the props object; 11, the keywords done right, passes; 12: a typo; 13: a str)
    assert sorted({line.split(":")[1] for line in errors}) == ["12", "13", "7"], result.stdout
    assert 'Unexpected keyword argument "vpce" for overloaded function "ContainerCluster"; ' \
        'did you mean "vpc"?' in result.stdout, result.stdout
