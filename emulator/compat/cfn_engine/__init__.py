"""Fixes to moto 5.2.5's CloudFormation engine (not tied to one resource type), one module per
area; :func:`apply` installs them all.

- :mod:`.template_url`: a template URL on a loopback host is path-style S3; a JSON body is
  parsed as JSON.
- :mod:`.execution`: change sets found within their stack and executed with exports, events and
  failures; :mod:`.rollback` finishes those whose resources stabilize in the background.
- :mod:`.intrinsics`: ``Fn::GetStackOutput`` and dynamic references resolved.
- :mod:`.updates`: stack updates in dependency order, false changes left out.
- :mod:`.deletion`: deletion policies, dependants first, a stack deletion that can fail.
- :mod:`.stacks`: what they share (resource events, stack lookup, after-change hooks);
  :mod:`.graph`: the template's dependency graph.

Imports run one way: ``execution`` -> ``rollback`` -> ``updates`` -> ``deletion`` -> ``graph``,
``stacks``.
"""

from __future__ import annotations

from emulator.compat.cfn_engine import (
    deletion,
    execution,
    intrinsics,
    stacks,
    template_url,
    updates,
)
from emulator.compat.cfn_engine.graph import dependencies, dependency_order, references
from emulator.compat.cfn_engine.stacks import AFTER_CHANGE
from emulator.compat.cfn_engine.template_url import is_loopback
from emulator.compat.cfn_engine.updates import changed_properties, resource_diff

_is_loopback = is_loopback  # the name tests/emulator/test_compat.py calls

__all__ = [
    "AFTER_CHANGE",
    "apply",
    "changed_properties",
    "dependencies",
    "dependency_order",
    "is_loopback",
    "references",
    "resource_diff",
]


def apply() -> None:
    """Install every engine fix."""
    for area in (template_url, execution, intrinsics, stacks, updates, deletion):
        area.apply()
