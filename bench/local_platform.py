"""Benchmark of the local platform (``make local``): how fast it comes up, rolls out and serves.

Each run starts a fresh emulator (a state directory of its own, never the checkout's ``.local``)
and deploys the app of this checkout's ``cdk.json`` from a copy of ``docker/``, then measures:

- seconds from the start of ``cdk deploy`` to every ELB at its desired count InService (and the
  whole ``make local``);
- the rollout of the 4 location tasks after a change in the copy's ``docker/location``, as
  ``make local-rollout`` watches it (``emulator.rollout``): deployment created to COMPLETED, with
  its requests sent and failed and the lowest InService count;
- requests per second through the location ELB: ``--workers`` clients for ``--rps-seconds``;
- the resident memory (RSS) of the task processes.

It prints the median of ``--runs`` runs (default 3) next to each run's figures, the load
average before and after and the CPU seconds, and writes the report to
``bench/results/<UTC timestamp>-local.txt``. It starts emulators: run it alone on the machine
(``flock /tmp/ecs-emulator.lock .venv/bin/python bench/local_platform.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from emulator import driver, process, rollout, traffic  # noqa: E402
from emulator.runtime import pids  # noqa: E402

RESULTS = REPO / "bench" / "results"
CHANGED_SERVICE = "location"


def _copy_app(root: Path) -> Path:
    """The checkout's app with its own copy of ``docker/`` (the rollout changes the copy)."""
    app = root / "app"
    shutil.copytree(REPO / "docker", app / "docker")
    settings = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))
    settings["app"] = f"{sys.executable} {REPO / 'app.py'}"
    settings.setdefault("context", {})["imagesDirectory"] = str(app / "docker")
    (app / "cdk.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return app


def _change(app: Path, run: int) -> None:
    """A change of the location service's application: a field's validation."""
    path = app / "docker" / CHANGED_SERVICE / "service.json"
    definition = json.loads(path.read_text(encoding="utf-8"))
    for item in definition["fields"]:
        if item["name"] == "district":
            item["min_length"] = run + 1
    path.write_text(json.dumps(definition, indent=2) + "\n", encoding="utf-8")


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (``/proc``), MiB."""
    total = 0.0
    for candidate in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{candidate}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [g for c in found for g in _children(c)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _up_to_healthy(options: driver.UpOptions, log: Path) -> dict[str, float]:
    """``make local`` into a fresh emulator; the time from deploy start to every ELB healthy."""
    marks: dict[str, float] = {}
    started = time.monotonic()

    def out(line: str) -> None:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        if line.startswith("==> deploy: cdk deploy"):
            marks["deploy"] = time.monotonic()

    failure: list[BaseException] = []

    def deploy() -> None:
        try:
            driver.up(options, out)
        except BaseException as error:  # reported by the caller
            failure.append(error)

    thread = threading.Thread(target=deploy, daemon=True)
    thread.start()
    healthy = None
    while thread.is_alive() or healthy is None:
        emulator = process.read_state(options.state_dir)
        if healthy is None and "deploy" in marks and emulator is not None:
            try:
                counts = traffic.in_service(emulator.endpoint, options.state_dir)
            except (BotoCoreError, ClientError, httpx.HTTPError):
                counts = {}  # the stack is still being created
            if len(counts) >= 2 and all(n >= d for n, d in counts.values()):
                healthy = time.monotonic()
        if failure:
            raise RuntimeError(f"make local failed: {failure[0]} (log: {log})")
        if not thread.is_alive() and healthy is None and time.monotonic() - started > 600:
            raise RuntimeError(f"the ELBs never became healthy (log: {log})")
        time.sleep(0.2)
    thread.join()
    if failure:
        raise RuntimeError(f"make local failed: {failure[0]} (log: {log})")
    return {
        "deploy start to both ELBs healthy (s)": healthy - marks["deploy"],
        "make local, fresh emulator (s)": time.monotonic() - started,
    }


def one_run(number: int, workers: int, rps_seconds: float, say: Callable[[str], None]
            ) -> dict[str, float]:
    """One fresh emulator: deploy, roll out, load, measure; stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bench-local-"))
    state_dir = root / "state"
    state_dir.mkdir()
    app = _copy_app(root)
    options = driver.UpOptions(app, state_dir, output_dir=root / "cdk.out")
    figures: dict[str, float] = {}
    try:
        figures.update(_up_to_healthy(options, root / "up.log"))
        _change(app, number)
        lines: list[str] = []
        outcome = rollout.watch(options, 300.0, lines.append)
        (root / "rollout.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (location,) = [s for s in outcome.services if s.ref.name == CHANGED_SERVICE]
        if outcome.problems or location.duration is None:
            raise RuntimeError(f"the rollout failed: {outcome.problems} (see {root}/rollout.log)")
        counts = outcome.counts[CHANGED_SERVICE]
        figures["rollout of 4 location tasks (s)"] = location.duration
        figures["rollout: requests sent"] = counts.sent
        figures["rollout: requests failed"] = counts.failed
        figures["rollout: lowest InService (minimum 2)"] = float(location.lowest or 0)
        emulator = process.read_state(state_dir)
        assert emulator is not None
        (target,) = [
            t for t in traffic.targets(emulator.endpoint, state_dir)
            if t.service == CHANGED_SERVICE
        ]
        with traffic.Traffic([target], rps_seconds, workers=workers) as load:
            while load.seconds < rps_seconds:
                time.sleep(0.2)
        sent = load.counts[CHANGED_SERVICE]
        figures[f"requests/s through one ELB ({workers} clients)"] = sent.sent / load.seconds
        figures["load: requests failed"] = sent.failed
        tasks = [r.pid for r in pids.records(state_dir) if pids.alive(r.pid)]
        figures["task processes"] = len(tasks)
        figures["RSS of the task processes (MiB)"] = sum(_rss_mib(pid) for pid in tasks)
        figures["emulator server CPU (s)"] = _cpu_seconds(emulator.pid)
    finally:
        process.stop(state_dir)
        pids.reap(state_dir)
        shutil.rmtree(root, ignore_errors=True)
    for name, value in figures.items():
        say(f"    run {number + 1}: {name}: {value:.1f}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh emulators (default 3)")
    parser.add_argument("--workers", type=int, default=4,
                        help="concurrent clients of the requests/s measure (default 4)")
    parser.add_argument("--rps-seconds", type=float, default=5.0,
                        help="how long the requests/s measure sends (default 5)")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
    report: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        report.append(line)

    load_before = os.getloadavg()
    wall = time.monotonic()
    say(f"# local platform benchmark, {stamp}, {args.runs} runs, {os.cpu_count()} cores")
    say(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    say(f"EMULATOR_TIME_SCALE={os.environ.get('EMULATOR_TIME_SCALE', '0.1 (default)')}")
    runs = [one_run(n, args.workers, args.rps_seconds, say) for n in range(args.runs)]
    cpu = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    say(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say(f"whole benchmark: {time.monotonic() - wall:.0f} s wall, "
        f"{sum(u.ru_utime + u.ru_stime for u in cpu):.0f} s CPU of this process and the CLI "
        "runs it waited for (the emulator servers' CPU is listed per run)")
    say("median of the runs (min - max):")
    for name in runs[0]:
        values = [r[name] for r in runs]
        say(f"    {name}: {statistics.median(values):.1f} ({min(values):.1f} - {max(values):.1f})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{stamp}-local.txt"
    path.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"written: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
