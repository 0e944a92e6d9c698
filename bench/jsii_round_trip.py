#!/usr/bin/env python3
"""What one jsii request costs: 2,000 calls each of a few kinds (a property read, a static call,
a struct-heavy `create`, `Metric.with_`, a construct), and per call the CPU milliseconds of the
Python process and of the Node kernel (its processes, from /proc) and the wall milliseconds.

Usage: bench/jsii_round_trip.py [N]     (N calls per kind, default 2000)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
# Before aws_cdk starts the kernel: the checkout's Node 24, as `make synth` runs it.
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"

import aws_cdk as cdk  # noqa: E402
from aws_cdk import aws_cloudwatch as cw  # noqa: E402
from aws_cdk import aws_ec2 as ec2  # noqa: E402
from aws_cdk import aws_elasticloadbalancing as elb  # noqa: E402
from proc_cpu import descendants_cpu  # noqa: E402


def bench(what: str, call: Callable[[], object], n: int) -> None:
    call()
    t0, k0, w0 = os.times(), descendants_cpu(os.getpid()), time.perf_counter()
    for _ in range(n):
        call()
    t1, k1, w1 = os.times(), descendants_cpu(os.getpid()), time.perf_counter()
    python = (t1.user + t1.system - t0.user - t0.system) / n * 1000
    print(f"| {what} | {python:.3f} | {(k1 - k0) / n * 1000:.3f} | {(w1 - w0) / n * 1000:.3f} |")


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 2000
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    vpc = ec2.Vpc(stack, "V", max_azs=1, nat_gateways=0)
    lb = elb.LoadBalancer(stack, "LB", vpc=vpc, internet_facing=True)
    metric = cw.Metric(namespace="A", metric_name="B")
    alarms = iter(range(n + 1))
    print(f"{n} calls per kind; 1-min load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    print("| request | Python CPU ms | kernel CPU ms | wall ms |")
    print("|---|---|---|---|")
    bench("Get (`lb.load_balancer_name`)", lambda: lb.load_balancer_name, n)
    bench("Get (`lb.node`)", lambda: lb.node, n)
    bench("StaticInvoke (`Duration.seconds(5)`)", lambda: cdk.Duration.seconds(5), n)
    bench("Create (`cw.Metric`, dimensions)", lambda: cw.Metric(
        namespace="AWS/ELB", metric_name="Latency", dimensions_map={"LoadBalancerName": "x"},
        statistic="p99"), n)
    bench("Invoke (`metric.with_(label=...)`)", lambda: metric.with_(label="x"), n)
    bench("Create, a construct (`cw.Alarm`)", lambda: cw.Alarm(
        stack, f"A{next(alarms)}", metric=metric, threshold=1, evaluation_periods=1), n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
