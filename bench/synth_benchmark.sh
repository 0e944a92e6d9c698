#!/usr/bin/env bash
# Time `cdk synth` of the Python app (repo root) against the plain-TypeScript mirror (bench/ts-app).
#
# Usage: bench/synth_benchmark.sh [RUNS]        (RUNS timed runs per app, default 5)
#
# One warm-up run per app first (reported separately, not in the statistics), then RUNS timed
# runs per app, interleaved python/typescript so that load changes on a shared machine hit both
# apps alike. Every run writes to its own fresh temp directory (never cdk.out). Prints per-run wall
# seconds and CPU seconds (user+sys of the process tree), the 1-minute load average before each run, the in-app phase timings from
# performance-counters.json, min/median/max per app and the python/typescript ratio of medians,
# and checks that the two templates have the same resource counts by type.
#
# Environment:
#   PY_EXTRA_ARGS  extra `cdk synth` arguments for the Python app only. Default: none, the app as
#                  the committed cdk.json says (image assets built from docker/, as the mirror).
#   EXTRA_ARGS     extra `cdk synth` arguments for both apps, e.g. a CDK switch to measure
#                  (-c @aws-cdk/core:validateAgainstDefaultRules=false). Default: none.
#   CDK_ENV        extra environment for both apps' synths, e.g. "CDK_DISABLE_STACK_TRACE=1".
set -euo pipefail

RUNS="${1:-5}"
if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [RUNS]  (RUNS: a positive integer, default 5)" >&2
  exit 2
fi

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
TS_APP="$BENCH_DIR/ts-app"
CDK="$ROOT/node_modules/.bin/cdk"
export PATH="$ROOT/.venv/bin:$PATH"   # Node 24 (not the system's node 20), python with aws-cdk-lib
export CDK_DISABLE_CLI_TELEMETRY=true
PY_EXTRA_ARGS="${PY_EXTRA_ARGS-}"
read -r -a PY_ARGS <<<"$PY_EXTRA_ARGS"
read -r -a BOTH_ARGS <<<"${EXTRA_ARGS-}"
read -r -a ENV_ARGS <<<"${CDK_ENV-}"
# aws-cdk-lib writes performance-counters.json only when synth takes >= this many ms per stack
# (default 10000); 0 makes it write the in-app phase timings on every run. Both apps get it.
COMMON_ARGS=(-c @aws-cdk/core.slowSynthThreshold=0 ${BOTH_ARGS[@]+"${BOTH_ARGS[@]}"})

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 24 )); then
  echo "node $(node --version) found first on PATH; need Node 24 (expected $ROOT/.venv/bin/node)" >&2
  exit 1
fi
[[ -x "$CDK" ]] || { echo "missing $CDK: run 'npm ci' in $ROOT" >&2; exit 1; }

# TypeScript app dependencies: `npm ci` when node_modules is missing or older than the lock file.
python3 "$BENCH_DIR/ts_app.py" install

WORK="$(mktemp -d "${TMPDIR:-/tmp}/synth-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.tsv"   # app kind wall load1 load construction synthesis validate cpu

# synth APP KIND: one timed `cdk synth` of APP (python|typescript) into a fresh directory.
synth() {
  local app="$1" kind="$2" out dir load1
  out="$(mktemp -d "$WORK/$app.XXXX")"
  if [[ "$app" == python ]]; then dir="$ROOT"; else dir="$TS_APP"; fi
  load1="$(cut -d' ' -f1 /proc/loadavg)"
  local args=(synth -q --no-notices -o "$out" "${COMMON_ARGS[@]}")
  if [[ "$app" == python && ${#PY_ARGS[@]} -gt 0 ]]; then args+=("${PY_ARGS[@]}"); fi
  # %e wall seconds; %U + %S CPU seconds of the whole tree (CLI, python, jsii kernel / node app).
  (cd "$dir" && env ${ENV_ARGS[@]+"${ENV_ARGS[@]}"} /usr/bin/time -o "$WORK/time" -f '%e %U %S' "$CDK" "${args[@]}")
  python3 - "$app" "$kind" "$(cat "$WORK/time")" "$load1" "$out" >>"$RESULTS" <<'EOF'
import json, os, sys
app, kind, times, load1, out = sys.argv[1:]
wall, user, system = (float(x) for x in times.split())
try:
    with open(os.path.join(out, "performance-counters.json")) as f:
        c = json.load(f)["counters"]
    phases = [f"{c.get(k, 0) / 1000:.2f}" for k in
              ("phase:Load", "phase:Construction", "phase:Synthesis", "validateTemplates")]
except (OSError, KeyError, ValueError):
    phases = ["-"] * 4
print("\t".join([app, kind, f"{wall:.2f}", load1, *phases, f"{user + system:.2f}"]))
EOF
  tail -n1 "$RESULTS" | awk -F'\t' '{printf "  %-10s %-7s %6ss wall %6ss cpu  (load1 %s; in-app load %s construct %s synth %s [validate %s])\n", $1, $2, $3, $9, $4, $5, $6, $7, $8}' >&2
  # Keep the newest template of each app for the resource comparison.
  cp "$out/EcsPlayground.template.json" "$WORK/$app.template.json"
  rm -rf "$out"
}

echo "cdk synth benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, node $(node --version)," \
  "cdk CLI $("$CDK" --version 2>/dev/null | cut -d' ' -f1), python $(python3 -c 'import sys; print(sys.version.split()[0])')"
echo "python app: $ROOT (git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- app.py cdk.json ecs_playground || echo ', with uncommitted changes')), extra args: ${PY_EXTRA_ARGS:-none}"
echo "typescript app: $TS_APP (git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- bench/ts-app || echo ', with uncommitted changes'))"
echo "both apps: extra args ${EXTRA_ARGS:-none}, extra environment ${CDK_ENV:-none}"
echo "runs: 1 warm-up + $RUNS timed per app, interleaved"
echo "progress (stderr):" >&2
synth python warmup
synth typescript warmup
for ((i = 1; i <= RUNS; i++)); do
  synth python run
  synth typescript run
done

python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
def med(values):
    values = [float(v) for v in values if v != "-"]
    return f"{statistics.median(values):.2f}" if values else "-"
print()
print(f"{'app':<11}{'warm-up':>8}{'min':>8}{'median':>8}{'max':>8}  {'cpu median':>10}   median in-app s: load / construct / synth (validate)")
medians, cpu = {}, {}
for app in ("python", "typescript"):
    warm = [r for r in rows if r[0] == app and r[1] == "warmup"]
    timed = [r for r in rows if r[0] == app and r[1] == "run"]
    secs = sorted(float(r[2]) for r in timed)
    medians[app] = statistics.median(secs)
    cpu[app] = statistics.median(float(r[8]) for r in timed)
    phases = " / ".join(med([r[k] for r in timed]) for k in (4, 5, 6))
    print(f"{app:<11}{warm[0][2]:>8}{secs[0]:>8.2f}{medians[app]:>8.2f}{secs[-1]:>8.2f}"
          f"  {cpu[app]:>10.2f}   {phases} ({med([r[7] for r in timed])})")
print(f"ratio python/typescript (medians): wall {medians['python'] / medians['typescript']:.2f}, "
      f"cpu {cpu['python'] / cpu['typescript']:.2f}")
loads = [float(r[3]) for r in rows]
print(f"1-min load average before runs: min {min(loads):.2f}, max {max(loads):.2f} (2 cores = 2.00 busy)")
EOF
echo
echo "Resource counts by type (last run of each app):"
python3 "$BENCH_DIR/compare_templates.py" "$WORK/python.template.json" "$WORK/typescript.template.json"
