"""`make synth`'s scanners (ecs_playground_app/synth_gates.py): they start while the synth
runs, at the same time, and a remembered pass is reused only for the same template bytes, scanner
version and configuration; a failure is never remembered.

Most tests drive the orchestration with a stand-in synth (a process that writes an assembly) and
stand-in scanners that record what they were asked, so they take a second; the last ones run the
real cfn-lint and checkov, and the real `make synth`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from ecs_playground_app import synth_gates as synth_gates_module
from ecs_playground_app.gate_cache import GateIdentity, PassCache
from ecs_playground_app.gate_types import Gate
from ecs_playground_app.synth_gates import CfnLint, Checkov, Verdict, run, scans_expected
from tests.conftest import ROOT
from tests.test_make import project_copy

from .conftest import CHECKOV, Scans

GOOD = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}, indent=1)

# A stand-in for `cdk synth`: writes the template(s) and the manifest, then "validates" for a
# while (as the CDK's validation plugins do after writing), optionally rewrites a template, exits.
SYNTH = """
import json, os, pathlib, sys, time
out = pathlib.Path(sys.argv[1]); spec = json.loads(sys.argv[2])
if "environment_to" in spec:
    pathlib.Path(spec["environment_to"]).write_text(os.environ.get("CDK_VALIDATION", "<unset>"))
out.mkdir(parents=True, exist_ok=True)
for name, text in spec["templates"].items():
    (out / name).write_text(text)
(out / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": {
    name.split(".")[0]: {"type": "aws:cloudformation:stack", "properties": {"templateFile": name}}
    for name in spec["templates"]}}))
time.sleep(spec.get("validate_seconds", 0))
for name, text in spec.get("rewrite", {}).items():
    (out / name).write_text(text)
pathlib.Path(spec["ended"]).write_text(str(time.time()))
sys.exit(spec.get("exit", 0))
"""


class StandIn(Gate):
    """A scanner that records each run (which template bytes, when) and fails the templates
    that contain *fails_on*."""

    def __init__(self, name: str, version: str = "1.0", config: str = "default",
                 seconds: float = 0.0, fails_on: str | None = None) -> None:
        self.identity = GateIdentity(name, version, {"rules": config})
        self.seconds = seconds
        self.fails_on = fails_on
        self.runs: list[tuple[float, float, list[str]]] = []
        self.started: float | None = None
        self.stopped = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = time.time()

    def check(self, files: Mapping[str, Path]) -> dict[str, Verdict]:
        started = time.time()
        time.sleep(self.seconds)
        texts = [path.read_text() for path in files.values()]
        with self._lock:
            self.runs.append((started, time.time(), texts))
        return {digest: Verdict(self.fails_on is None or self.fails_on not in path.read_text(),
                                f"{self.identity.name}: X001 bad thing in {path.name}")
                for digest, path in files.items()}

    def stop(self) -> None:
        self.stopped = True

    @property
    def checked(self) -> list[str]:
        return [text for _s, _e, texts in self.runs for text in texts]


def synth_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str], gates: list[StandIn],
                templates: Mapping[str, str] | None = None,
                summarize: Callable[[Path], str] = lambda _: "SUMMARY", start_early: bool = True,
                **spec: object) -> tuple[int, str, float]:
    """One `make synth` with the stand-ins: (exit status, output, when the synth ended)."""
    ended = tmp_path / "synth-ended"
    spec = {"templates": templates or {"App.template.json": GOOD}, "ended": str(ended), **spec}
    command = [sys.executable, "-c", SYNTH, str(tmp_path / "cdk.out"), json.dumps(spec)]
    status = run(command, tmp_path / "cdk.out", gates, tmp_path / "cache", summarize,
                 start_early=start_early)
    out, err = capsys.readouterr()
    return status, out + err, float(ended.read_text()) if ended.exists() else 0.0


def test_a_pass_is_reused_only_for_the_same_template_version_and_configuration(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given a template both scanners passed once
    status, output, _ = synth_gates(tmp_path, capsys, [StandIn("lint"), StandIn("scan")])
    assert status == 0 and "2 checked now, 0 reused" in output, output

    # when the same template is synthesized again
    lint, scan = StandIn("lint"), StandIn("scan")
    status, output, _ = synth_gates(tmp_path, capsys, [lint, scan])
    # then neither scanner runs, and the output says what was reused and why it may be
    assert status == 0 and lint.runs == [] and scan.runs == [], output
    assert "gate lint         pass App.template.json" in output and "reused (passed 20" in output
    assert "0 checked now, 2 reused" in output and "SUMMARY" in output, output

    # when a scanner's version or configuration changes, it scans again (the other reuses)
    for changed in (StandIn("lint", version="1.1"), StandIn("lint", config="a new rule file")):
        other = StandIn("scan")
        status, output, _ = synth_gates(tmp_path, capsys, [changed, other])
        assert status == 0 and changed.checked == [GOOD] and other.runs == [], output
        assert "1 checked now, 1 reused" in output, output


def test_the_synth_leaves_to_the_gates_what_they_take_over(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_VALIDATION", raising=False)

    class TakingOver(StandIn):
        synth_environment: ClassVar[Mapping[str, str]] = {"CDK_VALIDATION": "false"}

    seen = tmp_path / "synth-environment"
    for gates, expected in (([StandIn("cfn-lint")], "<unset>"),
                            ([StandIn("cfn-lint"), TakingOver("cfn-validate")], "false")):
        status, out, _ = synth_gates(tmp_path, capsys, gates, environment_to=str(seen))
        assert status == 0, out
        assert seen.read_text() == expected, [g.identity.name for g in gates]
    assert os.environ.get("CDK_VALIDATION") is None  # the synth's own, not this process's


@pytest.mark.parametrize("available", [True, False])
def test_make_synth_uses_cdks_validation_as_a_gate_or_says_why_the_synth_keeps_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        available: bool) -> None:
    # given make synth's entry point, with stand-ins for the synth, cfn-lint and checkov
    monkeypatch.delenv("CDK_VALIDATION", raising=False)
    monkeypatch.setattr(synth_gates_module, "CfnLint", lambda: StandIn("cfn-lint"))
    monkeypatch.setattr(synth_gates_module, "Checkov", lambda _path: StandIn("checkov"))
    if not available:
        monkeypatch.setattr(synth_gates_module.CfnValidate, "installed",
                            classmethod(lambda cls, cache: "another engine version"))
    seen = tmp_path / "synth-environment"
    spec = {"templates": {"App.template.json": GOOD}, "ended": str(tmp_path / "ended"),
            "environment_to": str(seen)}
    status = synth_gates_module.main([
        "--outdir", str(tmp_path / "cdk.out"), "--cache", str(tmp_path / "cache" / "gates"),
        "--checkov", "checkov", "--", sys.executable, "-c", SYNTH, str(tmp_path / "cdk.out"),
        json.dumps(spec)])
    out = capsys.readouterr().out
    assert status == 0, out
    if available:  # the synth leaves the validation to the gate, which checks the template
        assert seen.read_text() == "false"
        assert "gate cfn-validate pass App.template.json" in out, out
    else:  # the synth keeps CDK's own, and the output says why
        assert seen.read_text() == "<unset>"
        assert ("gates: cfn-validate unavailable (another engine version): the synth keeps "
                "CDK's own CloudFormation validation") in out, out
        assert "gate cfn-validate" not in out, out


def test_a_changed_template_is_scanned_again(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    synth_gates(tmp_path, capsys, [StandIn("lint")])
    # given one byte more in the template
    changed = GOOD + " "
    lint = StandIn("lint")
    status, output, _ = synth_gates(tmp_path, capsys, [lint],
                                    templates={"App.template.json": changed})
    # then it is scanned, and only the changed bytes
    assert status == 0 and lint.checked == [changed], output
    assert "reused" not in output.split("gates:")[0], output


def test_a_failing_scanner_fails_synth_with_its_output_and_is_never_remembered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("Topic", "BadTopic")
    for attempt in range(2):
        # given a scanner that rejects the template (twice: a failure is not remembered)
        lint = StandIn("lint", fails_on="BadTopic")
        status, output, _ = synth_gates(tmp_path, capsys, [lint, StandIn("scan")],
                                        templates={"App.template.json": bad})
        # then make synth fails with the scanner's own words and prints no summary
        assert status == 1, (attempt, output)
        assert lint.checked == [bad], (attempt, output)
        assert "lint FAILED on" in output and "X001 bad thing in App.template.json" in output
        assert "SUMMARY" not in output
    stored = list((tmp_path / "cache").glob("lint/*.json"))
    assert stored == [], "a failure was remembered as a pass"
    assert list((tmp_path / "cache").glob("scan/*.json")), "the other scanner's pass is kept"


def test_the_scanners_run_at_once_and_while_the_synth_validates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given two scanners of 0.8 s each, and a synth that validates for 1.5 s after writing
    lint, scan = StandIn("lint", seconds=0.8), StandIn("scan", seconds=0.8)
    status, output, synth_ended = synth_gates(tmp_path, capsys, [lint, scan],
                                              validate_seconds=1.5)
    assert status == 0, output
    (lint_start, lint_end, _), = lint.runs
    (scan_start, scan_end, _), = scan.runs
    # then their runs overlap, and both started before the synth ended
    assert lint_start < scan_end and scan_start < lint_end, (lint.runs, scan.runs)
    assert max(lint_start, scan_start) < synth_ended, (lint.runs, scan.runs, synth_ended)
    # and the timings are in the output and in last-run.json
    scans = json.loads((tmp_path / "cache" / "last-run.json").read_text())["scans"]
    assert sorted(s["gate"] for s in scans) == ["lint", "scan"], scans
    assert "gate lint         scanned 1 template(s) from +" in output, output


def test_the_scanners_get_ready_before_the_synth_when_a_scan_is_likely(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given a synth that takes a while before it writes its template
    before = time.time()
    lint = StandIn("lint")
    status, output, _ = synth_gates(tmp_path, capsys, [lint], validate_seconds=0.3)
    # then the scanner was started (its start-up) before it scanned, and stopped at the end
    assert status == 0 and lint.started is not None and lint.runs, output
    assert before <= lint.started < lint.runs[0][0] and lint.stopped, (lint.started, lint.runs)

    # when no scan is expected, nothing starts early, and a template still gets its scan
    again = StandIn("lint", version="2.0")
    status, output, _ = synth_gates(tmp_path, capsys, [again], start_early=False)
    assert status == 0 and again.started is None and again.checked == [GOOD], output


def test_a_scan_is_expected_after_a_change_of_sources_or_command(tmp_path: Path) -> None:
    source = tmp_path / "app" / "stack.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    cache = tmp_path / "cache"
    command = ["cdk", "synth", "--quiet"]
    # no earlier run: expected
    assert scans_expected(command, cache, [source.parent])
    cache.mkdir()
    record = cache / "last-run.json"
    record.write_text(json.dumps({"command": command}))
    # the same command, nothing changed since: not expected
    assert not scans_expected(command, cache, [source.parent, tmp_path / "missing.json"])
    # another command (other context): expected
    assert scans_expected([*command, "-c", "location.desiredCount=3"], cache, [source.parent])
    # a source written after the last run: expected (a file as well as a folder to watch)
    later = record.stat().st_mtime_ns + 1_000_000_000
    os.utime(source, ns=(later, later))
    assert scans_expected(command, cache, [source.parent])
    assert scans_expected(command, cache, [source])
    # an unreadable record: expected
    record.write_text("{")
    assert scans_expected(command, cache, [])


def test_a_template_that_changes_after_the_early_scan_is_scanned_as_it_ends(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given a synth that rewrites its template after writing the manifest (the early scan sees
    # the first bytes, the assembly ends with others)
    final = GOOD.replace("Topic", "BadTopic")
    lint = StandIn("lint", fails_on="BadTopic")
    status, output, _ = synth_gates(tmp_path, capsys, [lint], validate_seconds=0.6,
                                    rewrite={"App.template.json": final})
    # then the final bytes are scanned too, and their failure fails make synth
    assert final in lint.checked, lint.runs
    assert status == 1 and "lint FAILED on" in output, output


def test_a_failing_synth_fails_with_its_status(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, output, _ = synth_gates(tmp_path, capsys, [StandIn("lint")], exit=3)
    assert status == 3 and "SUMMARY" not in output, output


# --- the real scanners ---------------------------------------------------------------------------


@pytest.mark.long
@pytest.mark.slow  # cfn-lint and checkov on real templates
def test_the_real_scanners_pass_the_tutorial_and_reject_the_bad_fixture(
        scans: Scans, tmp_path: Path) -> None:
    (good,) = [t for t in scans.templates["tutorial"] if t.name.endswith(".template.json")][:1]
    (bad,) = scans.templates["bad_tutorial"]
    for gate in (CfnLint(), Checkov(CHECKOV)):
        gate.start()  # as make synth does when a scan is likely: checkov's process waits for it
        verdicts = gate.check({"good": good, "bad": bad})
        assert verdicts["good"].passed, (gate.identity.name, verdicts["good"].output)
        assert not verdicts["bad"].passed, gate.identity.name
        # the failure shows the scanner's own findings
        expected = "W2501" if gate.identity.name == "cfn-lint" else "CKV_AWS_"
        assert expected in verdicts["bad"].output, verdicts["bad"].output[-3000:]


def test_a_started_checkov_no_scan_needed_is_stopped() -> None:
    gate = Checkov(CHECKOV)
    gate.start()
    (process,) = gate.processes
    gate.stop()
    assert process.poll() is not None


def test_a_checkov_that_cannot_start_early_fails_its_scan_with_the_reason(tmp_path: Path) -> None:
    gate = Checkov(CHECKOV)
    gate.executable = tmp_path / "gone" / "bin" / "checkov"  # the virtualenv removed since
    gate.start()  # no early process, and no exception before the synth
    assert gate.processes == []
    template = tmp_path / "App.template.json"
    template.write_text(GOOD)
    with pytest.raises(FileNotFoundError, match="gone"):
        gate.check({"x": template})  # Checks records it as "checkov could not run: ..."


def test_a_scanner_config_file_is_part_of_its_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = CfnLint().identity
    (tmp_path / ".cfnlintrc").write_text("ignore_checks: [W2501]\n")
    after = CfnLint().identity
    assert before.key("x") != after.key("x")
    assert before.version == after.version
    cache = PassCache(tmp_path / "cache")
    cache.store_pass(before, "x", "App.template.json")
    assert cache.lookup(before, "x") is not None and cache.lookup(after, "x") is None


@pytest.mark.long
@pytest.mark.cli
def test_make_synth_scans_every_template_then_reuses_what_passed(tmp_path: Path) -> None:
    # given the project (its .venv linked), synthesized once by `make synth`
    project = project_copy(tmp_path / "project")

    def make_synth() -> str:
        result = subprocess.run(["make", "--no-print-directory", "synth"], cwd=project,
                                capture_output=True, text=True, timeout=900, check=False)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return result.stdout

    first = make_synth()
    templates = sorted(project.glob("cdk.out/*.template.json"))
    assert templates and "reused" not in first.split("gates:")[0], first
    for template in templates:
        for gate in ("cfn-lint", "checkov", "cfn-validate"):
            assert f"gate {gate:<12} pass {template.name}" in first, first
    contents = {t.name: t.read_bytes() for t in templates}

    # when it runs again on the same code
    second = make_synth()
    # then the same templates come out, each gate's pass is reused and said so
    assert {t.name: t.read_bytes() for t in templates} == contents
    assert f"0 checked now, {3 * len(templates)} reused" in second, second
    assert "stack EcsPlayground:" in second, second



@pytest.mark.parametrize("module", ["ecs_playground_app.synth_gates",
                                    "assembly_review"])
def test_make_synth_and_make_review_start_their_tools_without_the_cdk(module: str) -> None:
    # `python -m` would import ecs_playground/__init__.py: every construct, aws_cdk, jsii's Node
    light = ROOT / "ecs_playground_app" / "light.py"
    result = subprocess.run([sys.executable, "-X", "importtime", str(light), module, "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert module.split(".")[0] in imported, sorted(imported)[:20]
    assert not {"aws_cdk", "jsii", "constructs"} & imported
