#!/usr/bin/env python3
"""`make bench-scale`: synthesize generated catalogs of 2, 20, 100 and 200 services with the real
app (`app.py`, gates included, as `cdk synth` runs it) and print per size: wall time, CPU time
(user + system of the process tree: steadier than wall time on a shared machine), peak memory,
stacks, and the resources and bytes of the largest stack, with each time's ratio to the
2-service time of the same run and the per-service slope (least squares).

The catalog comes from `ecs_playground_app.catalog` (data only). Each size runs in a fresh
process (the CDK CLI passes context the same way: CDK_CONTEXT_JSON and CDK_OUTDIR).

Usage: bench/scale_benchmark.py [-c KEY=JSON ...] [SIZES...]     (default 2 20 100 200)
       bench/scale_benchmark.py --profile N [FILE]    (cProfile of one in-process synth: top 25
                                                     by cumulative, 15 by own time; FILE: pstats)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Before anything imports aws_cdk (ecs_playground does): the jsii kernel starts the first `node` on
# PATH, and it must be the checkout's Node 24 (as `make synth` runs it), not the system's.
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"

from ecs_playground_app.catalog import catalog_context  # noqa: E402

MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr); "
           "sys.exit(r.returncode)")


OVERRIDES: dict[str, object] = {}
"""`-c KEY=JSON` context values applied on top of every catalog (e.g. -c
cluster.discoveryNamespace=null: no Cloud Map namespace, so no discovery variables)."""


def context(services: int) -> dict[str, object]:
    base = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**catalog_context(base, services), **OVERRIDES}


def run(services: int) -> dict[str, float]:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{services}-") as out:
        env.update(CDK_CONTEXT_JSON=json.dumps(context(services)), CDK_OUTDIR=out)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "app.py"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{services} services: synth failed:\n{done.stderr[-3000:]}")
        peak, cpu = done.stderr.strip().splitlines()[-1].split()
        peak_kib = int(peak)
        sizes = {f.name: (len(json.loads(f.read_text())["Resources"]), f.stat().st_size)
                 for f in Path(out).glob("*.template.json")}
    largest = max(sizes.values())
    return {"services": services, "wall": wall, "cpu": float(cpu), "peak_mib": peak_kib / 1024,
            "stacks": len(sizes), "resources": largest[0],
            "bytes": max(size for _, size in sizes.values())}


def slope(rows: list[dict[str, float]], key: str) -> tuple[float, float]:
    xs, ys = [r["services"] for r in rows], [r[key] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)
    return b, my - b * mx


def profile(services: int, dump: str | None = None) -> None:
    import cProfile
    import pstats

    import aws_cdk as cdk

    from ecs_playground_app import gates
    from ecs_playground_app.app import build_platform, synthesize

    with tempfile.TemporaryDirectory() as out:
        app = cdk.App(context=context(services), outdir=out)
        profiler = cProfile.Profile()
        profiler.enable()
        build_platform(app)
        gates.register(app)
        synthesize(app)
        profiler.disable()
    if dump:
        profiler.dump_stats(dump)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


def _usage(problem: str) -> int:
    usage = __doc__.split("Usage: ", 1)[1].split('"""', 1)[0].rstrip()
    print(f"scale_benchmark: {problem}\nusage: {usage}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    while argv[:1] == ["-c"]:
        key, _, value = argv[1].partition("=") if len(argv) > 1 else ("", "", "")
        try:
            OVERRIDES[key] = json.loads(value)
        except ValueError:
            return _usage(f"-c takes KEY=JSON, e.g. -c 'db.allocatedStorageGib=20' (got {argv[1:2]})")
        argv = argv[2:]
    if argv[:1] == ["--profile"]:
        if len(argv) < 2 or not argv[1].isdigit():
            return _usage("--profile takes a number of services")
        profile(int(argv[1]), argv[2] if len(argv) > 2 else None)
        return 0
    if not all(a.isdigit() and int(a) > 0 for a in argv):
        return _usage(f"sizes are positive whole numbers of services, got {' '.join(argv)}")
    sizes = [int(a) for a in argv] or [2, 20, 100, 200]
    rows = []
    for n in sizes:
        rows.append(run(n))
        print(f"  {n} services: {rows[-1]['wall']:.1f} s", file=sys.stderr, flush=True)
    base, base_cpu = rows[0]["wall"], rows[0]["cpu"]
    print("| services | synth wall s | x 2-service | CPU s | x 2-service | peak RSS MiB | stacks "
          "| largest stack: resources | largest template KiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['services']} | {r['wall']:.1f} | {r['wall'] / base:.2f} | "
              f"{r['cpu']:.1f} | {r['cpu'] / base_cpu:.2f} | "
              f"{r['peak_mib']:.0f} | {r['stacks']} | {r['resources']} | "
              f"{r['bytes'] / 1024:.0f} |")
    if len(rows) > 1:
        b, a = slope(rows, "wall")
        cb, ca = slope(rows, "cpu")
        print(f"\nlinear fit: wall {a:.1f} s + {b * 1000:.0f} ms per service; "
              f"CPU {ca:.1f} s + {cb * 1000:.0f} ms per service")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
