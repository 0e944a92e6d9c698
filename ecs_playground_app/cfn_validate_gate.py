"""`make synth`'s `cfn-validate` gate: CDK's own CloudFormation validation, run natively
(assembly_review/cdk_validation.py) beside cfn-lint and checkov instead of inside every synth, its
passes remembered per template like theirs.

The synth runs with `CDK_VALIDATION=false` when this gate is used (it removes only aws-cdk-lib's
built-in plugin: cdk-nag and our rules still run inside the synth). A pass depends on the
template's bytes and on its stack's environment and acknowledgments (the digest), the engine's
version and aws-cdk-lib's configuration of it (the identity).

Standard library at import: `make synth` imports this without the CDK (see light.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from assembly_review.cdk_validation import CdkValidation, StackContext

from .gate_cache import GateIdentity
from .gate_types import Gate, Template, Verdict


class CfnValidate(Gate):
    """CloudFormation Validate as aws-cdk-lib configures it, over the templates to check."""

    synth_environment: ClassVar[Mapping[str, str]] = CdkValidation.SYNTH_ENVIRONMENT
    """The synth skips its own run of the same validation: this gate runs it."""

    def __init__(self, validation: CdkValidation) -> None:
        self.validation = validation
        self.identity = GateIdentity("cfn-validate", validation.engine_version,
                                     validation.configuration())
        self._contexts: dict[str, StackContext] = {}

    @classmethod
    def installed(cls, cache_dir: Path) -> CfnValidate | str:
        """The gate for the installed aws-cdk-lib, or why it cannot stand in for CDK's own
        validation (the synth then keeps it)."""
        validation = CdkValidation.installed(cache_dir)
        return validation if isinstance(validation, str) else cls(validation)

    def digest(self, template: Template) -> str:
        """The template's bytes and its stack's context (environment, acknowledgments)."""
        context = template.stack
        if context is None:
            raise ValueError(f"{template.name}: its stack's context was not read")
        digest = context.digest(template.data)
        self._contexts[digest] = context
        return digest

    def start(self) -> None:
        """Build the engine (~0.3 s, in a thread) beside the synth."""
        self.validation.warm_up()

    def check(self, files: Mapping[str, Path]) -> dict[str, Verdict]:
        """Each template as aws-cdk-lib's plugin validates it; what is left after the
        acknowledgments fails, in CDK's words."""
        verdicts = {}
        for digest, path in files.items():
            findings = self.validation.findings(path, self._contexts[digest])
            verdicts[digest] = Verdict(not findings, "".join(f.text() for f in findings))
        return verdicts

    def stop(self) -> None:
        """Nothing to stop: the engine's thread ends with the process."""
