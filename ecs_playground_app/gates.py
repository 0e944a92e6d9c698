"""The security gates every synth runs: cdk-nag's AwsSolutions pack and our own rules.

`register(app)` adds them as CDK validation plugins, so `cdk synth` itself fails on an
unacknowledged finding. `compliance_packs=True` adds cdk-nag's HIPAA Security and NIST 800-53 R5
packs (an audit run: expect findings there, listed in the validation report).
"""

from __future__ import annotations

from aws_cdk import App, IPolicyValidationPlugin, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

from ecs_playground.rules import EcsPlaygroundRules


def register(app: App, *, compliance_packs: bool = False) -> None:
    """Add the gates to an app (call once, before synth)."""
    plugins: list[IPolicyValidationPlugin] = [AwsSolutionsChecks(app), EcsPlaygroundRules()]
    if compliance_packs:
        plugins += [HIPAASecurityChecks(app), NIST80053R5Checks(app)]
    Validations.of(app).add_plugins(*plugins)
