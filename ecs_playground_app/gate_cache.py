"""Passes of the template scanners (cfn-lint, checkov, CloudFormation Validate), remembered per
template, so that `make synth` re-checks only what changed.

A pass is stored under a key made of everything that decides the verdict: the template's sha256,
the scanner's name and version, its configuration (arguments, config files, environment
variables it reads) and the set of packages installed beside it. Any change to one of them is
another key: a stored pass can only ever stand for the exact bytes, scanner and rules that
produced it. Only passes are stored; a failure is re-checked (and fails) every time.

Standard library only: `make synth` imports this without the CDK (see light.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from assembly_review.fingerprint import sha256

SCHEMA = 1
"""Bumped when the meaning of a stored pass changes: every older pass is then ignored."""


@dataclass(frozen=True)
class GateIdentity:
    """What, besides the template, decides a scanner's verdict."""

    name: str
    """'cfn-lint', 'checkov' or 'cfn-validate'."""
    version: str
    configuration: Mapping[str, object]
    """Arguments, config files' hashes, environment variables, installed packages."""

    def key(self, template_sha256: str) -> str:
        """The cache key of this scanner's verdict on a template."""
        material = json.dumps({"schema": SCHEMA, "gate": self.name, "version": self.version,
                               "configuration": self.configuration,
                               "template": template_sha256}, sort_keys=True)
        return sha256(material.encode())


@dataclass(frozen=True)
class StoredPass:
    """A pass read back from the cache."""

    template: str
    """The template's file name when it passed."""
    checked_at: float
    """Epoch seconds."""

    def when(self) -> str:
        """'2026-12-06 06:40 UTC'."""
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.checked_at))


class PassCache:
    """Passes stored as one small JSON file per key under *root* (e.g. .cache/gates)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, gate: GateIdentity, template_sha256: str) -> Path:
        return self.root / gate.name / f"{gate.key(template_sha256)}.json"

    def lookup(self, gate: GateIdentity, template_sha256: str) -> StoredPass | None:
        """The stored pass of this scanner, version and configuration for exactly this
        template, or None."""
        path = self._path(gate, template_sha256)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        # the file name is the key; the record repeats what it stands for, checked again here
        if (record.get("schema") != SCHEMA or record.get("sha256") != template_sha256
                or record.get("gate") != gate.name or record.get("version") != gate.version
                or record.get("verdict") != "pass"):
            return None
        return StoredPass(str(record.get("template", "?")), float(record.get("checked_at", 0)))

    def store_pass(self, gate: GateIdentity, template_sha256: str, template: str) -> None:
        """Remember that this scanner passed this template (written atomically)."""
        path = self._path(gate, template_sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"schema": SCHEMA, "gate": gate.name, "version": gate.version,
                  "sha256": template_sha256, "template": template, "verdict": "pass",
                  "checked_at": time.time()}
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(record, sort_keys=True) + "\n")
        partial.replace(path)
