"""`make synth`: the synth, every template through cfn-lint, checkov and CloudFormation
Validate, then the summary.

    python ecs_playground_app/light.py ecs_playground_app.synth_gates \
        --checkov CHECKOV -- node_modules/.bin/cdk synth --quiet

(Through light.py: importing the package would start the CDK's Node runtime, which nothing here
needs.)

cdk-nag and our rules run inside the synth (validation plugins: ``gates.register``); the template
scanners run here, and take no more wall time than they must:

- CDK's own CloudFormation validation (CloudFormation Validate) runs here, natively and with the
  configuration aws-cdk-lib gives it, instead of inside the synth (`CDK_VALIDATION=false` for the
  synth only): cfn_validate_gate.py. When it cannot mirror the installed aws-cdk-lib, the synth
  keeps its own validation and the output says why;
- they start while the synth still runs: the CDK writes the templates and the manifest, then runs
  the validation plugins (seconds); a copy of each template as written is scanned meanwhile;
- when a scan is likely (no earlier run, another command, or a source in --watch changed since),
  they get ready before the synth starts: cfn-lint is imported, checkov's process imports
  checkov and CloudFormation Validate's engine is built, beside the synth's first seconds (its
  CLI, Python and construction keep about one core busy), and waits for the templates;
- the scanners run at the same time (cfn-lint and CloudFormation Validate in this process,
  checkov in its own virtualenv), each over all the templates it has to check in one start-up;
- a scanner's pass is remembered (gate_cache.py) for the template's sha256 (with, for
  CloudFormation Validate, its stack's environment and acknowledgments), the scanner's version
  and its configuration: a template that passed before is not scanned again, and the output says
  so. A failure is never remembered.

Once the synth has succeeded, the final templates are hashed again: each must have a pass, from
the cache or from a scan of exactly those bytes, else it is scanned now. Any failure prints the
scanner's own output and exits 1 (the summary is not printed); a failing synth exits with its
status. `.cache/gates/last-run.json` records when each scan ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from assembly_review.cdk_validation import StackContext
from assembly_review.fingerprint import files_fingerprint, installed_packages

from .cfn_validate_gate import CfnValidate
from .gate_cache import GateIdentity, PassCache
from .gate_types import Gate, Template, Verdict

DEFAULT_CACHE = Path(".cache/gates")


def _home_and_here(names: Sequence[str]) -> list[Path]:
    return [base / name for base in (Path.home(), Path.cwd()) for name in names]


class CfnLint(Gate):
    """cfn-lint, run in this process (its CLI does the same: ConfigMixIn, Runner), so its
    start-up overlaps with the synth and checkov instead of costing a Python start-up."""

    def __init__(self) -> None:
        from importlib.metadata import version

        packages = installed_packages([Path(sysconfig.get_paths()["purelib"])])
        self.identity = GateIdentity("cfn-lint", version("cfn-lint"), {
            "arguments": [], "python": sys.version,
            "config files": files_fingerprint(_home_and_here(
                [".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml"])),
            "packages": packages})

    def start(self) -> None:
        """Import cfn-lint in a thread (about 0.4 s of CPU), while the synth runs."""
        threading.Thread(target=self._import, daemon=True, name="import-cfn-lint").start()

    @staticmethod
    def _import() -> None:
        import cfnlint.config  # type: ignore[import-untyped]
        import cfnlint.runner.cli  # type: ignore[import-untyped]  # noqa: F401

    def check(self, files: Mapping[str, Path]) -> dict[str, Verdict]:
        """cfn-lint over every file at once; matches grouped by file (any match fails, as
        the CLI's exit status does by default)."""
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner.cli import Runner

        config = ConfigMixIn(cli_args=[str(path) for path in files.values()])
        runner = Runner(config)
        matches = list(runner.run())
        verdicts = {}
        for digest, path in files.items():
            mine = sorted((m for m in matches if m.filename == str(path)),
                          key=lambda m: (m.linenumber, m.rule.id))
            output = runner.formatter.print_matches(mine, runner.rules, config) if mine else ""
            verdicts[digest] = Verdict(not mine, output or "")
        return verdicts

    def stop(self) -> None:
        """Nothing to stop: the thread ends with the process."""


class Checkov(Gate):
    """checkov from its own virtualenv, one process over every file it has to check.

    `start()` starts that process before the templates exist: it imports checkov (most of a
    scan's CPU), then waits for its arguments on stdin and runs exactly what the `checkov`
    script runs (`Checkov(argv).run()`); the first scan uses it."""

    ARGUMENTS = ("--compact", "--skip-download", "--framework", "cloudformation")
    # One template is most runs: forking workers to parse it costs more than it saves (0.3 s of
    # 2.9 s here); the checks and their results are the same (222 passed, 14 skipped, compared).
    ENVIRONMENT: ClassVar[dict[str, str]] = {"BC_SKIP_MAPPING": "TRUE",
                                             "CHECKOV_PARALLELIZATION_TYPE": "none"}
    # What the `checkov` script does, its arguments read from stdin (none: nothing to scan).
    STARTED = (
        "import json, sys, warnings\n"
        "from checkov.main import Checkov\n"
        "line = sys.stdin.readline()\n"
        "if not line.strip():\n"
        "    sys.exit(0)\n"
        "sys.argv = [sys.argv[1], *json.loads(line)]\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore', category=SyntaxWarning)\n"
        "    sys.exit(Checkov(argv=sys.argv[1:]).run())\n")

    def __init__(self, executable: Path) -> None:
        self.executable = executable
        venv = executable.parent.parent
        packages = installed_packages(venv.glob("lib/python*/site-packages"))
        version = next((p.split("-", 1)[1] for p in packages if p.startswith("checkov-")), "")
        if not version:
            raise SystemExit(f"synth: checkov is not installed in {venv}: run `make install`")
        read_env = {k: v for k, v in os.environ.items()
                    if k.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_"))}
        self.identity = GateIdentity("checkov", version, {
            "arguments": list(self.ARGUMENTS), "environment": {**read_env, **self.ENVIRONMENT},
            "config files": files_fingerprint(_home_and_here([".checkov.yaml", ".checkov.yml"])),
            "python": files_fingerprint([venv / "pyvenv.cfg"]), "packages": packages})
        self._processes: list[subprocess.Popen[str]] = []
        self._started: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _popen(self, command: Sequence[str], stdin: int | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(command, text=True, stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env={**os.environ, **self.ENVIRONMENT})
        self._processes.append(process)
        return process

    @property
    def processes(self) -> list[subprocess.Popen[str]]:
        """Every checkov process it started."""
        return list(self._processes)

    def start(self) -> None:
        """Start checkov's process; it imports checkov and waits for the first scan. When it
        cannot start, the scan starts checkov as before and reports what is wrong."""
        python = self.executable.parent / "python"
        with self._lock:
            try:
                self._started = self._popen(
                    [str(python), "-c", self.STARTED, str(self.executable)],
                    stdin=subprocess.PIPE)
            except OSError:
                self._started = None

    def _run(self, arguments: Sequence[str]) -> tuple[int, str, str]:
        with self._lock:
            started, self._started = self._started, None
        if started is not None and started.poll() is None:
            out, err = started.communicate(json.dumps(list(arguments)) + "\n")
            return started.returncode, out, err
        process = self._popen([str(self.executable), *arguments])
        out, err = process.communicate()
        return process.returncode, out, err

    def check(self, files: Mapping[str, Path]) -> dict[str, Verdict]:
        """A pass needs checkov's proof that it scanned the file (checks passed or skipped on
        it, no parsing error) and no failed check; a failure shows checkov's own report."""
        listed = [a for path in files.values() for a in ("-f", str(path.resolve()))]
        code, out, err = self._run([*self.ARGUMENTS, "-o", "json", *listed])
        try:
            data = json.loads(out)
        except ValueError:
            data = None
        reports = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        scanned: set[str] = set()
        failed: set[str] = set()
        unparsed: set[str] = set()
        for report in reports:
            results = report.get("results", {})
            for kind, into in (("passed_checks", scanned), ("skipped_checks", scanned),
                               ("failed_checks", failed)):
                into.update(str(Path(c["file_abs_path"]).resolve())
                            for c in results.get(kind, []))
            unparsed.update(str(Path(p).resolve()) for p in results.get("parsing_errors", []))
        verdicts = {}
        for digest, path in files.items():
            where = str(path.resolve())
            if where in scanned and where not in failed and where not in unparsed:
                verdicts[digest] = Verdict(True)
                continue
            # checkov's own words, as `checkov --quiet --compact` prints them
            _, text, problem = self._run(["--quiet", *self.ARGUMENTS, "-f", str(path)])
            why = "" if where in failed else (
                f"checkov did not scan it (exit {code}){': ' + err[-2000:] if err else ''}\n")
            verdicts[digest] = Verdict(False, why + text + problem)
        return verdicts

    def stop(self) -> None:
        """Kill the running checkov processes (the started one, if no scan needed it)."""
        with self._lock:
            self._started = None
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@dataclass
class Scan:
    """One run of one gate over some templates."""

    gate: str
    templates: list[str]
    started: float
    finished: float | None = None
    verdicts: Future[dict[str, Verdict]] = field(default_factory=Future)


class Checks:
    """The scans of one `make synth`: what each gate still has to check, started at once in a
    thread per scan, and what the cache already holds."""

    def __init__(self, gates: Sequence[Gate], cache: PassCache, workdir: Path,
                 clock: Callable[[], float]) -> None:
        self.gates = gates
        self.cache = cache
        self.workdir = workdir
        self.clock = clock
        self.scans: list[Scan] = []
        self._pending: dict[tuple[str, str], Scan] = {}

    def _snapshot(self, template: Template) -> Path:
        """The bytes as read, in a file of their own (the scanners read files; the assembly's
        may change under them)."""
        path = self.workdir / template.sha256[:20] / Path(template.name).name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(template.data)
        return path

    def request(self, templates: Sequence[Template]) -> None:
        """Start a scan, per gate, of the templates it has neither passed before nor is
        scanning now."""
        for gate in self.gates:
            digests = {gate.digest(t): t for t in templates}
            todo = {digest: t for digest, t in digests.items()
                    if (gate.identity.name, digest) not in self._pending
                    and self.cache.lookup(gate.identity, digest) is None}
            if not todo:
                continue
            scan = Scan(gate.identity.name, [t.name for t in todo.values()], self.clock())
            for digest in todo:
                self._pending[(gate.identity.name, digest)] = scan
            files = {digest: self._snapshot(t) for digest, t in todo.items()}
            self.scans.append(scan)
            threading.Thread(target=self._run, args=(gate, scan, files, todo), daemon=True,
                             name=f"scan-{scan.gate}").start()

    def _run(self, gate: Gate, scan: Scan, files: Mapping[str, Path],
             templates: Mapping[str, Template]) -> None:
        try:
            verdicts = gate.check(files)
            for digest, verdict in verdicts.items():
                if verdict.passed:
                    self.cache.store_pass(gate.identity, digest, templates[digest].name)
            scan.finished = self.clock()
            scan.verdicts.set_result(verdicts)
        except BaseException as error:
            scan.finished = self.clock()
            scan.verdicts.set_exception(error)

    def verdicts(self, templates: Sequence[Template]) -> list[tuple[str, Template, str, Verdict]]:
        """(gate, template, how: 'checked' or 'reused ...', verdict) for every gate and
        template; waits for the scans still running."""
        rows = []
        for gate in self.gates:
            name = gate.identity.name
            for template in templates:
                digest = gate.digest(template)
                scan = self._pending.get((name, digest))
                if scan is None:
                    stored = self.cache.lookup(gate.identity, digest)
                    if stored is None:  # not requested: a bug here, never a silent pass
                        raise RuntimeError(f"{name} never checked {template.name}")
                    rows.append((name, template, f"reused (passed {stored.when()})",
                                 Verdict(True)))
                    continue
                try:
                    verdict = scan.verdicts.result()[digest]
                except Exception as error:
                    verdict = Verdict(False, f"{name} could not run: {error!r}\n")
                rows.append((name, template, "checked", verdict))
        return rows

    def stop(self) -> None:
        """Abandon every scan."""
        for gate in self.gates:
            gate.stop()


def read_templates(outdir: Path) -> list[Template] | None:
    """Every stack template the assembly's manifest lists (nested assemblies included), or None
    while the manifest is missing or half written."""
    try:
        manifest = json.loads((outdir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    templates = []
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            path = outdir / properties["templateFile"]
            try:
                stack = StackContext.of(artifact, outdir)
            except (OSError, ValueError):  # its metadata file not (fully) written yet
                return None
            templates.append(Template(str(path.relative_to(outdir)), path.read_bytes(), stack))
        elif artifact.get("type") == "cdk:cloud-assembly":
            nested = read_templates(outdir / properties["directoryName"])
            if nested is None:
                return None
            templates += [Template(f"{properties['directoryName']}/{t.name}", t.data, t.stack)
                          for t in nested]
    return templates


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def _summary(outdir: Path) -> str:
    from .summary import summarize

    return summarize(outdir)


def scans_expected(command: Sequence[str], cache_dir: Path, watched: Sequence[Path]) -> bool:
    """Whether this synth will likely need a scan, so that starting the scanners early pays:
    there is no earlier run, it ran another command (other context), or a watched file changed
    since. A guess about speed only: every template is still checked or found in the cache."""
    record = cache_dir / "last-run.json"
    try:
        since = record.stat().st_mtime_ns
        if json.loads(record.read_text()).get("command") != list(command):
            return True
    except (OSError, ValueError, AttributeError):
        return True
    for top in watched:
        for path in [top, *top.rglob("*")] if top.is_dir() else [top]:
            if "__pycache__" in path.parts:
                continue
            try:
                if path.stat().st_mtime_ns > since:
                    return True
            except OSError:
                continue
    return False


def run(command: Sequence[str], outdir: Path, gates: Sequence[Gate], cache_dir: Path,
        summarize: Callable[[Path], str] = _summary, start_early: bool = True) -> int:
    """The synth, the gates (from the moment the templates are written; started before the
    synth when *start_early*), the summary."""
    started = time.monotonic()

    def clock() -> float:
        return round(time.monotonic() - started, 3)

    workdir = cache_dir / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    checks = Checks(gates, PassCache(cache_dir), workdir, clock)
    if start_early:
        print(f"gates: {', '.join(g.identity.name for g in gates)} start with the synth (a scan "
              "is likely: no earlier run, another command or a changed source)", flush=True)
        for gate in gates:
            gate.start()
    try:
        return _synth_and_check(command, outdir, checks, cache_dir, clock, summarize)
    finally:
        checks.stop()  # what is still running: a start-up no scan needed, or a failed synth's


def _synth_and_check(command: Sequence[str], outdir: Path, checks: Checks, cache_dir: Path,
                     clock: Callable[[], float], summarize: Callable[[Path], str]) -> int:
    old_manifest = _stat(outdir / "manifest.json")
    environment = {k: v for gate in checks.gates for k, v in gate.synth_environment.items()}
    synth = subprocess.Popen(command, env={**os.environ, **environment})
    early = False
    while synth.poll() is None:
        if not early and _stat(outdir / "manifest.json") not in (None, old_manifest):
            try:
                written = read_templates(outdir)
            except OSError:
                written = None
            if written is not None:
                checks.request(written)  # the validation plugins still run in the synth
                early = True
        time.sleep(0.05)
    synth_seconds = clock()
    if synth.returncode != 0:
        return synth.returncode
    final = read_templates(outdir)
    if not final:
        print(f"synth: no stack template in {outdir}/manifest.json", file=sys.stderr)
        return 1
    checks.request(final)
    rows = checks.verdicts(final)
    _report(command, rows, checks.scans, synth_seconds, clock(), cache_dir)
    failures = [(gate, template, verdict) for gate, template, _how, verdict in rows
                if not verdict.passed]
    for gate, template, verdict in failures:
        print(f"\n{gate} FAILED on {outdir / template.name}:\n{verdict.output.rstrip()}")
    if failures:
        print(f"\nsynth: {len(failures)} gate failure(s): nothing was remembered as passed for "
              "them; fix the findings (or acknowledge them with a reason) and run make synth "
              "again", file=sys.stderr)
        return 1
    print(summarize(outdir))
    return 0


def _report(command: Sequence[str], rows: Sequence[tuple[str, Template, str, Verdict]],
            scans: Sequence[Scan], synth: float, total: float, cache_dir: Path) -> None:
    reused = sum(1 for row in rows if row[2] != "checked")
    for gate, template, how, verdict in rows:
        state = "pass" if verdict.passed else "FAIL"
        print(f"gate {gate:<12} {state} {template.name} (sha256 {template.sha256[:12]}): {how}")
    for scan in scans:
        done = f"{scan.finished:.1f}" if scan.finished is not None else "?"
        print(f"gate {scan.gate:<12} scanned {len(scan.templates)} template(s) "
              f"from +{scan.started:.1f} s to +{done} s")
    print(f"gates: {len(rows)} verdicts, {len(rows) - reused} checked now, {reused} reused from "
          f"{cache_dir} (same template sha256, scanner version and configuration); "
          f"the synth took {synth:.1f} s, {total:.1f} s in all")
    (cache_dir / "last-run.json").write_text(json.dumps(
        {"command": list(command), "synth": synth, "total": total,
         "scans": [{"gate": s.gate, "templates": s.templates, "started": s.started,
                    "finished": s.finished} for s in scans],
         "verdicts": [{"gate": g, "template": t.name, "sha256": t.sha256, "how": how,
                       "passed": v.passed} for g, t, how, v in rows]}, indent=1) + "\n")


def main(argv: Sequence[str]) -> int:
    """Entry point: parse the options, build the real gates, run."""
    parser = argparse.ArgumentParser(prog="synth_gates", description=__doc__.split("\n")[0])
    parser.add_argument("--outdir", default="cdk.out", help="where the synth writes its assembly")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where passes are kept")
    parser.add_argument("--checkov", required=True, help="the checkov executable")
    parser.add_argument("--watch", nargs="*", default=[], type=Path, metavar="PATH",
                        help="the app's sources: when none changed since the last run (and the "
                        "command is the same), the scanners start only if a template needs them")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the synth command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the synth command after --")
    cache = Path(args.cache)
    gates: list[Gate] = [CfnLint(), Checkov(Path(args.checkov))]
    # aws-cdk-lib's configuration of the validation: read once per install, not a scan result
    validate = CfnValidate.installed(cache.parent / "cfn-validate-config")
    if isinstance(validate, str):
        print(f"gates: cfn-validate unavailable ({validate}): the synth keeps CDK's own "
              "CloudFormation validation", flush=True)
    else:
        gates.append(validate)
    return run(command, Path(args.outdir), gates, cache,
               start_early=not args.watch or scans_expected(command, cache, args.watch))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
