"""CDK's own CloudFormation validation, run natively: what aws-cdk-lib's built-in plugin finds
in an assembly, without a synth paying for it.

aws-cdk-lib validates every template it writes with CloudFormation Validate (its built-in
`CloudFormationValidatePlugin`, the npm package `@aws/cloudformation-validate` compiled to
WebAssembly): ~1.5 s of wall and ~2.8 s of CPU at the end of every synth. The same engine is
published for Python (`cloudformation-validate`, native code): building it takes ~0.3 s and a
template ~0.05 s. A synth with `CDK_VALIDATION=false` skips only that built-in plugin (cdk-nag and
other registered plugins still run); :class:`CdkValidation` then finds what it would have found,
with exactly the configuration aws-cdk-lib gives it:

- the engine version aws-cdk-lib bundles (the installed Python package must be that version);
- aws-cdk-lib's default Rego rules, its ignored rule IDs, its exclusion of W3697 for
  AWS::AutoScaling, severity WARN and above, and each stack's account and region;
- every acknowledgment (`Validations.of(scope).acknowledge(...)` of a
  `CloudFormation-Validate::<rule>`) recorded in the stack's metadata, applied as CDK applies
  it: at the violating resource's construct or any ancestor within the stack.

All of it is read from the installed aws-cdk-lib (its package, once per install, kept in a cache
folder). When any of it is not as this module expects (another engine version, the plugin
configured otherwise, the package missing), :meth:`CdkValidation.installed` says why, and the
caller keeps CDK's own validation: never a template less checked.

Its users: `make synth`'s `cfn-validate` gate (ecs_playground_app/cfn_validate_gate.py) and the
head side of `make review`. Both fail on a warning as on an error (CDK fails only on errors and
prints warnings), as cfn-lint's findings do in `make synth`: acknowledge it, with a reason, to
accept it. An acknowledgment on the App or a Stage (outside any stack) is not in the stack's
metadata and so not seen here: acknowledge on the stack or below.

Standard library at import (the engine is imported when first built).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import tarfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar

from .fingerprint import sha256

NAMESPACE = "CloudFormation-Validate"
"""The prefix of this plugin's rule IDs in acknowledgments (CDK's name, spaces as dashes)."""

PLUGIN = "package/core/lib/validation/cloudformation-validate-plugin.js"
RULES = "package/core/lib/validation/rules/"
ENGINE_PACKAGE = "package/node_modules/@aws/cloudformation-validate/package.json"

# What aws-cdk-lib's plugin passes to validateTemplate(), as its compiled source spells it. If a
# new aws-cdk-lib configures the engine otherwise, the gate steps aside (the synth validates).
EXPECTED_CALL = ('{detailLevel:"STANDARD",pseudoParameterOverrides:{accountId,region},'
                 'exclude:{ids:[...IGNORE_RULES],services:[{ruleId:"W3697",'
                 'service:"AWS::AutoScaling"}]},severityLevel:"WARN"}')
EXCLUDED_SERVICES = (("W3697", "AWS::AutoScaling"),)
IGNORED = re.compile(r'const IGNORE_RULES=new Set\((\[[^\]]*\])\)')


@dataclass(frozen=True)
class CdkValidationConfig:
    """How the installed aws-cdk-lib configures CloudFormation Validate."""

    engine_version: str
    """The version of @aws/cloudformation-validate that aws-cdk-lib bundles."""
    rules: Mapping[str, str]
    """Its default Rego rules: file name -> text."""
    ignored: tuple[str, ...]
    """Rule IDs it never reports."""

    def as_json(self) -> dict[str, Any]:
        return {"engine": self.engine_version, "rules": dict(self.rules),
                "ignored": list(self.ignored)}


def cdk_library_package() -> Path | None:
    """aws-cdk-lib's package as the Python bindings ship it (aws_cdk/_jsii/*.jsii.tgz), found
    without importing aws_cdk (which would start Node)."""
    spec = importlib.util.find_spec("aws_cdk")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder, "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
        if found:
            return found[-1]
    return None


def read_cdk_config(package: Path) -> CdkValidationConfig:
    """Read the plugin's configuration out of aws-cdk-lib's package (one pass over the tarball,
    ~0.5 s). ValueError when it is not configured the way this gate mirrors."""
    rules: dict[str, str] = {}
    plugin = engine = None
    with tarfile.open(package) as archive:
        for member in archive:
            if member.name == PLUGIN or member.name == ENGINE_PACKAGE or (
                    member.name.startswith(RULES) and member.name.endswith(".rego")):
                data = archive.extractfile(member)
                text = data.read().decode() if data else ""
                if member.name == PLUGIN:
                    plugin = text
                elif member.name == ENGINE_PACKAGE:
                    engine = json.loads(text)["version"]
                else:
                    rules[member.name.rsplit("/", 1)[1]] = text
    if plugin is None or engine is None:
        raise ValueError(f"{package.name} has no CloudFormation Validate plugin")
    ignored = IGNORED.search(plugin)
    if EXPECTED_CALL not in plugin or ignored is None:
        raise ValueError(f"{package.name} configures CloudFormation Validate otherwise than "
                         "this gate mirrors (ecs_playground_app/cfn_validate_gate.py)")
    return CdkValidationConfig(engine, dict(sorted(rules.items())),
                               tuple(json.loads(ignored.group(1))))


def cached_cdk_config(package: Path, cache_dir: Path) -> CdkValidationConfig:
    """read_cdk_config, remembered in *cache_dir* (and in this process) for this exact package
    file (path, size, mtime): read once per install of aws-cdk-lib."""
    status = package.stat()
    key = sha256(f"{package.resolve()}|{status.st_size}|{status.st_mtime_ns}".encode())[:32]
    path = cache_dir / f"{key}.json"
    try:
        stored = json.loads(path.read_text())
        return CdkValidationConfig(stored["engine"], stored["rules"], tuple(stored["ignored"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    config = _read_once(package, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(config.as_json(), sort_keys=True))
    partial.replace(path)
    return config


@functools.lru_cache(maxsize=4)
def _read_once(package: Path, key: str) -> CdkValidationConfig:
    """read_cdk_config per package file (*key*: its path, size and mtime) and process."""
    return read_cdk_config(package)


@dataclass(frozen=True)
class StackContext:
    """What, besides the template, decides the verdict on it: from the assembly's manifest."""

    stack_path: str
    """The stack's construct path, e.g. 'EcsPlayground' (template-level findings land here)."""
    account: str | None
    region: str | None
    logical_ids: Mapping[str, str]
    """Logical ID -> construct path of its resource."""
    acknowledged: Mapping[str, Sequence[str]]
    """'CloudFormation-Validate::<rule>' -> construct paths it is acknowledged at."""

    @classmethod
    def of(cls, artifact: Mapping[str, Any], assembly: Path) -> StackContext:
        """From a stack artifact of manifest.json (its metadata inline and in its file)."""
        environment = str(artifact.get("environment", "aws://unknown-account/unknown-region"))
        account, _, region = environment.removeprefix("aws://").partition("/")
        metadata: dict[str, list[Mapping[str, Any]]] = {}
        for source in (artifact.get("metadata") or {},
                       _read_json(assembly / artifact["additionalMetadataFile"])
                       if artifact.get("additionalMetadataFile") else {}):
            for path, entries in source.items():
                metadata.setdefault(path.lstrip("/"), []).extend(entries)
        logical_ids: dict[str, str] = {}
        acknowledged: dict[str, list[str]] = {}
        for path, entries in metadata.items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:logicalId":
                    logical_ids[str(entry.get("data"))] = path
                elif entry.get("type") == "aws:cdk:acknowledged-rules":
                    for rule in entry.get("data") or {}:
                        if rule.startswith(f"{NAMESPACE}::"):
                            acknowledged.setdefault(rule, []).append(path)
        return cls(str(artifact.get("displayName") or ""),
                   None if account == "unknown-account" else account,
                   None if region == "unknown-region" else region,
                   logical_ids, {rule: sorted(paths) for rule, paths in acknowledged.items()})

    def acknowledgment(self, rule: str, path: str) -> str | None:
        """Where *rule* is acknowledged for a finding at construct *path* (itself or its
        closest ancestor), or None."""
        at = set(self.acknowledged.get(f"{NAMESPACE}::{rule}", ()))
        while True:
            if path in at:
                return path
            if not path:
                return None
            path = path.rpartition("/")[0]

    def fingerprint(self) -> str:
        return json.dumps({"stack": self.stack_path, "account": self.account,
                           "region": self.region, "logical ids": self.logical_ids,
                           "acknowledged": self.acknowledged}, sort_keys=True)

    def digest(self, template: bytes) -> str:
        """The template's bytes in this context: what a verdict depends on besides the engine
        and its configuration."""
        return sha256(template + b"\0" + self.fingerprint().encode())


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Finding:
    """One violation, as CDK's validation report states it."""

    rule: str
    """E.g. 'F3002' (acknowledged as 'CloudFormation-Validate::F3002')."""
    severity: str
    """'error' or 'warning' (CDK's names; FATAL is an error)."""
    message: str
    construct_path: str
    logical_id: str | None
    property_path: str
    suggested_fix: str | None

    def text(self) -> str:
        """As `cdk synth` prints it."""
        where = f"{self.property_path}: " if self.property_path else ""
        logical_id = f" ({self.logical_id})" if self.logical_id else ""
        fix = f"   Suggested fix: {self.suggested_fix}\n" if self.suggested_fix else ""
        return (f"{self.severity.upper()} {where}{self.message} (CloudFormation Validate)\n"
                f"   {self.construct_path}{logical_id}\n{fix}"
                f"   Acknowledge with '{NAMESPACE}::{self.rule}'\n")


class CdkValidation:
    """CloudFormation Validate with aws-cdk-lib's configuration, in this process."""

    SYNTH_ENVIRONMENT: ClassVar[Mapping[str, str]] = {"CDK_VALIDATION": "false"}
    """What a synth runs with when this stands in for its own validation."""

    def __init__(self, config: CdkValidationConfig, engine_version: str) -> None:
        self.config = config
        self.engine_version = engine_version
        self._engine: Any = None
        self._lock = threading.Lock()

    @classmethod
    def installed(cls, cache_dir: Path) -> CdkValidation | str:
        """The validation of the installed aws-cdk-lib (its configuration kept in *cache_dir*),
        or why it cannot stand in for CDK's own (the synth then keeps that)."""
        try:
            engine = version("cloudformation-validate")
        except PackageNotFoundError:
            return "the cloudformation-validate package is not installed (make install)"
        package = cdk_library_package()
        if package is None:
            return "aws-cdk-lib's package (aws_cdk/_jsii/*.jsii.tgz) was not found"
        try:
            config = cached_cdk_config(package, cache_dir)
        except (OSError, ValueError, tarfile.TarError) as error:
            return str(error)
        if config.engine_version != engine:
            return (f"aws-cdk-lib bundles CloudFormation Validate {config.engine_version}, the "
                    f"installed cloudformation-validate is {engine}: pin "
                    f"cloudformation-validate=={config.engine_version} in requirements-dev.txt")
        return cls(config, engine)

    def configuration(self) -> dict[str, Any]:
        """Everything besides the engine's version that decides a verdict."""
        return {**self.config.as_json(),
                "excluded services": [list(s) for s in EXCLUDED_SERVICES],
                "severity": "WARN", "fails on": "warnings and errors not acknowledged"}

    def warm_up(self) -> None:
        """Build the engine in a thread (~0.3 s, native code, no GIL held)."""
        threading.Thread(target=self._ready, daemon=True, name="cdk-validation-engine").start()

    def _ready(self) -> Any:
        with self._lock:
            if self._engine is None:
                import cloudformation_validate as cfv  # type: ignore[import-untyped]

                rules = [cfv.ExternalRuleSource(name=name, content=text)
                         for name, text in self.config.rules.items()]
                self._engine = cfv.CompositeEngine(cfv.CompositeEngineConfig(rego_rules=rules))
            return self._engine

    def findings(self, template: Path, context: StackContext) -> list[Finding]:
        """What CDK's plugin would report on the template and not find acknowledged."""
        from cloudformation_validate import (
            PseudoParameterOverrides,
            RuleFilterConfig,
            ServiceFilter,
            Severity,
            ValidateConfig,
        )
        from cloudformation_validate.diagnostics import (  # type: ignore[import-untyped]
            DetailLevel,
        )

        config = ValidateConfig(
            detail_level=DetailLevel.STANDARD, severity_level=Severity.WARN,
            exclude=RuleFilterConfig(ids=list(self.config.ignored), services=[
                ServiceFilter(rule_id=rule, service=service)
                for rule, service in EXCLUDED_SERVICES]),
            pseudo_parameter_overrides=PseudoParameterOverrides(
                account_id=context.account, region=context.region))
        report = self._ready().validate_template(str(template), config)
        found = []
        for diagnostic in report.diagnostics:
            entity = diagnostic.entity
            logical_id = entity.logical_id if entity is not None and (
                entity.entity_type.name == "RESOURCE") else None
            path = context.logical_ids.get(logical_id, context.stack_path) if logical_id \
                else context.stack_path
            if context.acknowledgment(diagnostic.rule_id, path) is None:
                found.append(Finding(
                    diagnostic.rule_id, "error" if diagnostic.severity.name in ("ERROR", "FATAL")
                    else "warning", diagnostic.message, path, logical_id,
                    (diagnostic.property_path or "").removeprefix("Properties."),
                    diagnostic.suggested_fix))
        return found


def stack_templates(outdir: Path) -> list[tuple[Path, StackContext]]:
    """Each stack template of an assembly (nested assemblies included) with its context."""
    manifest = _read_json(outdir / "manifest.json")
    found = []
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            found.append((outdir / properties["templateFile"], StackContext.of(artifact, outdir)))
        elif artifact.get("type") == "cdk:cloud-assembly":
            found += stack_templates(outdir / properties["directoryName"])
    return found


class ValidatedAssembly:
    """An assembly validated as CDK would, each template's pass remembered in *passes* (a
    folder) under the sha256 of its bytes, its stack's context, the engine's version and
    configuration: what passed before is not validated again, and the engine (0.3-0.4 s to
    build) is built only when something has to be."""

    def __init__(self, validation: CdkValidation, outdir: Path, passes: Path) -> None:
        self.validation = validation
        self.outdir = outdir
        self.passes = passes

    def _pass_file(self, template: Path, context: StackContext) -> Path:
        return self.passes / self._engine_key / f"{context.digest(template.read_bytes())}.json"

    @functools.cached_property
    def _engine_key(self) -> str:
        return sha256(json.dumps({"engine": self.validation.engine_version,
                                  "configuration": self.validation.configuration()},
                                 sort_keys=True).encode())[:32]

    def to_validate(self) -> list[tuple[Path, StackContext]]:
        """The templates (as written now) without a remembered pass."""
        return [(template, context) for template, context in stack_templates(self.outdir)
                if not self._pass_file(template, context).exists()]

    def report(self) -> str:
        """What CDK's own validation would report (empty: nothing), as it prints it; each
        template that passes is remembered."""
        found = []
        for template, context in self.to_validate():
            findings = self.validation.findings(template, context)
            if not findings:
                path = self._pass_file(template, context)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"template": template.name, "passed": True}) + "\n")
            found += findings
        return "".join(finding.text() for finding in found)
