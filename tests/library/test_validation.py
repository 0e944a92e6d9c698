"""Bad input fails at synth time with one clear error, before any child construct exists."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager

from ecs_playground import (
    CapacityError,
    ClassicLoadBalancedService,
    ContainerCluster,
    ContainerClusterProps,
    MySqlDatabase,
    MySqlDatabaseProps,
    PropsValidationError,
)
from ecs_playground.validation import image_problems, is_token, with_article
from tests.factories import (
    cluster_props,
    existing_vpc,
    new_cluster,
    new_stack,
    service_props,
)


def make_cluster(stack: cdk.Stack, id: str, **kwargs: Any) -> None:
    kwargs.setdefault("vpc", existing_vpc(stack))
    ContainerCluster(stack, id, ContainerClusterProps(**kwargs))


def make_database(stack: cdk.Stack, id: str, **kwargs: Any) -> None:
    kwargs.setdefault("vpc", existing_vpc(stack))
    MySqlDatabase(stack, id, MySqlDatabaseProps(**kwargs))


def make_service(stack: cdk.Stack, id: str, **kwargs: Any) -> None:
    if isinstance(kwargs.get("secrets"), list):  # names -> secrets from one imported secret
        secret = secretsmanager.Secret.from_secret_name_v2(stack, f"{id}Secret", "db")
        kwargs["secrets"] = {n: ecs.Secret.from_secrets_manager(secret) for n in kwargs["secrets"]}
    cluster = new_cluster(stack)
    ClassicLoadBalancedService(stack, id, service_props(cluster, **kwargs))


def _scalars(props: dict[str, Any]) -> list[Any]:
    """The values a message can quote: dict keys and values, list items, plain values."""
    out: list[Any] = []
    for value in props.values():
        if isinstance(value, dict):
            out += [*value, *value.values()]
        elif isinstance(value, list):
            out += value or [value]
        else:
            out.append(value)
    return out


MAKERS = {"cluster": make_cluster, "database": make_database, "service": make_service}

# (construct, invalid props, the prop the error must name, a fragment of what is allowed)
PROPS_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("cluster", {"cluster_name": "app 01"}, "cluster_name", "letters, digits"),
    ("cluster", {"cluster_name": ""}, "cluster_name", "1-255"),
    ("cluster", {"instance_type": "t2.mega"}, "instance_type", "capacity table"),
    ("cluster", {"min_capacity": 5, "max_capacity": 4}, "min_capacity", "<= max_capacity"),
    ("cluster", {"desired_capacity": 9}, "desired_capacity", "between min_capacity"),
    ("cluster", {"min_capacity": 0, "max_capacity": 0}, "max_capacity", "1-1000"),
    ("cluster", {"reserved_memory_mib": -1}, "reserved_memory_mib", "0-16384"),
    ("cluster", {"root_volume_size_gib": 8}, "root_volume_size_gib", "30-16384"),
    ("cluster", {"ecs_config": {"ecs_loglevel": "debug"}}, "ecs_config", "ECS_"),
    ("cluster", {"ecs_config": {"ECS_CLUSTER": "other"}}, "ecs_config", "not set here"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": "debug; rm -rf /"}}, "ecs_config", "letters"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": "debug\nECS_CLUSTER=other"}}, "ecs_config",
     "letters"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": "$(curl evil)"}}, "ecs_config", "letters"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": "`id`"}}, "ecs_config", "letters"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": "a|b"}}, "ecs_config", "letters"),
    ("database", {"engine_version": "8.0"}, "engine_version", "full MySQL"),
    ("database", {"engine_version": "5.7.44"}, "engine_version", "8.0.x or 8.4.x"),
    ("database", {"instance_class": "t3.micro"}, "instance_class", "db.<family>"),
    ("database", {"allocated_storage_gib": 10}, "allocated_storage_gib", "20-65536"),
    ("database", {"allocated_storage_gib": 200, "max_allocated_storage_gib": 100},
     "max_allocated_storage_gib", ">= allocated"),
    ("database", {"backup_retention_days": 0}, "backup_retention_days", "1-35"),
    ("database", {"master_username": "root"}, "master_username", "not one of"),
    ("database", {"master_username": "1admin"}, "master_username", "starting with a letter"),
    ("service", {"name": "Location"}, "name", "a-z"),
    ("service", {"container_port": 0}, "container_port", "1-65535"),
    ("service", {"container_port": 70000}, "container_port", "1-65535"),
    ("service", {"host_port": 0}, "host_port", "1-65535"),
    ("service", {"host_port": 51678}, "host_port", "ECS agent"),
    ("service", {"listener_port": 1000}, "listener_port", "classic ELB"),
    ("service", {"health_check_path": "health"}, "health_check_path", "starting with '/'"),
    ("service", {"health_check_path": "/he alth"}, "health_check_path", "starting with '/'"),
    ("service", {"cpu": 64}, "cpu", "128-10240"),
    ("service", {"memory_limit_mib": 64}, "memory_limit_mib", "128-122880"),
    ("service", {"min_healthy_percent": 150}, "min_healthy_percent", "0-100"),
    ("service", {"max_healthy_percent": 50}, "max_healthy_percent", "100-2000"),
    ("service", {"desired_count": -1}, "desired_count", "0-1000"),
    ("service", {"health_check_timeout_seconds": 30, "health_check_interval_seconds": 30},
     "health_check_timeout_seconds", "less than health_check_interval"),
    ("service", {"healthy_threshold": 1}, "healthy_threshold", "2-10"),
    ("service", {"connection_draining_seconds": 0}, "connection_draining_seconds", "1-3600"),
    ("service", {"log_retention_days": 31}, "log_retention_days", "one of"),
    ("service", {"extra_hosts": {"googledns": "8.8.8"}}, "extra_hosts", "IPv4 or IPv6"),
    ("service", {"extra_hosts": {"bad host": "8.8.8.8"}}, "extra_hosts", "DNS host name"),
    ("service", {"environment": {"1DB": "x"}}, "environment/secrets", "not starting with"),
    ("service", {"environment": {"DB_PWD": "RDS_PWD"}, "secrets": ["DB_PWD"]},
     "environment['DB_PWD']", "not also in secrets"),
    ("service", {"allowed_cidrs": ["10.0.0.1/8"]}, "allowed_cidrs", "IPv4 CIDRs"),
    ("service", {"environment": {"DB_PASS": "hunter2"}}, "environment['DB_PASS']",
     "no credential in plain environment"),
    ("service", {"environment": {"DATABASE_URL": "mysql://app:pw@db/app"}},
     "environment['DATABASE_URL']", "a URL with a password"),
    ("service", {"allowed_cidrs": []}, "allowed_cidrs", "at least one"),
]


@pytest.mark.parametrize(
    ("construct", "props", "prop", "allowed"), PROPS_CASES,
    ids=[f"{c}-{p}-{i}" for i, (c, _, p, _) in enumerate(PROPS_CASES)],
)
def test_invalid_props_fail_before_any_child_is_created(
    construct: str, props: dict[str, Any], prop: str, allowed: str
) -> None:
    # given one invalid prop, when the construct is created
    stack = new_stack()
    construct_id = "Bad"
    with pytest.raises(PropsValidationError) as err:
        MAKERS[construct](stack, construct_id, **props)
    # then the error names the construct, the prop, the value and what is allowed
    message = str(err.value)
    assert f"'{construct_id}'" in message
    assert prop in message and allowed in message, message
    if "<hidden>" in message:  # a credential is never echoed back
        assert not any(str(v) in message for v in _scalars(props) if "://" in str(v)
                       or v == "hunter2"), message
    else:
        assert any(repr(v) in message for v in _scalars(props)), message
    # and nothing was added to the tree
    assert stack.node.try_find_child(construct_id) is None


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(PropsValidationError) as err:
        make_service(new_stack(), "ManyProblems", container_port=0, cpu=1, health_check_path="x")
    assert [p.prop for p in err.value.problems] == [
        "container_port", "host_port", "listener_port", "cpu", "health_check_path"
    ]
    assert "5 invalid prop(s)" in str(err.value)


def test_tokens_are_not_judged_at_synth_time() -> None:
    cluster = new_cluster()
    port = cdk.Token.as_number(cdk.CfnParameter(cluster.node.scope, "PortParam", type="Number"))  # type: ignore[arg-type]
    assert service_props(cluster, listener_port=port).validate() == []


# --- capacity: checked as each service joins its ContainerCluster ----------------------------


def capacity_cluster(**kwargs: Any) -> ContainerCluster:
    """The tutorial's cluster: 4 x t2.medium, named app01."""
    tutorial = {"cluster_name": "app01", "instance_type": "t2.medium", "min_capacity": 4,
                "max_capacity": 4}
    return new_cluster(**{**tutorial, **kwargs})


def add_service(cluster: ContainerCluster, name: str, **kwargs: Any) -> None:
    ClassicLoadBalancedService(
        cluster.node.scope, name.title(),  # type: ignore[arg-type]
        service_props(cluster, name=name, **{"desired_count": 4, **kwargs}),
    )


CAPACITY_CASES: list[tuple[list[dict[str, Any]], str]] = [
    ([{"container_port": 8081}, {"container_port": 8080, "host_port": 8081}],
     "host port 8081 is already used by service 'svc0'"),
    ([{"cpu": 4096}], "needs 4096 CPU units and 1024 MiB, but one t2.medium offers 2048"),
    ([{"memory_limit_mib": 4000}], "offers 2048 CPU units and 3736 MiB"),
    ([{"desired_count": 5}], "desired count 5 is larger than the 4 instances"),
    ([{"min_healthy_percent": 100, "max_healthy_percent": 200}],
     "rolling deployment can never progress"),
    ([{"container_port": 8000 + i} for i in range(4)],
     "only 0 of 4 t2.medium instances have room left"),
]


@pytest.mark.parametrize(("services", "expected"), CAPACITY_CASES)
def test_capacity_problems_fail_with_the_numbers(
    services: list[dict[str, Any]], expected: str
) -> None:
    cluster = capacity_cluster()
    with pytest.raises(CapacityError) as err:
        for i, service in enumerate(services):
            add_service(cluster, f"svc{i}", **service)
    assert expected in str(err.value)
    assert "ContainerCluster 'app01'" in str(err.value)
    failed = f"Svc{len(services) - 1}"
    assert cluster.node.scope.node.try_find_child(failed) is None  # type: ignore[union-attr]


def test_three_services_of_1_gib_fit_four_t2_medium() -> None:
    cluster = capacity_cluster()
    for i in range(3):
        add_service(cluster, f"svc{i}", container_port=8000 + i)
    assert cluster.headroom.min_free_memory_mib_on_an_instance == 3736 - 3 * 1024


def test_more_instances_let_a_deployment_start_before_stopping() -> None:
    cluster = capacity_cluster(min_capacity=5, max_capacity=5)
    add_service(cluster, "svc", min_healthy_percent=100, max_healthy_percent=200)
    assert cluster.headroom.peak_tasks == 5


# --- wrong types from Python callers ---------------------------------------------------------

TYPE_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("cluster", {"min_capacity": "4"}, "min_capacity", "write 4, not '4'"),
    ("cluster", {"container_insights": "no"}, "container_insights", "True or False"),
    ("cluster", {"instance_resources": (2, 4096)}, "instance_resources", "InstanceResources"),
    ("cluster", {"ecs_config": {"ECS_LOGLEVEL": 3}}, "ecs_config", "Mapping[str, str]"),
    ("cluster", {"vpc": None}, "vpc", "IVpc"),
    ("database", {"multi_az": 1}, "multi_az", "bool"),
    ("database", {"allocated_storage_gib": 20.5}, "allocated_storage_gib", "int"),
    ("service", {"cpu": "1024"}, "cpu", "write 1024, not '1024'"),
    ("service", {"allowed_cidrs": "0.0.0.0/0"}, "allowed_cidrs", "Sequence[str]"),
    ("service", {"image": "srirajan/location:10"}, "image", "ContainerImage"),
    ("service", {"internet_facing": "false"}, "internet_facing", "True or False"),
]


@pytest.mark.parametrize(
    ("construct", "props", "prop", "expected"), TYPE_CASES,
    ids=[f"{c}-{p}" for c, _, p, _ in TYPE_CASES],
)
def test_wrong_types_are_validation_errors_not_crashes(
    construct: str, props: dict[str, Any], prop: str, expected: str
) -> None:
    with pytest.raises(PropsValidationError) as err:
        MAKERS[construct](new_stack(), "Typed", **props)
    assert [p.prop for p in err.value.problems] == [prop]
    assert expected in str(err.value), str(err.value)


def test_type_messages_use_the_right_article() -> None:
    # given the issue's two messages ("pass a int, not a str", "pass a ICluster or
    # ContainerCluster, not a AutoScalingGroup")
    with pytest.raises(PropsValidationError) as err:
        make_cluster(new_stack(), "Typed", min_capacity="4")
    assert "pass an int, not a str (write 4, not '4')" in str(err.value)
    cluster = new_cluster()
    problems = service_props(cluster.auto_scaling_group).validate()  # type: ignore[arg-type]
    assert [p.fix for p in problems] == [
        "pass an ICluster or IServiceCluster, not an AutoScalingGroup"]


@pytest.mark.parametrize(("noun", "expected"), [
    ("int", "an int"), ("str", "a str"), ("IVpc or None", "an IVpc or None"),
    ("InstanceResources", "an InstanceResources"), ("ContainerImage", "a ContainerImage"),
    ("Mapping[str, str]", "a Mapping[str, str]"), ("Union", "a Union"), ("object", "an object"),
    ("SNSTopic", "an SNSTopic"), ("URLPath", "a URLPath"), ("HealthCheck", "a HealthCheck"),
    ("None", "None"),
])
def test_with_article_writes_a_or_an_by_sound(noun: str, expected: str) -> None:
    assert with_article(noun) == expected


def test_the_ecs_cluster_inside_a_container_cluster_is_refused_with_a_hint() -> None:
    cluster = new_cluster()
    problems = service_props(cluster.ecs_cluster).validate()
    assert [p.prop for p in problems] == ["cluster"]
    assert "pass the ContainerCluster" in problems[0].fix


def test_a_vpc_without_public_subnets_cannot_hold_an_internet_facing_elb() -> None:
    stack = new_stack()
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "PrivateOnly", vpc_id="vpc-1", availability_zones=["eu-west-1a", "eu-west-1b"],
        private_subnet_ids=["subnet-1", "subnet-2"],
    )
    cluster = ContainerCluster(stack, "Cluster", cluster_props(vpc))
    problems = service_props(cluster).validate()
    assert [p.prop for p in problems] == ["internet_facing"]
    assert service_props(cluster, internet_facing=False).validate() == []


# --- images: one rule, in the library (issue 18, point 10) -----------------------------------

MOVING = "not ':latest' (a moving tag)"
UNTAGGED = "not an untagged image (Docker pulls ':latest', a moving tag)"
IMAGE_CASES: list[tuple[str, str]] = [
    ("nginx:latest", MOVING),
    ("public.ecr.aws/nginx/nginx:latest", MOVING),
    ("nginx", UNTAGGED),
    ("registry.example.org:5000/team/app", UNTAGGED),  # the port is not a tag
    ("Nginx:1.27", "REPO:TAG or REPO@sha256:<64 hex>, e.g. 'nginx:1.27'"),
]


@pytest.mark.parametrize(("image", "expected"), IMAGE_CASES)
def test_a_registry_image_must_pin_a_version(image: str, expected: str) -> None:
    # given a service whose registry image moves (or is no reference), when it is created
    stack = new_stack()
    with pytest.raises(PropsValidationError) as err:
        make_service(stack, "Web", image=ecs.ContainerImage.from_registry(image))
    # then the library refuses it, before any child exists, with how to pin it
    assert [(p.prop, p.value) for p in err.value.problems] == [("image", image)]
    assert expected in str(err.value) and "e.g. 'nginx:1.27'" in str(err.value)
    assert stack.node.try_find_child("Web") is None


def test_an_ecr_image_with_the_default_tag_is_latest_and_refused() -> None:
    cluster = new_cluster()
    repository = ecr.Repository.from_repository_name(cluster, "Repo", "team/web")
    default = service_props(cluster, image=ecs.ContainerImage.from_ecr_repository(repository))
    assert [p.allowed for p in default.validate()] == [f"a version tag or a digest, {MOVING}"]
    pinned = ecs.ContainerImage.from_ecr_repository(repository, "1.4")
    assert service_props(cluster, image=pinned).validate() == []


def test_a_registry_image_with_credentials_is_checked_too() -> None:
    # given a private registry image (aws-cdk-lib shows its reference only once it is bound)
    stack = new_stack()
    credentials = secretsmanager.Secret.from_secret_name_v2(stack, "Registry", "registry")
    with pytest.raises(PropsValidationError) as err:
        make_service(stack, "Web", image=ecs.ContainerImage.from_registry(
            "registry.example.org/team/web:latest", credentials=credentials))
    assert MOVING in str(err.value)
    assert stack.node.try_find_child("Web") is not None  # checked once bound: the one exception
    pinned = new_stack()
    credentials = secretsmanager.Secret.from_secret_name_v2(pinned, "Registry", "registry")
    make_service(pinned, "Web", image=ecs.ContainerImage.from_registry(
        "registry.example.org/team/web:1.4", credentials=credentials))


@pytest.mark.parametrize("image", [
    "nginx:1.27", "localhost:5000/team/app:1.0", "nginx@sha256:" + "a" * 64,
    "nginx:latest@sha256:" + "a" * 64,  # the digest pins it
])
def test_pinned_images_are_accepted(image: str) -> None:
    assert image_problems("image", image) == []
    assert service_props(new_cluster(), image=ecs.ContainerImage.from_registry(image)).validate() \
        == []


def test_is_token_answers_as_token_is_unresolved() -> None:
    # given tokens of each encoding (string, number, list element, stringified number), and plain
    # values close to them
    stack = new_stack()
    number_token = cdk.Token.as_number(stack.stack_name)
    values: list[Any] = [
        stack.stack_name, f"prefix-{stack.account}-suffix", cdk.Token.as_list(stack.region)[0],
        number_token, cdk.Tokenization.stringify_number(number_token), str(number_token),
        "plain", "Token[", "${Token[TOKEN.1]}", "#{Token[TOKEN.2]}", "", 0, 1, -1, 8081, 2**53,
        -(2**60), 0.5, True,
    ]
    # when is_token answers (it asks jsii only for values that can be tokens),
    # then it agrees with aws-cdk-lib for each; and values jsii cannot even send are no tokens
    for value in values:
        assert is_token(value) == cdk.Token.is_unresolved(value), value
    for value in (10**400, float("nan"), float("inf"), None):
        assert not is_token(value), value
