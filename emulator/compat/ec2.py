"""EC2 and Auto Scaling resources that moto 5.2.5 created through CloudFormation but never deleted.

Without these, ``cdk destroy`` of a VPC stack failed with "the vpc has
dependencies": routes, route tables, the NAT gateway, its Elastic IP, the
internet gateway and its attachment stayed, and so did the instances of a
deleted Auto Scaling group that were protected from scale-in.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling import models as as_models
from moto.ec2.models import (
    ec2_backends,
    elastic_ip_addresses,
    flow_logs,
    internet_gateways,
    nat_gateways,
    route_tables,
)
from moto.ec2.models import subnets as subnet_models
from moto.ec2.models import vpn_gateway as gateway_models

from emulator.compat.model_base import patch_model


def _ec2(account_id: str, region_name: str) -> Any:
    return ec2_backends[account_id][region_name]


def _quietly(call: Any, *args: Any) -> None:
    """Run a delete; an already-gone resource is fine (CloudFormation treats it as deleted)."""
    try:
        call(*args)
    except Exception as error:
        text = str(error).lower()
        if (
            "NotFound" not in type(error).__name__
            and "not found" not in text
            and "does not exist" not in text
        ):
            raise


def route_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::Route``."""
    _quietly(
        _ec2(account_id, region_name).delete_route, self.route_table.id, self.destination_cidr_block
    )


def route_table_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::RouteTable``."""
    _quietly(_ec2(account_id, region_name).delete_route_table, self.id)


_original_association_create = (
    subnet_models.SubnetRouteTableAssociation.create_from_cloudformation_json.__func__
)  # type: ignore[attr-defined]


def association_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """``AWS::EC2::SubnetRouteTableAssociation``: really associate (moto only recorded the pair).

    The physical ID becomes the association's ``rtbassoc-...`` ID, not the route table's.
    """
    association = _original_association_create(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    association.association_id = _ec2(account_id, region_name).associate_route_table(
        association.route_table_id, subnet_id=association.subnet_id
    )
    return association


def association_delete(self: Any, account_id: str, region_name: str) -> None:
    """Disassociate the subnet from the route table."""
    backend = _ec2(account_id, region_name)
    backend.subnet_associations.pop(f"{self.route_table_id}:{self.subnet_id}", None)
    if getattr(self, "association_id", None):
        _quietly(backend.disassociate_route_table, self.association_id)


def nat_gateway_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::NatGateway``: deleted, with the network interface it held."""
    backend = _ec2(account_id, region_name)
    _quietly(backend.delete_nat_gateway, self.id)
    eni = getattr(self, "_eni", None)
    if eni is not None and eni.id in backend.enis:
        backend.delete_network_interface(eni.id)
    backend.nat_gateways.pop(self.id, None)


def address_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::EIP``: released."""
    backend = _ec2(account_id, region_name)
    self.association_id = None
    self.instance = None
    self.eni = None
    _quietly(backend.release_address, None, self.allocation_id)


def gateway_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::InternetGateway``."""
    _quietly(_ec2(account_id, region_name).delete_internet_gateway, self.id)


def attachment_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::VPCGatewayAttachment``: detaches the internet gateway."""
    if self.gateway_id:
        _quietly(
            _ec2(account_id, region_name).detach_internet_gateway, self.gateway_id, self.vpc_id
        )


def flow_log_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::EC2::FlowLog``."""
    _quietly(_ec2(account_id, region_name).delete_flow_logs, [self.id])


def auto_scaling_group_delete(self: Any, account_id: str, region_name: str) -> None:
    """``AWS::AutoScaling::AutoScalingGroup``: terminate every instance (even scale-in protected),
    then delete.
    """
    instance_ids = [state.instance.id for state in self.instance_states]
    self.instance_states = []
    if instance_ids:
        _ec2(account_id, region_name).terminate_instances(instance_ids)
    backend = as_models.autoscaling_backends[account_id][region_name]
    if self.name in backend.autoscaling_groups:
        backend.autoscaling_groups.pop(self.name)


_original_group_create = as_models.FakeAutoScalingGroup.create_from_cloudformation_json


def auto_scaling_group_create(
    cls: Any,
    resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Any:
    """``AWS::AutoScaling::AutoScalingGroup`` with ``MetricsCollection`` on (moto ignored it)."""
    group = _original_group_create.__func__(  # type: ignore[attr-defined]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    metrics = [
        metric
        for collection in (cloudformation_json.get("Properties") or {}).get("MetricsCollection", [])
        for metric in collection.get("Metrics", [])
    ]
    if metrics:
        group.enable_metrics_collection(metrics)
    return group


def apply() -> None:
    """Give the types their delete (and the association its real ID)."""
    patch_model(route_tables.Route, delete=route_delete)
    patch_model(route_tables.RouteTable, delete=route_table_delete)
    association = subnet_models.SubnetRouteTableAssociation
    patch_model(
        association,
        create=association_create,
        delete=association_delete,
        physical_id=lambda self: getattr(self, "association_id", None) or self.route_table_id,
    )
    patch_model(nat_gateways.NatGateway, delete=nat_gateway_delete)
    patch_model(elastic_ip_addresses.ElasticAddress, delete=address_delete)
    patch_model(internet_gateways.InternetGateway, delete=gateway_delete)
    patch_model(gateway_models.VPCGatewayAttachment, delete=attachment_delete)
    patch_model(flow_logs.FlowLogs, delete=flow_log_delete)
    patch_model(
        as_models.FakeAutoScalingGroup,
        create=auto_scaling_group_create,
        delete=auto_scaling_group_delete,
    )
