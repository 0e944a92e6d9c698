"""`make review`: what a change does to the deployed platform, told offline from two assemblies.

The review synthesizes BASE (a git worktree) and the working tree with the same CDK context, then
compares the assemblies: resources added, changed in place, replaced or removed (with the property
paths that cause it, from the CloudFormation resource provider schemas bundled with cfn-lint),
destructive changes on stateful resources, security changes, the image rollout, the monthly
on-demand cost and a Mermaid diagram. Every module here reads template dicts or assembly folders
only; none imports the CDK app.

Entry points: ``python -m assembly_review --help``,
:func:`assembly_review.cost.monthly_cost_lines` (the synth summary's cost line) and
:func:`assembly_review.diagram.architecture_markdown` (docs/architecture.md).
"""
