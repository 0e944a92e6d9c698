#!/usr/bin/env python3
"""Composition root: read the configuration from CDK context, build the platform stack, and
register the security gates so that `cdk synth` fails on any unacknowledged finding."""

import aws_cdk as cdk

from ecs_playground import EcsPlaygroundStack, config, gates

app = cdk.App()
platform = config.load(app.node.get_all_context())
EcsPlaygroundStack(
    app,
    platform.stack_name,
    config=platform,
    description="ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL",
)
gates.register(app, compliance_packs=platform.compliance_packs)
app.synth()
