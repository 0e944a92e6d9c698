#!/usr/bin/env python3
"""Composition root: read the configuration from CDK context, build the platform stack."""

import aws_cdk as cdk

from ecs_playground import EcsPlaygroundStack, config

app = cdk.App()
platform = config.load(app.node.get_all_context())
EcsPlaygroundStack(
    app,
    platform.stack_name,
    config=platform,
    description="ecs-playground: ECS on EC2 behind classic ELBs with RDS MySQL",
)
app.synth()
