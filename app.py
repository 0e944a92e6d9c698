#!/usr/bin/env python3
"""Composition root: read the configuration from CDK context, build the platform's stacks, and
register the security gates so that `cdk synth` fails on any unacknowledged finding.

A mistake in the configuration is printed as one message listing every problem, and the app
exits with status 1 (no traceback: a traceback means a bug in our code)."""

import sys

import aws_cdk as cdk

from ecs_playground_app import gates
from ecs_playground_app.app import TRACE_SWITCHES, USER_ERRORS, build_platform, synthesize

app = cdk.App(context=TRACE_SWITCHES)
try:
    platform = build_platform(app)
except USER_ERRORS as error:
    print(error, file=sys.stderr)
    sys.exit(1)
gates.register(app, compliance_packs=platform.compliance_packs)
try:
    synthesize(app)  # then CloudFormation's per-stack quotas on the templates
except USER_ERRORS as error:
    print(error, file=sys.stderr)
    sys.exit(1)
