"""A small CDK app whose templates CloudFormation Validate finds fault with, in every way the
`cfn-validate` gate has to mirror: errors and warnings, a finding at the template's level (an
unused parameter), an account and region, and acknowledgments on the resource itself, on an
ancestor, and of another rule (which must not hide this one).

    python tests/app/cfn_validate_app.py OUTDIR [bad-tutorial]

synthesizes it (or, with `bad-tutorial`, the tutorial done literally: tests/app/gates) with CDK's
own validation on (whatever CDK_VALIDATION says outside): the report is in
OUTDIR/validation-report.json; the synth's failure is expected and not raised.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.pop("CDK_VALIDATION", None)

import aws_cdk as cdk
from constructs import Construct


def acknowledge(scope: Construct, rule: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason="test"))


def build(outdir: str) -> cdk.App:
    app = cdk.App(outdir=outdir, context={"@aws-cdk/core:validateAgainstDefaultRules": True})
    for name, env in (("Broken", cdk.Environment(account="123456789012", region="eu-west-1")),
                      ("Agnostic", None)):
        stack = cdk.Stack(app, name, env=env)
        cdk.CfnParameter(stack, "Unused", type="String", default="x")
        cdk.CfnResource(stack, "Queue", type="AWS::SQS::Queue",
                        properties={"VisibilityTimeout": "abc", "Bogus": 1})
        cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic",
                        properties={"TopicName": {"Ref": "Nope"}})
        vpc = cdk.CfnResource(stack, "Vpc", type="AWS::EC2::VPC",
                              properties={"CidrBlock": "10.0.0.0/16"})
        group = Construct(stack, "Group")
        for index, scope in enumerate((stack, stack, group, group)):
            subnet = cdk.CfnResource(scope, f"Subnet{index}", type="AWS::EC2::Subnet", properties={
                "VpcId": vpc.ref, "CidrBlock": f"10.0.{index}.0/24",
                "AvailabilityZone": f"eu-west-1{'abcd'[index]}"})
            if index == 1:
                acknowledge(subnet, "CloudFormation-Validate::W3010")  # on itself
            if index == 3:
                acknowledge(subnet, "CloudFormation-Validate::W2508")  # another rule
        acknowledge(group, "CloudFormation-Validate::W3010")  # an ancestor of 2 and 3
        cdk.CfnResource(stack, "Ssh", type="AWS::EC2::SecurityGroup", properties={
            "GroupDescription": "x", "SecurityGroupIngress": [{
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}]})
    return app


def bad_tutorial(outdir: str) -> cdk.App:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for `tests`
    from tests.app.gates.bad_tutorial import LAUNCH_TEMPLATE_FLAG, bad_tutorial_stack

    app = cdk.App(outdir=outdir, context={"@aws-cdk/core:validateAgainstDefaultRules": True,
                                          LAUNCH_TEMPLATE_FLAG: False})
    bad_tutorial_stack(app)
    return app


if __name__ == "__main__":
    try:
        (bad_tutorial if sys.argv[2:] == ["bad-tutorial"] else build)(sys.argv[1]).synth()
    except Exception as error:
        if "ValidationFailed" not in str(error) and "Validation failed" not in str(error):
            raise
