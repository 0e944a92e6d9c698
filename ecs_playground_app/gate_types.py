"""What `make synth`'s gates (synth_gates.py) scan and answer: a template, a verdict, a gate.

Standard library only: `make synth` imports this without the CDK (see light.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from assembly_review.fingerprint import sha256

from .gate_cache import GateIdentity

if TYPE_CHECKING:
    from assembly_review.cdk_validation import StackContext


@dataclass(frozen=True)
class Template:
    """One template of the assembly, as read at one moment."""

    name: str
    """Its path relative to the assembly, e.g. 'EcsPlayground.template.json'."""
    data: bytes
    stack: StackContext | None = None
    """Its stack's environment and metadata (acknowledgments), from the manifest."""

    @property
    def sha256(self) -> str:
        """The hex sha256 of its bytes."""
        return sha256(self.data)


@dataclass(frozen=True)
class Verdict:
    """A scanner's verdict on one template."""

    passed: bool
    output: str = ""
    """What the scanner printed about this template (on a failure)."""


class Gate(Protocol):
    """A template scanner. (Subclass it for the defaults of `digest` and `synth_environment`.)"""

    synth_environment: ClassVar[Mapping[str, str]] = {}
    """Variables the synth runs with when this gate is used (e.g. what it takes over)."""

    identity: GateIdentity
    """Name, version and configuration: with the template's digest, the cache key."""

    def digest(self, template: Template) -> str:
        """What the verdict depends on besides the identity: the template's bytes (a gate
        that reads more of the assembly hashes that in too)."""
        return template.sha256

    def start(self) -> None:
        """Get ready before any template exists (imports, a process): the synth keeps about
        one core busy until it writes the templates, and the start-up fits beside it."""

    def check(self, files: Mapping[str, Path]) -> dict[str, Verdict]:
        """Scan the files ({digest: path}) in one run; a verdict for every digest."""

    def stop(self) -> None:
        """Abandon a running scan (the synth failed), or the start-up nothing needed."""
