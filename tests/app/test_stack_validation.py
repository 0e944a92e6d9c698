"""The app's configuration meets the library's validation: bad context fails the synth with one
error that names every problem by its configuration key, before any child construct exists."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_playground.validation import image_problems
from ecs_playground_app.config import ConfigError
from ecs_playground_app.stack import PlatformError
from tests.conftest import build_stack


def test_the_configuration_applies_the_librarys_image_rule() -> None:
    # given an image in cdk.json's terms, then the message is the library's, by the config key
    with pytest.raises(PlatformError) as err:
        build_stack(**{"location.image": "srirajan/location:latest"})
    (problem,) = image_problems("location.image", "srirajan/location:latest")
    assert err.value.problems == [  # once: the service's props do not report it again
        f"location.image = 'srirajan/location:latest': allowed {problem.allowed}; "
        f"{problem.fix}; or leave it unset to build the image from source"]


# --- configuration from context --------------------------------------------------------------

CONFIG_CASES: list[tuple[dict[str, Any], str]] = [
    ({"locaton.image": "srirajan/location:11"},
     "unknown key 'locaton.image': 'locaton' is not a service"),
    ({"cluster.instancetype": "t3.large"},
     "unknown key 'cluster.instancetype'; did you mean 'cluster.instanceType'?"),
    ({"location.desired_count": 2}, "did you mean 'location.desiredCount'?"),
    ({"Location.image": "srirajan/location:11"}, "did you mean 'location.image'?"),
    ({"db.engine_version": "8.4.10"}, "did you mean 'db.engineVersion'?"),
    ({"location.desiredCount": "four"},
     "location.desiredCount = 'four': expected a whole number, e.g. 4"),
    ({"cluster.containerInsights": "yes"}, "expected true or false"),
    ({"location.image": "srirajan/location"}, "allowed REPO:TAG"),
    ({"location.image": "srirajan/location:latest"}, "a moving tag"),
    ({"services": "location,location"}, "each service may appear once"),
    ({"location.extraHosts": "googledns"}, "each entry KEY=VALUE"),
    ({"location.allowedCidrs": '["0.0.0.0/0"'}, "quote JSON with single quotes"),
    ({"services": "location,user,db"}, "not 'cluster', 'db'"),
    ({"services": "location,user,orders", "orders.containerPort": 7000},
     "no image source for service 'orders'"),
    ({"location.containerPort": 8080}, "listens on 8081"),
    ({"user.image": "srirajan/user:10", "user.containerPort": None},
     "user.containerPort is missing"),
    ({"location.dbName": "mysql"}, "not a system schema"),
    ({"location.dbName": "loc-ation"}, "1-64 letters, digits and '_'"),
    ({"location.dbName": "x" * 65}, "1-64 letters"),
    ({"vpc.cidr": "10.0.0.0/8"}, "/16 to /20"),
    ({"vpc.cidr": "10.0.0.1/16"}, "not an IPv4 network"),
    ({"vpc.cidr": "10.0.0.0/33"}, "not an IPv4 network"),
    ({"vpc.cidr": "8.8.0.0/16"}, "private range"),
    ({"vpc.maxAzs": 3}, "allowed 2"),
    ({"stackName": "ecs_playground"}, "a CloudFormation stack name"),
    ({"vpc.natGateways": 0}, "need a NAT gateway"),
    ({"vpc.natGateways": 3}, "allowed 1 to vpc.maxAzs"),
]


@pytest.mark.parametrize(("overrides", "expected"), CONFIG_CASES)
def test_bad_context_fails_with_every_problem_named(
    overrides: dict[str, Any], expected: str
) -> None:
    context = {k: v for k, v in overrides.items() if v is not None}
    removed = [k for k, v in overrides.items() if v is None]
    with pytest.raises((ConfigError, PlatformError)) as err:
        build_stack(removed=removed, **context)
    assert expected in str(err.value), str(err.value)


def test_missing_required_context_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        build_stack(removed=["vpc.cidr"])
    assert "vpc.cidr is missing" in str(err.value)


def test_one_synth_reports_config_props_and_capacity_problems_together() -> None:
    # given a typo in a key, a bad prop value and a service that cannot fit, in three places
    with pytest.raises(PlatformError) as err:
        build_stack(**{"locaton.image": "a:1", "location.healthCheckPath": "health",
                       "user.cpu": 4096, "db.backupRetentionDays": 0})
    message = str(err.value)
    # then one error lists all of them, each by its configuration key
    assert "unknown key 'locaton.image'" in message
    assert "location.healthCheckPath = 'health'" in message
    assert "db.backupRetentionDays = 0" in message
    assert "user.cpu = 4096" not in message  # a valid prop value, but too big to fit:
    assert "capacity: service 'user': a task needs 4096 CPU units" in message
    assert len(err.value.problems) == 4, err.value.problems


def test_capacity_problems_come_in_the_same_error_as_config_problems() -> None:
    with pytest.raises(PlatformError) as err:
        build_stack(**{"cluster.instancetype": "x", "user.cpu": 4096})
    message = str(err.value)
    assert "did you mean 'cluster.instanceType'" in message
    assert "capacity: service 'user': a task needs 4096 CPU units" in message


def test_an_unparsable_services_list_is_one_problem_not_a_cascade() -> None:
    with pytest.raises(PlatformError) as err:
        build_stack(services='["location", "user"')
    assert len(err.value.problems) == 1, err.value.problems


def test_invalid_context_values_are_named_by_their_keys() -> None:
    with pytest.raises(PlatformError) as err:
        build_stack(**{"location.healthCheckPath": "health", "location.cpu": "64"})
    message = str(err.value)
    assert "location.healthCheckPath = 'health': allowed a URL path" in message
    assert "location.cpu = 64: allowed an integer 128-10240; set location.cpu to" in message
