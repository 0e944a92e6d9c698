"""Which stack each service lives in: a stable assignment (pure, no constructs).

A service's stack is part of its resources' identity: moving a service to another stack makes
CloudFormation delete it in one and create it in the other (a new ELB, a new DNS name). So the
assignment never depends on the other services:

* `<service>.stack` pins it: `platform` (the platform stack itself; the default app's two services,
  so their resources keep the stack and logical IDs they always had) or a service stack number
  `1`..`serviceStacks`;
* otherwise a stable hash of the service's *name* picks one of `serviceStacks` fixed buckets.
  Adding or removing a service moves no other; changing `serviceStacks` moves most of them
  (pin the ones that must stay before you change it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

PLATFORM = "platform"
"""The `<service>.stack` value that keeps a service in the platform stack."""
DEFAULT_SERVICE_STACKS = 24
"""Buckets for a catalog of 200 services at about 20 resources each: 8 services per stack on
average, and the fullest of the 24 stays under 400 resources (checked by the quota check)."""


def bucket_of(name: str, buckets: int) -> int:
    """The service stack (1..buckets) a name hashes to: sha256, so it is the same on every
    machine and Python version (unlike hash())."""
    digest = hashlib.sha256(name.encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % buckets


def stack_key(bucket: int) -> str:
    """'Services07': the suffix of a service stack's name, and its construct ID."""
    return f"Services{bucket:02d}"


def assign(pins: Mapping[str, str | None], buckets: int) -> dict[str, str]:
    """Service name -> PLATFORM or a service stack key, for every service in `pins` (a pin of
    None: hashed). Pins are validated by the configuration."""
    return {
        name: PLATFORM if pin == PLATFORM
        else stack_key(int(pin) if pin is not None else bucket_of(name, buckets))
        for name, pin in pins.items()
    }


def by_stack(assignment: Mapping[str, str]) -> dict[str, list[str]]:
    """Stack key -> its services, in catalog order; stacks sorted (platform first)."""
    stacks: dict[str, list[str]] = {}
    for name, key in assignment.items():
        stacks.setdefault(key, []).append(name)
    return dict(sorted(stacks.items(), key=lambda kv: (kv[0] != PLATFORM, kv[0])))
