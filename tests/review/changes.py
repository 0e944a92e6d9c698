"""The changes the review tests reason about: each a BASE and a head. The image, DB instance class,
cluster name, listener port and service added/removed come from real synths of the app with `-c`
overrides; the others edit the default template the way the change does (a configuration value
that lands in one property, or a code change: the DB key, the construct rename), which costs no
synth."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Template = dict[str, Any]

IMAGE_10 = {"location.image": "srirajan/location:10"}
IMAGE_11 = {"location.image": "srirajan/location:11"}
ORDERS = {
    "services": '["location", "user", "orders"]',
    "orders.containerPort": "7071",
    "orders.image": "srirajan/orders:1",
    "orders.desiredCount": "2",
    "orders.cpu": "256",
    "orders.memoryLimitMib": "512",
    # the review tool reads one stack: keep the new service in the platform stack (issue 13)
    "orders.stack": "platform",
}


@dataclass(frozen=True)
class Change:
    """BASE and head of one change: `-c` overrides of each side, and an optional edit of head's
    template (for changes that are code, not configuration)."""

    base: Mapping[str, str] = field(default_factory=dict)
    head: Mapping[str, str] = field(default_factory=dict)
    edit: Callable[[Template], Template] | None = None


def _edit_resources(template: Template, kind: str,
                    change: Callable[[dict[str, Any]], None]) -> Template:
    edited = copy.deepcopy(template)
    for resource in edited["Resources"].values():
        if resource["Type"] == kind:
            change(resource["Properties"])
    return edited


def set_props(kind: str, **values: Any) -> Callable[[Template], Template]:
    """A config value that lands in one property: `db.multiAz=true` is MultiAZ: true."""
    return lambda template: _edit_resources(template, kind, lambda props: props.update(values))


def launch_template_instance_type(instance_type: str) -> Callable[[Template], Template]:
    """`cluster.instanceType=...`: the launch template's InstanceType."""
    return lambda template: _edit_resources(
        template, "AWS::EC2::LaunchTemplate",
        lambda props: props["LaunchTemplateData"].update(InstanceType=instance_type))


def location_health_check(path: str) -> Callable[[Template], Template]:
    """`location.healthCheckPath=...`: the target of the location service's classic ELB."""
    def edit(props: dict[str, Any]) -> None:
        target = props["HealthCheck"]["Target"]
        if target.startswith("HTTP:8081/"):
            props["HealthCheck"]["Target"] = "HTTP:8081" + path
    return lambda template: _edit_resources(
        template, "AWS::ElasticLoadBalancing::LoadBalancer", edit)


def vpc_cidr_10_1(template: Template) -> Template:
    """`vpc.cidr=10.1.0.0/16`: the VPC's block and every subnet's, carved the same way."""
    def move(props: dict[str, Any]) -> None:
        props["CidrBlock"] = props["CidrBlock"].replace("10.0.", "10.1.", 1)
    return _edit_resources(_edit_resources(template, "AWS::EC2::VPC", move),
                           "AWS::EC2::Subnet", move)


def without_db_key(template: Template) -> Template:
    """`MySqlDatabaseProps(encryption_key=None)`: storage encrypted with the AWS managed key."""
    edited = copy.deepcopy(template)
    for resource in edited["Resources"].values():
        if resource["Type"] == "AWS::RDS::DBInstance":
            del resource["Properties"]["KmsKeyId"]
    return edited


def rename_database(template: Template) -> Template:
    """`MySqlDatabase(self, "Db", ...)` instead of "Database": every logical ID under the construct
    changes, and so does every reference to them."""
    renamed = {
        logical_id: "Db" + logical_id.removeprefix("Database")
        for logical_id, resource in template["Resources"].items()
        if resource.get("Metadata", {}).get("aws:cdk:path", "").split("/")[1:2] == ["Database"]
    }
    text = json.dumps(template)
    for old, new in renamed.items():
        text = re.sub(rf"(?<![A-Za-z0-9]){old}(?![A-Za-z0-9])", new, text)
    text = text.replace('"EcsPlayground/Database/', '"EcsPlayground/Db/')
    edited: Template = json.loads(text)
    return edited


CHANGES: dict[str, Change] = {
    "image_tag": Change(IMAGE_10, IMAGE_11),
    "db_instance_class": Change(head={"db.instanceClass": "db.t3.small"}),
    "db_encryption_key": Change(edit=without_db_key),
    "db_construct_renamed": Change(edit=rename_database),
    "cluster_name": Change(head={"cluster.clusterName": "app02"}),
    "vpc_cidr": Change(edit=vpc_cidr_10_1),
    "listener_port": Change(head={"location.listenerPort": "80"}),
    "health_check_path": Change(edit=location_health_check("/ready")),
    "instance_type": Change(edit=launch_template_instance_type("t3.large")),
    "service_added": Change(head=ORDERS),
    "service_removed": Change(base=ORDERS),
    "db_multi_az": Change(edit=set_props("AWS::RDS::DBInstance", MultiAZ=True)),
    "db_backup_retention": Change(edit=set_props("AWS::RDS::DBInstance",
                                                 BackupRetentionPeriod=14)),
    "no_op": Change(head={"db.instanceClass": "db.t3.micro"}),
}
"""The agreement cases: the eleven the issue names, two conditional RDS updates where the CLI says
"may be replaced", and a no-op (an override equal to the default: a second, identical synth)."""
