"""Monthly on-demand cost of a stack, by resource kind, from the dated price table prices.json.

Only charges that follow from the template are counted: instance-hours, provisioned storage,
load balancer / NAT gateway / public IPv4 hours, secrets, keys, alarms. A resource whose price is
not in the table (another region, an instance type or class the table lacks, a type with a fixed
charge the table does not cover) is listed as unpriced, never counted as 0. Charges that depend on
usage (data transfer, data processed, log ingestion, requests) are named as excluded.

``monthly_cost_lines(outdir)`` is the line the synth summary prints.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .template import TIMES, Stack, as_int, load_assembly, properties, ref_target

PRICES_FILE = Path(__file__).with_name("prices.json")

# Types that carry a fixed monthly charge this table does not price: listed as unpriced.
_FIXED_BUT_UNPRICED = {
    "AWS::EC2::VPCEndpoint": "interface VPC endpoint hours",
    "AWS::ElastiCache::CacheCluster": "cache node hours",
    "AWS::ElastiCache::ReplicationGroup": "cache node hours",
    "AWS::RDS::DBCluster": "Aurora cluster (instances and storage)",
    "AWS::EKS::Cluster": "EKS control plane hours",
    "AWS::EC2::TransitGateway": "transit gateway attachment hours",
    "AWS::EC2::ClientVpnEndpoint": "Client VPN hours",
    "AWS::OpenSearchService::Domain": "OpenSearch instance hours",
    "AWS::DocDB::DBInstance": "DocumentDB instance hours",
    "AWS::WAFv2::WebACL": "web ACL and rules",
}
# Usage-based charges, named when a resource that incurs them is in the template.
_USAGE: dict[str, str] = {
    "AWS::ElasticLoadBalancing::LoadBalancer": "classic ELB data processed (per GB)",
    "AWS::ElasticLoadBalancingV2::LoadBalancer": "load balancer capacity units (LCU)",
    "AWS::EC2::NatGateway": "NAT gateway data processed (per GB)",
    "AWS::Logs::LogGroup": "CloudWatch Logs ingestion and storage",
    "AWS::EC2::FlowLog": "VPC flow log delivery",
    "AWS::S3::Bucket": "S3 storage and requests",
    "AWS::SNS::Topic": "SNS notifications",
    "AWS::Lambda::Function": "Lambda invocations",
    "AWS::SecretsManager::Secret": "Secrets Manager API calls",
    "AWS::KMS::Key": "KMS requests; rotated key material (+$1/month for each of the first two "
                     "rotations)",
    "AWS::RDS::DBInstance": "RDS backup storage beyond the database size, storage autoscaling, "
                            "Enhanced Monitoring logs",
    "AWS::ECR::Repository": "ECR image storage",
    "AWS::ECS::Cluster": "Container Insights metrics (when enabled)",
    "AWS::ServiceDiscovery::PrivateDnsNamespace": "Route 53 and Cloud Map DNS queries",
}
_ALWAYS_EXCLUDED = "data transfer out of AWS and between AZs"


@functools.cache
def prices() -> Mapping[str, Any]:
    """The price table (prices.json)."""
    table: Mapping[str, Any] = json.loads(PRICES_FILE.read_text())
    return table


@dataclass(frozen=True)
class CostLine:
    """One priced (or unpriced) item of a stack."""

    kind: str
    item: str
    monthly: float | None
    """USD per month; None when the table has no price for it."""
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    """The monthly estimate of one stack."""

    stack: str
    priced_region: str | None
    """The table region used, or None when the stack's region has no prices."""
    region_note: str
    lines: tuple[CostLine, ...]
    excluded: tuple[str, ...]

    @property
    def total(self) -> float:
        """Sum of the priced lines (unpriced lines are listed, not counted)."""
        return round(sum(line.monthly or 0.0 for line in self.lines), 2)

    @property
    def unpriced(self) -> tuple[CostLine, ...]:
        """Lines without a price."""
        return tuple(line for line in self.lines if line.monthly is None)


class _Pricer:
    def __init__(self, table: Mapping[str, Any], region_priced: bool) -> None:
        self.table = table
        self.region_priced = region_priced
        self.hours = float(table["hours_per_month"])

    def hourly(self, key: str, count: float = 1) -> float | None:
        return (round(float(self.table[key]) * self.hours * count, 2)
                if self.region_priced else None)

    def monthly(self, key: str, count: float = 1) -> float | None:
        return round(float(self.table[key]) * count, 2) if self.region_priced else None

    def lookup(self, table_key: str, name: str, per: float) -> float | None:
        price = self.table[table_key].get(name)
        if not self.region_priced or price is None:
            return None
        return round(float(price) * per, 2)


def estimate(stack: Stack, table: Mapping[str, Any] | None = None) -> Estimate:
    """The monthly on-demand estimate of one stack."""
    table = table or prices()
    region = stack.region
    if region is None:
        priced_region: str | None = table["region"]
        note = f"environment-agnostic stack: priced as {table['region']}"
    elif region == table["region"]:
        priced_region, note = region, ""
    else:
        priced_region = None
        note = f"no prices for {region} in the table ({table['region']} only): every item unpriced"
    pricer = _Pricer(table, priced_region is not None)
    resources = stack.resources
    lines: list[CostLine] = []
    for logical_id, resource in sorted(resources.items()):
        lines += _lines(logical_id, resource, resources, pricer)
    lines += _counted(resources, pricer)
    present = {r.get("Type") for r in resources.values()}
    excluded = (_ALWAYS_EXCLUDED, *sorted(_USAGE[t] for t in present if t in _USAGE))
    return Estimate(stack.name, priced_region, note, tuple(_merge(lines)), excluded)


def _merge(lines: list[CostLine]) -> list[CostLine]:
    """Same kind and item added up: two classic ELBs become 'classic ELB x 2'."""
    merged: dict[tuple[str, str, str], tuple[int, float | None]] = {}
    for line in lines:
        key = (line.kind, line.item, line.note)
        count, total = merged.get(key, (0, 0.0))
        value = None if total is None or line.monthly is None else round(total + line.monthly, 2)
        merged[key] = (count + 1, value)
    return [
        CostLine(kind, item if count == 1 or TIMES in item else f"{item} {TIMES} {count}",
                 monthly, note)
        for (kind, item, note), (count, monthly) in merged.items()
    ]


def _launch_data(group: Mapping[str, Any], resources: Mapping[str, Any]) -> Mapping[str, Any]:
    props = properties(group)
    template_id = ref_target(props.get("LaunchTemplate", {}).get("LaunchTemplateId"))
    if template_id and template_id in resources:
        data: Mapping[str, Any] = properties(resources[template_id]).get("LaunchTemplateData", {})
        return data
    config_id = ref_target(props.get("LaunchConfigurationName"))
    if config_id and config_id in resources:
        return properties(resources[config_id])
    return {}


def _instances(kind: str, instance_type: Any, count: int, data: Mapping[str, Any],
               pricer: _Pricer, note: str = "") -> list[CostLine]:
    lines = []
    if isinstance(instance_type, str):
        price = pricer.lookup("ec2_instance_hourly", instance_type, pricer.hours * count)
        lines.append(CostLine(kind, f"{instance_type} {TIMES} {count}", price, note))
    else:
        lines.append(CostLine(kind, f"instance type not in the template {TIMES} {count}", None,
                              note))
    mappings = data.get("BlockDeviceMappings", [])
    volumes = [m["Ebs"] for m in mappings if isinstance(m, dict) and isinstance(m.get("Ebs"), dict)]
    if not volumes:
        lines.append(CostLine("EBS volumes", f"root volume from the AMI {TIMES} {count}", None,
                              "size not in the template"))
    for ebs in volumes:
        size, volume_type = as_int(ebs.get("VolumeSize")), str(ebs.get("VolumeType", "gp2"))
        if size is None:
            lines.append(CostLine("EBS volumes",
                                  f"{volume_type} (size from the snapshot/AMI) {TIMES} {count}",
                                  None))
            continue
        lines.append(CostLine("EBS volumes", f"{volume_type} {size} GiB {TIMES} {count}",
                              pricer.lookup("ebs_gb_month", volume_type, size * count)))
    return lines


def _lines(logical_id: str, resource: Mapping[str, Any], resources: Mapping[str, Any],
           pricer: _Pricer) -> list[CostLine]:
    kind, props = resource.get("Type", ""), properties(resource)
    if kind == "AWS::AutoScaling::AutoScalingGroup":
        low, high = as_int(props.get("MinSize")), as_int(props.get("MaxSize"))
        count = as_int(props.get("DesiredCapacity")) or low or 0
        note = f"scales up to {high}" if high and high > count else ""
        data = _launch_data(resource, resources)
        return _instances("EC2 instances", data.get("InstanceType"), count, data, pricer, note)
    if kind == "AWS::EC2::Instance":
        return _instances("EC2 instances", props.get("InstanceType"), 1, props, pricer)
    if kind == "AWS::EC2::Volume":
        size, volume_type = as_int(props.get("Size")), str(props.get("VolumeType", "gp2"))
        return [CostLine("EBS volumes", f"{volume_type} {size} GiB",
                         pricer.lookup("ebs_gb_month", volume_type, size) if size else None)]
    if kind == "AWS::ElasticLoadBalancing::LoadBalancer":
        lines = [CostLine("Load balancers", "classic ELB", pricer.hourly("elb_classic_hourly"))]
        if props.get("Scheme", "internet-facing") == "internet-facing":
            nodes = len(props.get("Subnets", props.get("AvailabilityZones", []))) or 1
            lines.append(CostLine("Public IPv4 addresses", "load balancer nodes (≥ 1 per subnet)",
                                  pricer.hourly("public_ipv4_hourly", nodes),
                                  "more nodes under load"))
        return lines
    if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        key = "nlb_hourly" if props.get("Type") == "network" else "alb_hourly"
        return [CostLine("Load balancers", key.split("_")[0].upper(), pricer.hourly(key))]
    if kind == "AWS::EC2::NatGateway":
        return [CostLine("NAT gateways", "NAT gateway", pricer.hourly("nat_gateway_hourly"))]
    if kind == "AWS::EC2::EIP":
        return [CostLine("Public IPv4 addresses", "Elastic IP",
                         pricer.hourly("public_ipv4_hourly"))]
    if kind == "AWS::RDS::DBInstance":
        return _database(props, pricer)
    if kind in _FIXED_BUT_UNPRICED:
        return [CostLine("Unpriced", f"{kind} {logical_id}", None, _FIXED_BUT_UNPRICED[kind])]
    return []


def _database(props: Mapping[str, Any], pricer: _Pricer) -> list[CostLine]:
    engine = str(props.get("Engine", "?"))
    instance_class = props.get("DBInstanceClass")
    multi_az = props.get("MultiAZ") is True or str(props.get("MultiAZ")).lower() == "true"
    factor = int(pricer.table["rds_multi_az_factor"]) if multi_az else 1
    deployment = "Multi-AZ" if multi_az else "single-AZ"
    table = pricer.table["rds_instance_hourly"].get(engine, {})
    price = table.get(instance_class) if isinstance(instance_class, str) else None
    lines = [CostLine("RDS instances", f"{engine} {instance_class} {deployment}",
                      round(float(price) * pricer.hours * factor, 2)
                      if price is not None and pricer.region_priced else None)]
    size, storage = as_int(props.get("AllocatedStorage")), str(props.get("StorageType", "gp2"))
    note = ""
    ceiling = as_int(props.get("MaxAllocatedStorage"))
    if ceiling and size and ceiling > size:
        note = f"autoscaling up to {ceiling} GiB not counted"
    if size is None:
        lines.append(CostLine("RDS storage", f"{storage} (size not in the template)", None))
    else:
        lines.append(CostLine("RDS storage", f"{storage} {size} GiB {deployment}",
                              pricer.lookup("rds_storage_gb_month", storage, size * factor), note))
    return lines


def _counted(resources: Mapping[str, Any], pricer: _Pricer) -> list[CostLine]:
    counts: dict[str, int] = {}
    for resource in resources.values():
        kind = resource.get("Type", "")
        counts[kind] = counts.get(kind, 0) + 1
    lines = []
    for kind, label, key in (("AWS::SecretsManager::Secret", "Secrets Manager secrets",
                              "secret_month"),
                             ("AWS::KMS::Key", "KMS customer managed keys", "kms_key_month"),
                             ("AWS::CloudWatch::Alarm", "CloudWatch alarms",
                              "cloudwatch_alarm_month"),
                             ("AWS::CloudWatch::Dashboard", "CloudWatch dashboards",
                              "cloudwatch_dashboard_month"),
                             ("AWS::Route53::HostedZone", "Route 53 hosted zones",
                              "route53_hosted_zone_month"),
                             ("AWS::ServiceDiscovery::PrivateDnsNamespace",
                              "Cloud Map namespaces (a Route 53 hosted zone each)",
                              "route53_hosted_zone_month")):
        if counts.get(kind):
            lines.append(CostLine(label, f"{TIMES} {counts[kind]}",
                                  pricer.monthly(key, counts[kind])))
    return lines


def money(value: float | None) -> str:
    """'$1,234.50'; 'unpriced' for None."""
    return "unpriced" if value is None else f"${value:,.2f}"


def signed(value: float) -> str:
    """'+$12.00', '-$3.50', '$0.00'."""
    if abs(value) < 0.005:
        return "$0.00"
    return f"{'+' if value > 0 else '-'}${abs(value):,.2f}"


def price_basis() -> str:
    """'on-demand us-east-1 prices of 2026-11-29'."""
    table = prices()
    return f"on-demand {table['region']} prices of {table['date']}"


def monthly_cost_lines(outdir: Path, stacks: Mapping[str, Stack] | None = None) -> list[str]:
    """The synth summary's cost line per stack of an assembly (or of `stacks`, some of its), e.g.
    '  cost EcsPlayground: ~$248.80/month (on-demand us-east-1 prices of 2026-11-29; ...)',
    followed by the usage-based charges it does not count. A stack in a region the table has no
    prices for says so instead of a total."""
    out = []
    for name, stack in sorted((stacks if stacks is not None else load_assembly(outdir)).items()):
        result = estimate(stack)
        unpriced = ", ".join(f"{line.kind} {line.item}" for line in result.unpriced) or "none"
        region = f"; {result.region_note}" if result.region_note else ""
        if result.priced_region is None:
            out.append(f"  cost {name}: unpriced ({result.region_note})")
        else:
            out.append(f"  cost {name}: ~{money(result.total)}/month ({price_basis()}{region}; "
                       f"unpriced: {unpriced})")
        out.append(f"    not counted (usage-based): {'; '.join(result.excluded)}")
    return out
