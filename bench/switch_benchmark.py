#!/usr/bin/env python3
"""What CDK's own switches cost on this app: synthesize the default app (cdk.json) or a generated
catalog (`--services N`, as bench/scale_benchmark.py) once per variant per round, variants
interleaved so that load changes hit them alike, and print per variant the median CPU seconds
(user + system of the process tree: the main figure on a shared machine), wall seconds and peak
RSS, and the CPU difference to the baseline.

Each run is `python3 app.py` in a fresh process with the context the CDK CLI gives an app
(cdk.json's, plus the CLI's path metadata, asset metadata, version reporting and bundling keys),
through CDK_CONTEXT_JSON and CDK_OUTDIR, as `cdk synth` runs it (without the CLI's own start-up and
its reading of the assembly, the same for every variant).

Usage: bench/switch_benchmark.py [--services N] [--runs R] [VARIANT ...]   (default: all, R=3)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from scale_benchmark import MEASURE, context  # noqa: E402  (also puts .venv/bin first on PATH)

CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
    "aws:cdk:bundling-stacks": ["**"],
}
"""What the CDK CLI adds to every app's context (`cdk synth` defaults)."""


@dataclass(frozen=True)
class Variant:
    what: str
    context: dict[str, object] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    python_flags: tuple[str, ...] = ()


VARIANTS = {
    "baseline": Variant("the app as committed (app.py's TRACE_SWITCHES, cdk.json's flags)"),
    "manifest-validation-on": Variant(
        "cloud assembly schema validation on (TESTING_CDK=1; off by default since "
        "aws-cdk-cli PR 1135)", env={"TESTING_CDK": "1"}),
    "metadata-collection-off": Variant(
        "@aws-cdk/core:enableAdditionalMetadataCollection false (aws-cdk issue 36669)",
        context={"@aws-cdk/core:enableAdditionalMetadataCollection": False}),
    "metadata-collection-on": Variant(
        "@aws-cdk/core:enableAdditionalMetadataCollection true (aws-cdk issue 36669)",
        context={"@aws-cdk/core:enableAdditionalMetadataCollection": True}),
    "creation-traces-off": Variant(
        "aws:cdk:disable-creation-stack-traces true (construct creation stacks, aws-cdk "
        "issue 8479)", context={"aws:cdk:disable-creation-stack-traces": True}),
    "creation-traces-on": Variant(
        "aws:cdk:disable-creation-stack-traces false (construct creation stacks, aws-cdk "
        "issue 8479)", context={"aws:cdk:disable-creation-stack-traces": False}),
    "annotation-traces-off": Variant(
        "CDK_DISABLE_STACK_TRACE=1 (annotation stack traces, aws-cdk PR 12180)",
        env={"CDK_DISABLE_STACK_TRACE": "1"}),
    "annotation-traces-on": Variant(
        "aws:cdk:disable-stack-trace false (annotation stack traces, aws-cdk PR 12180)",
        context={"aws:cdk:disable-stack-trace": False}),
    "host-traces-on": Variant(
        "JSII_HOST_STACK_TRACES=1 (Python frames sent with every jsii call; off by default)",
        env={"JSII_HOST_STACK_TRACES": "1"}),
    "python-O": Variant(
        "python3 -O: the bindings' runtime type checks (typeguard, `if __debug__`) skipped",
        python_flags=("-O",)),
    "template-validation-off": Variant(
        "@aws-cdk/core:validateAgainstDefaultRules false (a gate: measured, not switched)",
        context={"@aws-cdk/core:validateAgainstDefaultRules": False}),
}


def app_context(services: int | None) -> dict[str, object]:
    if services is None:
        base: dict[str, object] = json.loads((ROOT / "cdk.json").read_text())["context"]
        base["imagesDirectory"] = str(ROOT / str(base["imagesDirectory"]))
    else:
        base = context(services)
    return {**base, **CLI_CONTEXT}


def run(variant: Variant, services: int | None) -> dict[str, float]:
    env = {**os.environ, **variant.env}
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as out:
        env.update(CDK_CONTEXT_JSON=json.dumps({**app_context(services), **variant.context}),
                   CDK_OUTDIR=out)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, sys.executable, *variant.python_flags, "app.py"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{variant.what}: synth failed:\n{done.stderr[-3000:]}")
        peak, cpu = done.stderr.strip().splitlines()[-1].split()
    return {"wall": wall, "cpu": float(cpu), "peak_mib": int(peak) / 1024}


def main(argv: list[str]) -> int:
    services, runs = None, 3
    while argv[:1] in (["--services"], ["--runs"]):
        if argv[0] == "--services":
            services = int(argv[1])
        else:
            runs = int(argv[1])
        argv = argv[2:]
    names = argv or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    if "baseline" not in names:
        names.insert(0, "baseline")
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    loads = []
    for round_ in range(1, runs + 1):
        for name in names:
            loads.append(os.getloadavg()[0])
            results[name].append(run(VARIANTS[name], services))
            r = results[name][-1]
            print(f"  round {round_} {name}: {r['cpu']:.2f} s cpu, {r['wall']:.2f} s wall "
                  f"(load {loads[-1]:.2f})", file=sys.stderr, flush=True)
    app = "default app (cdk.json)" if services is None else f"catalog of {services} services"
    print(f"{app}, {runs} interleaved run(s) per variant; 1-min load average "
          f"{min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} cores")
    base = statistics.median(r["cpu"] for r in results["baseline"])
    print("| variant | CPU s (median) | vs baseline | wall s (median) | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for name in names:
        cpu = statistics.median(r["cpu"] for r in results[name])
        wall = statistics.median(r["wall"] for r in results[name])
        peak = max(r["peak_mib"] for r in results[name])
        print(f"| {name}: {VARIANTS[name].what} | {cpu:.2f} | {(cpu - base) / base:+.1%} | "
              f"{wall:.2f} | {peak:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
