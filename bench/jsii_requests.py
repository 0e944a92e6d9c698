#!/usr/bin/env python3
"""Count the jsii requests of one synth and name where in our code each one comes from.

Run it as the app, so that the CLI gives it its context, e.g.:

    node_modules/.bin/cdk synth -q -o /tmp/out --app ".venv/bin/python bench/jsii_requests.py"
    CDK_CONTEXT_JSON=... CDK_OUTDIR=... .venv/bin/python bench/jsii_requests.py   (a catalog)

It wraps the jsii client's one pipe to the Node kernel (`_NodeProcess.send`), runs `app.py`,
and writes a report to $JSII_REQUESTS_REPORT (default: stderr): requests by kind (create, invoke,
get, set, static ..., complete = the answer to a callback into Python), by phase (construction:
until `app.synth()`; synthesis), the top call sites in `app.py`, `ecs_playground/` and
`ecs_playground_app/` (the innermost of our frames and the frame of ours that called it; 'cdk'
when none: CDK's own callbacks; $JSII_REQUESTS_TOP of them, default 60), the top targets
(class for `create`, method or property otherwise), the wall seconds spent in `send` (Python
waiting for Node included) and the CPU seconds of Python and of the Node kernel (from /proc, at
exit). Nothing in the app changes.
"""

from __future__ import annotations

import atexit
import collections
import os
import runpy
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = (str(ROOT / "ecs_playground"), str(ROOT / "app.py"))  # a prefix: ecs_playground_app too

sys.path.insert(0, str(ROOT / "bench"))
from jsii._kernel.providers import process  # noqa: E402
from proc_cpu import descendants_cpu  # noqa: E402

kinds: collections.Counter[str] = collections.Counter()
sites: collections.Counter[tuple[str, str]] = collections.Counter()
targets: collections.Counter[str] = collections.Counter()
phases: collections.Counter[str] = collections.Counter()
seconds = {"send": 0.0}
phase = ["construction"]
kernel_pid: list[int] = []


def _site() -> str:
    """The innermost frame of ours and, after '<', the frame of ours that called it."""
    frame: types.FrameType | None = sys._getframe(2)
    found: list[str] = []
    while frame is not None and len(found) < 2:
        name = frame.f_code.co_filename
        if name.startswith(OURS):
            found.append(f"{Path(name).relative_to(ROOT)}:{frame.f_lineno} "
                         f"{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(found) or "cdk (no frame of ours)"


def _target(request: object) -> str:
    for attribute in ("fqn", "method", "property"):
        value = getattr(request, attribute, None)
        if value:
            return str(value)
    return ""


original_send = process._NodeProcess.send


def send(self, request, response_type):  # type: ignore[no-untyped-def]
    if not kernel_pid and getattr(self, "_process", None) is not None:
        kernel_pid.append(self._process.pid)
    kind = type(request).__name__.removesuffix("Request")
    kinds[kind] += 1
    phases[phase[0]] += 1
    site = _site()
    sites[(phase[0], site)] += 1
    targets[f"{kind} {_target(request)}"] += 1
    start = time.perf_counter()
    try:
        return original_send(self, request, response_type)
    finally:
        seconds["send"] += time.perf_counter() - start


process._NodeProcess.send = send  # type: ignore[method-assign]


def _node_cpu() -> float | None:
    """CPU seconds of the kernel's processes (jsii's `node` starts a second `node`)."""
    return descendants_cpu(os.getpid()) if kernel_pid else None


def report() -> None:
    node = _node_cpu()
    own = os.times()
    lines = [f"jsii requests: {sum(kinds.values())} "
             f"({', '.join(f'{k} {n}' for k, n in kinds.most_common())})",
             f"by phase: {', '.join(f'{k} {n}' for k, n in phases.items())}",
             f"wall seconds in send (incl. waiting for Node): {seconds['send']:.2f}; "
             f"Python CPU {own.user + own.system:.2f} s; Node kernel CPU "
             f"{'n/a' if node is None else f'{node:.2f} s'}",
             "", "top call sites (phase, innermost frame of ours < its caller of ours):"]
    top = int(os.environ.get("JSII_REQUESTS_TOP", "60"))
    lines += [f"{n:7d}  {p:12s} {s}" for (p, s), n in sites.most_common(top)]
    lines += ["", "top targets:"]
    lines += [f"{n:7d}  {t}" for t, n in targets.most_common(top)]
    text = "\n".join(lines) + "\n"
    out = os.environ.get("JSII_REQUESTS_REPORT")
    if out:
        Path(out).write_text(text)
    else:
        sys.stderr.write(text)


import aws_cdk  # noqa: E402

# After the import: jsii stops the kernel at exit, and atexit runs the last registered first.
atexit.register(report)
original_synth = aws_cdk.App.synth


def synth(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    phase[0] = "synthesis"
    return original_synth(self, *args, **kwargs)


aws_cdk.App.synth = synth  # type: ignore[method-assign]

sys.path.insert(0, str(ROOT))
sys.argv = [str(ROOT / "app.py")]
runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
