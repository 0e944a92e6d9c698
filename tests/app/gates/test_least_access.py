"""Access narrowed to what is used (issue 20, points 10 and 11): the instances' outbound rules,
the platform key's CloudWatch Logs statement, IAM database authentication, and HTTPS listeners
on the classic ELBs with everything that follows them (ingress, quotas, acknowledgments)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from ecs_playground import ClassicLoadBalancedService, MySqlDatabase
from ecs_playground_app import config, gates
from ecs_playground_app.stack import EcsPlaygroundStack
from tests.conftest import CERTIFICATE_ARN, synth_gated
from tests.factories import database_props, existing_vpc, new_cluster, new_stack, service_props
from tests.tutorial import TUTORIAL_CONTEXT

HTTPS_ONLY = {"location.certificateArn": CERTIFICATE_ARN}
"""The tutorial with HTTPS for location (plain HTTP closed)."""


def _tutorial(**overrides: Any) -> cdk.App:
    """The tutorial's platform (tests/tutorial_cdk.json), with context overrides, synthesized."""
    app = cdk.App(context={**TUTORIAL_CONTEXT, **overrides})
    platform = config.load(app.node.get_all_context())
    EcsPlaygroundStack(app, platform.stack_name, config=platform)
    app.synth()
    return app


def _templates(app: cdk.App) -> dict[str, dict[str, Any]]:
    """Every stack's template by stack name."""
    return {s.stack_name: s.template for s in app.synth().stacks}


@pytest.fixture(scope="module")
def tutorial() -> dict[str, Any]:
    """The tutorial's platform stack template."""
    return _templates(_tutorial())["EcsPlayground"]


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found = {k: r for k, r in template["Resources"].items() if r["Type"] == kind}
    assert found, f"no {kind} in the template"
    return found


def _instance_group(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, group)] = [
        (k, r) for k, r in _of_type(template, "AWS::EC2::SecurityGroup").items()
        if k.startswith("ClusterInstanceSecurityGroup")
    ]
    return logical_id, group


# --- point 10: the instances' outbound rules ------------------------------------------------


def test_instances_send_https_anywhere_and_mysql_to_the_database_only(
    tutorial: dict[str, Any],
) -> None:
    # given the tutorial's platform
    logical_id, group = _instance_group(tutorial)
    # then the instance group's own outbound rules are HTTPS only (no all-protocols rule)
    assert [(r["IpProtocol"], r.get("FromPort"), r.get("ToPort"), r["CidrIp"])
            for r in group["Properties"]["SecurityGroupEgress"]] == [
        ("tcp", 443, 443, "0.0.0.0/0")]
    # and the only other outbound rule goes to the database's group, on its port
    standalone = [r["Properties"] for r in
                  _of_type(tutorial, "AWS::EC2::SecurityGroupEgress").values()
                  if r["Properties"]["GroupId"] == {"Fn::GetAtt": [logical_id, "GroupId"]}]
    [(database_id, database)] = _of_type(tutorial, "AWS::RDS::DBInstance").items()
    [database_group] = database["Properties"]["VPCSecurityGroups"]
    assert [(r["IpProtocol"], r["DestinationSecurityGroupId"], r["FromPort"], r["ToPort"])
            for r in standalone] == [
        ("tcp", database_group, {"Fn::GetAtt": [database_id, "Endpoint.Port"]},
         {"Fn::GetAtt": [database_id, "Endpoint.Port"]})]


def test_instance_egress_adds_one_rule_per_entry() -> None:
    # given a cluster with two extra outbound rules
    cluster = new_cluster(instance_egress=["tcp:8443:203.0.113.0/24", "udp:5000-5010:10.0.0.0/8"])
    group = Template.from_stack(cdk.Stack.of(cluster)).find_resources("AWS::EC2::SecurityGroup")
    [egress] = [g["Properties"]["SecurityGroupEgress"] for k, g in group.items()
                if k.startswith("ClusterInstanceSecurityGroup")]
    # then they follow HTTPS, as written
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in egress] == [
        ("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 8443, 8443, "203.0.113.0/24"),
        ("udp", 5000, 5010, "10.0.0.0/8")]


@pytest.mark.parametrize("rule", [
    "tcp:8443", "icmp:0:10.0.0.0/8", "tcp:0:10.0.0.0/8", "tcp:70000:10.0.0.0/8",
    "tcp:9000-8000:10.0.0.0/8", "tcp:443:10.0.0.1/8", "tcp:443:10.0.0.0/33", "all:0.0.0.0/0",
])
def test_instance_egress_refuses_what_it_cannot_apply(rule: str) -> None:
    from ecs_playground import ContainerClusterProps

    problems = ContainerClusterProps(
        vpc=existing_vpc(new_stack()), instance_egress=[rule]
    ).validate()
    assert [(p.prop, p.value) for p in problems] == [("instance_egress", rule)]
    assert "tcp:8443:203.0.113.0/24" in problems[0].render()


def test_platform_key_serves_cloudwatch_logs_only_for_this_apps_log_groups(
    tutorial: dict[str, Any],
) -> None:
    # given the platform key's policy
    [key] = _of_type(tutorial, "AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    logs = [s for s in statements
            if "logs" in json.dumps(s.get("Principal", {}).get("Service", ""))]
    # then CloudWatch Logs may use it for log groups named after the stack only
    assert len(logs) == 1
    assert logs[0]["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":logs:", {"Ref": "AWS::Region"},
                          ":", {"Ref": "AWS::AccountId"}, ":log-group:",
                          {"Ref": "AWS::StackName"}, "-*"]]}}}


def test_every_log_group_under_the_key_gets_a_name_the_key_condition_admits() -> None:
    # given the tutorial with one service in a service stack
    templates = _templates(_tutorial(**{"user.stack": "3"}))
    assert set(templates) == {"EcsPlayground", "EcsPlayground-Services03"}
    for stack_name, template in templates.items():
        # then every stack is the platform's or named '<platform stack>-...' (CloudFormation
        # names a log group '<stack name>-<logical ID>-<random>')
        assert stack_name == "EcsPlayground" or stack_name.startswith("EcsPlayground-")
        groups = _of_type(template, "AWS::Logs::LogGroup").values()
        assert groups, stack_name
        # and no encrypted log group has a fixed name the condition might not admit
        assert all("LogGroupName" not in g["Properties"] for g in groups), stack_name
        assert all("KmsKeyId" in g["Properties"] for g in groups), stack_name


def test_iam_database_authentication_is_off_unless_asked() -> None:
    def instance(**overrides: Any) -> dict[str, Any]:
        stack = new_stack()
        MySqlDatabase(stack, "Database", database_props(existing_vpc(stack), **overrides))
        [found] = Template.from_stack(stack).find_resources("AWS::RDS::DBInstance").values()
        return found

    # given the default, then no IAM authentication, and checkov's finding explained
    off = instance()
    assert off["Properties"]["EnableIAMDatabaseAuthentication"] is False
    assert [s["id"] for s in off["Metadata"]["checkov"]["skip"]].count("CKV_AWS_161") == 1
    # given iam_authentication, then it is on and nothing is acknowledged about it
    on = instance(iam_authentication=True)
    assert on["Properties"]["EnableIAMDatabaseAuthentication"] is True
    assert "CKV_AWS_161" not in json.dumps(on.get("Metadata", {}))


# --- point 11: HTTPS on the classic ELBs ----------------------------------------------------


def _service(**overrides: Any) -> dict[str, Any]:
    """A service's template: its ELB and the ELB's own security group."""
    cluster = new_cluster()
    ClassicLoadBalancedService(cluster, "Svc", service_props(cluster, **overrides))
    template = Template.from_stack(cdk.Stack.of(cluster)).to_json()
    [lb] = _of_type(template, "AWS::ElasticLoadBalancing::LoadBalancer").values()
    [group] = [g for k, g in _of_type(template, "AWS::EC2::SecurityGroup").items()
               if "LoadBalancerSecurityGroup" in k and "Svc" in k]
    return {"lb": lb, "group": group}


def _listeners(lb: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(listener["Protocol"], listener["LoadBalancerPort"], listener["InstancePort"],
             listener.get("SSLCertificateId")) for listener in lb["Properties"]["Listeners"]]


def _ingress(group: dict[str, Any]) -> list[tuple[int, str]]:
    return [(r["FromPort"], r["CidrIp"]) for r in group["Properties"]["SecurityGroupIngress"]]


def test_plain_http_stays_the_default_and_its_choice_is_acknowledged() -> None:
    found = _service()
    assert _listeners(found["lb"]) == [("HTTP", "8081", "8081", None)]
    assert "Policies" not in found["lb"]["Properties"]
    assert _ingress(found["group"]) == [(8081, "0.0.0.0/0")]


def test_a_certificate_gives_https_with_a_tls12_policy_and_closes_http() -> None:
    # given a certificate
    found = _service(certificate_arn=CERTIFICATE_ARN)
    # then one HTTPS listener on 443 that forwards HTTP to the host port
    assert _listeners(found["lb"]) == [("HTTPS", "443", "8081", CERTIFICATE_ARN)]
    [listener] = found["lb"]["Properties"]["Listeners"]
    assert listener["InstanceProtocol"] == "HTTP"
    assert found["lb"]["Properties"]["Policies"] == [{
        "PolicyName": listener["PolicyNames"][0], "PolicyType": "SSLNegotiationPolicyType",
        "Attributes": [{"Name": "Reference-Security-Policy",
                        "Value": "ELBSecurityPolicy-TLS-1-2-2017-01"}]}]
    # and the ELB accepts 443 only: the plain-HTTP port is closed
    assert _ingress(found["group"]) == [(443, "0.0.0.0/0")]


def test_keep_http_listener_keeps_both_listeners_and_their_ingress() -> None:
    found = _service(certificate_arn=CERTIFICATE_ARN, keep_http_listener=True,
                     https_listener_port=8443, allowed_cidrs=["10.0.0.0/8", "192.168.0.0/16"])
    assert _listeners(found["lb"]) == [("HTTPS", "8443", "8081", CERTIFICATE_ARN),
                                       ("HTTP", "8081", "8081", None)]
    assert sorted(_ingress(found["group"])) == [
        (8081, "10.0.0.0/8"), (8081, "192.168.0.0/16"),
        (8443, "10.0.0.0/8"), (8443, "192.168.0.0/16")]


def test_plain_http_on_port_80_open_to_the_internet_is_acknowledged_for_checkov() -> None:
    open_80 = _service(listener_port=80)
    skips = [s["id"] for s in open_80["group"]["Metadata"]["checkov"]["skip"]]
    assert skips == ["CKV_AWS_260"]
    https = _service(listener_port=80, certificate_arn=CERTIFICATE_ARN)
    assert "CKV_AWS_260" not in json.dumps(https["group"].get("Metadata", {}))


@pytest.mark.parametrize(("overrides", "prop"), [
    ({"certificate_arn": "arn:aws:iam::111111111111:server-certificate/site"},
     "certificate_arn"),
    ({"certificate_arn": "my-certificate"}, "certificate_arn"),
    ({"keep_http_listener": True}, "keep_http_listener"),
    ({"certificate_arn": CERTIFICATE_ARN, "https_listener_port": 444}, "https_listener_port"),
    ({"certificate_arn": CERTIFICATE_ARN, "keep_http_listener": True,
      "https_listener_port": 8081}, "https_listener_port"),
    ({"certificate_arn": CERTIFICATE_ARN, "ssl_policy": "ELBSecurityPolicy-2016-08"},
     "ssl_policy"),
])
def test_https_props_are_validated(overrides: dict[str, Any], prop: str) -> None:
    cluster = new_cluster()
    problems = service_props(cluster, **overrides).validate()
    assert [p.prop for p in problems] == [prop]


def test_a_certificate_token_is_not_checked_at_synth() -> None:
    cluster = new_cluster()
    token = cdk.Fn.import_value("SiteCertificateArn")
    assert service_props(cluster, certificate_arn=token).validate() == []


def test_certificate_arn_is_a_configuration_key_and_reaches_the_listener() -> None:
    # given -c location.certificateArn=... on the tutorial's platform
    template = _templates(_tutorial(**HTTPS_ONLY))["EcsPlayground"]
    listeners = {k: _listeners(r) for k, r in
                 _of_type(template, "AWS::ElasticLoadBalancing::LoadBalancer").items()}
    # then location listens with HTTPS only, user still with plain HTTP (the tutorial's)
    assert sorted(listeners.values()) == [[("HTTP", "9091", "9091", None)],
                                          [("HTTPS", "443", "8081", CERTIFICATE_ARN)]]


def test_the_tutorial_with_https_has_no_unacknowledged_cdk_nag_finding() -> None:
    # given HTTPS only for location, HTTPS beside the kept plain HTTP on port 80 for user
    app = cdk.App(context={**TUTORIAL_CONTEXT, **HTTPS_ONLY,
                           "user.certificateArn": CERTIFICATE_ARN, "user.keepHttpListener": True,
                           "user.listenerPort": 80})
    platform = config.load(app.node.get_all_context())
    gated = synth_gated("https", EcsPlaygroundStack(app, platform.stack_name, config=platform))
    # then the gates pass: TLS ending at the ELB and the kept plain HTTP are acknowledged
    assert gated.error is None, gated.error
    assert gated.findings("AwsSolutions") == set()
    assert gated.findings("EcsPlayground") == set()


def test_a_bad_certificate_arn_is_reported_by_its_configuration_key() -> None:
    app = cdk.App(context={**TUTORIAL_CONTEXT, "location.certificateArn": "nope"})
    platform = config.load(app.node.get_all_context())
    with pytest.raises(ValueError, match=r"location\.certificateArn = 'nope'"):
        EcsPlaygroundStack(app, platform.stack_name, config=platform)


def test_quotas_count_the_listeners_and_the_instances_outbound_rules() -> None:
    # given 31 allowed CIDRs on two listeners: 62 inbound rules on the ELB's own group
    cidrs = [f"10.{i}.0.0/16" for i in range(31)]
    app = cdk.App(context={**TUTORIAL_CONTEXT, "location.allowedCidrs": cidrs,
                           "location.certificateArn": CERTIFICATE_ARN,
                           "location.keepHttpListener": True,
                           "cluster.instanceEgress": [f"tcp:{8000 + i}:10.0.0.0/8"
                                                      for i in range(59)]})
    platform = config.load(app.node.get_all_context())
    stack = EcsPlaygroundStack(app, platform.stack_name, config=platform)
    # then the plan exceeds the adjustable rules-per-group quota there, and on the instances'
    # outbound rules (HTTPS, MySQL and 59 more)
    over = {(u.where, u.value) for u in stack.quota_increases}
    assert ("each load balancer's own security group", 62) in over
    assert ("instance security group of cluster app01 (outbound)", 61) in over


def test_compliance_packs_see_plain_http_as_acknowledged_and_tls_termination_as_found() -> None:
    # given one plain-HTTP and one HTTPS service, with the compliance packs registered
    stack = new_stack()
    cluster = new_cluster(stack)
    ClassicLoadBalancedService(stack, "Plain", service_props(cluster, name="plain"))
    ClassicLoadBalancedService(stack, "Tls", service_props(
        cluster, name="tls", container_port=9091, certificate_arn=CERTIFICATE_ARN))
    app = stack.node.root
    assert isinstance(app, cdk.App)
    gates.register(app, compliance_packs=True)
    with pytest.raises(RuntimeError, match="ValidationFailed"):  # the audit packs find things
        app.synth()
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    found = {(v["ruleName"], r["pluginName"]) for r in report["pluginReports"]
             for v in r["violations"]
             if any("Plain" in x.get("constructPath", "") or "Tls" in x.get("constructPath", "")
                    for x in v.get("violatingConstructs", []))}
    rules = {name for name, _ in found}
    # then no ACM-certificate finding on either (plain HTTP is the explicit, acknowledged choice)
    assert not {r for r in rules if r.endswith("ELBACMCertificateRequired")}
    # and TLS that ends at the ELB stays a finding of the audit packs (not acknowledged there)
    assert {r for r in rules if r.endswith("ELBTlsHttpsListenersOnly")}
    # and of AwsSolutions, nothing on the listeners
    assert "AwsSolutions-ELB5" not in rules
