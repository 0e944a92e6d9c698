#!/usr/bin/env bash
# Time `make synth` (synth + cfn-lint + checkov + cdk-nag + our rules + summary) against a bare
# `cdk synth --quiet` of the same app, in this checkout.
#
# Usage: bench/make_synth_benchmark.sh [RUNS]        (RUNS rounds, default 5)
#
# Each round runs, one after the other (interleaved, so that load changes on a shared machine hit
# every kind alike):
#   bare   node_modules/.bin/cdk --no-notices synth --quiet          (what make synth wraps)
#   cold   make synth, with the scanners' cache (.cache/gates) emptied first
#   warm   make synth again: the same templates, so every scanner pass is reused
# One warm-up round first (reported, not in the statistics). Every run writes cdk.out, as make
# synth does. Per run: wall and CPU seconds (user+sys of the whole process tree, /usr/bin/time)
# and the 1-minute load average before it; then min/median/max per kind, the median CPU and the
# ratios of medians to the bare synth. Each run's templates are hashed: the script exits 1 if
# make synth wrote other bytes than the bare synth. The output also goes to bench/results/.
#
# Environment:
#   MAKEFILE  another Makefile's `synth` to time instead of this checkout's, e.g. main's before a
#             change: git show main:Makefile > /tmp/Makefile.main; MAKEFILE=/tmp/Makefile.main
#             (a Makefile without a cache: its cold and warm runs are the same thing)
#   BEFORE    a second Makefile whose `make synth` is timed in every round too (kind "before"),
#             e.g. main's: git show main:Makefile > /tmp/Makefile.main; BEFORE=/tmp/Makefile.main
#   LABEL     a word added to the results file's name (e.g. before, after)
#   REVIEW=1  also time `make review` in every round: review-cold (its kept BASE assemblies,
#             cdk.review/cache, emptied first: both sides synthesized) and review-warm (again:
#             BASE reused, the head synthesized); their ratios are to make synth cold and warm
set -euo pipefail

RUNS="${1:-5}"
if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [RUNS]  (RUNS: a positive integer, default 5)" >&2
  exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MAKEFILE="${MAKEFILE:-$ROOT/Makefile}"
export PATH="$ROOT/.venv/bin:$PATH" CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true
[[ -x node_modules/.bin/cdk && -f .venv/.installed-stamp ]] || { echo "run make install first" >&2; exit 1; }
make --no-print-directory -s -f "$MAKEFILE" install >/dev/null  # nothing to install in the timings

mkdir -p bench/results
RESULT="bench/results/$(date -u +%Y-%m-%dT%H%MZ)-make-synth${LABEL:+-$LABEL}.txt"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/make-synth-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROWS="$WORK/rows.tsv"   # kind round wall cpu load1 templates-sha

# one KIND ROUND: time it, check it succeeded, hash its templates
one() {
  local kind="$1" round="$2" load1 status=0
  load1="$(cut -d' ' -f1 /proc/loadavg)"
  case "$kind" in
    bare) command=(node_modules/.bin/cdk --no-notices synth --quiet) ;;
    cold) rm -rf .cache/gates; command=(make --no-print-directory -f "$MAKEFILE" synth) ;;
    warm) command=(make --no-print-directory -f "$MAKEFILE" synth) ;;
    before) command=(make --no-print-directory -f "$BEFORE" synth) ;;
    review-cold) rm -rf cdk.review/cache; command=(make --no-print-directory -f "$MAKEFILE" review) ;;
    review-warm) command=(make --no-print-directory -f "$MAKEFILE" review) ;;
  esac
  /usr/bin/time -o "$WORK/time" -f '%e %U %S' "${command[@]}" >"$WORK/$kind.$round.log" 2>&1 || status=$?
  if (( status != 0 )); then
    echo "$kind run $round failed (exit $status):" >&2; tail -n 40 "$WORK/$kind.$round.log" >&2; exit 1
  fi
  read -r wall user sys <"$WORK/time"
  local hash assembly=cdk.out; [[ "$kind" == review-* ]] && assembly=cdk.review/head
  hash="$(cat "$assembly"/*.template.json | sha256sum | cut -c1-12)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$round" "$wall" \
    "$(python3 -c "print(f'{$user + $sys:.2f}')")" "$load1" "$hash" >>"$ROWS"
  printf '  %-11s %-6s %7ss wall %7ss cpu  load1 %-5s templates %s\n' "$kind" "$round" "$wall" \
    "$(python3 -c "print(f'{$user + $sys:.2f}')")" "$load1" "$hash"
}

if {
  echo "# make synth vs bare cdk synth: $RUNS rounds, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# kinds: bare = cdk synth --quiet; cold = make synth, cache emptied; warm = make synth again${BEFORE:+; before = make -f $BEFORE synth}${REVIEW:+; review-cold = make review, kept assemblies removed; review-warm = make review again}"
  echo "# checkout $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' || echo ' (with uncommitted changes)'), Makefile $MAKEFILE, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for round in warmup $(seq 1 "$RUNS"); do
    for kind in bare cold warm ${BEFORE:+before} ${REVIEW:+review-cold review-warm}; do
      one "$kind" "$round"
    done
  done
  python3 - "$ROWS" <<'EOF'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
timed = [r for r in rows if r[1] != "warmup"]
print(f"\nload average (1 min) over the timed runs: {min(float(r[4]) for r in timed):.2f}-"
      f"{max(float(r[4]) for r in timed):.2f}")
medians = {}
kinds = [k for k in ("bare", "cold", "warm", "before", "review-cold", "review-warm")
         if any(r[0] == k for r in timed)]
for kind in kinds:
    walls = [float(r[2]) for r in timed if r[0] == kind]
    cpus = [float(r[3]) for r in timed if r[0] == kind]
    medians[kind] = (statistics.median(walls), statistics.median(cpus))
    print(f"{kind:11} wall median {medians[kind][0]:6.2f} s (min {min(walls):.2f}, max "
          f"{max(walls):.2f})   CPU median {medians[kind][1]:6.2f} s")
bare_wall, bare_cpu = medians["bare"]
for kind in [k for k in kinds[1:] if not k.startswith("review")]:
    wall, cpu = medians[kind]
    print(f"make synth ({kind}) / bare synth: wall {wall / bare_wall:.2f}x, "
          f"CPU {cpu / bare_cpu:.2f}x")
for kind in [k for k in kinds if k.startswith("review")]:
    wall, cpu = medians[kind]
    synth = kind.removeprefix("review-")
    print(f"make review ({synth}) / make synth ({synth}): wall {wall / medians[synth][0]:.2f}x, "
          f"CPU {cpu / medians[synth][1]:.2f}x")
hashes = {r[5] for r in rows}
print("templates: " + ("byte-identical in every run" if len(hashes) == 1 else
                       f"DIFFER between runs: {sorted(hashes)}"))
sys.exit(0 if len(hashes) == 1 else 1)
EOF
} 2>&1 | tee "$RESULT"; then status=0; else status=1; fi
echo "written to $RESULT"
exit "$status"
