#!/usr/bin/env bash
# Two builds of the binary, measured in the same run on the same synthetic IR (issue 18: render
# at N = 1,000 must stay within 5% of the build before a change): `render` and `preprocess`,
# runs alternated between the two binaries, medians of RUNS runs, and the ratio after/before.
# The two outputs must be byte-identical.
#
#   bench/compare-render.sh BEFORE_BINARY AFTER_BINARY
#
# RAW=FILE appends every run: command, wall before/after, CPU before/after, RSS KiB before/after.
# Both binaries render the same chart: CHART (default charts/modelops of this checkout; give
# another commit's chart when the chart itself changed between the two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
AFTER=$2
FLOWS=${FLOWS:-1000}
MODELS=${MODELS:-200}
RUNS=${RUNS:-7}
CHART=${CHART:-charts/modelops}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/gen_ir.py "$WORK/ir" --flows "$FLOWS" --models "$MODELS"
ARGS=(--ir "$WORK/ir" --channels examples/channels --globals examples/globals.yaml --chart "$CHART" --job-id bench-1)

median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "IR: $FLOWS flows, $MODELS models; chart $CHART; median of $RUNS alternated runs; $(nproc) cores"
echo "before: $("$BEFORE" --version)"
echo "after:  $("$AFTER" --version)"
echo "load average at the start: $(load)"
# Wall time from bash's microsecond clock (`/usr/bin/time %e` has 10 ms steps: 4% of a render);
# CPU (user + sys) and peak RSS from /usr/bin/time.
for command in preprocess render; do
  for side in before after; do : >"$WORK/$side.t"; : >"$WORK/$side.c"; : >"$WORK/$side.m"; done
  for _ in $(seq "$RUNS"); do
    for side in before after; do
      binary=$BEFORE; [ "$side" = after ] && binary=$AFTER
      start=$EPOCHREALTIME
      /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$binary" "$command" "${ARGS[@]}" >"$WORK/$side.out" 2>/dev/null
      end=$EPOCHREALTIME
      read -r user sys m <"$WORK/time"
      echo "$end - $start" | bc >>"$WORK/$side.t"
      echo "$user + $sys" | bc >>"$WORK/$side.c"
      echo "$m" >>"$WORK/$side.m"
    done
  done
  cmp -s "$WORK/before.out" "$WORK/after.out" || { echo "$command: the outputs differ" >&2; exit 1; }
  tb=$(median <"$WORK/before.t"); ta=$(median <"$WORK/after.t")
  cb=$(median <"$WORK/before.c"); ca=$(median <"$WORK/after.c")
  mb=$(median <"$WORK/before.m"); ma=$(median <"$WORK/after.m")
  printf '%-10s wall %6.3f s -> %6.3f s (ratio %.3f)   CPU %5.2f s -> %5.2f s (ratio %.3f)   peak RSS %5.1f MiB -> %5.1f MiB (ratio %.3f)\n' \
    "$command" "$tb" "$ta" "$(echo "$ta / $tb" | bc -l)" \
    "$cb" "$ca" "$(echo "$ca / $cb" | bc -l)" \
    "$(echo "$mb / 1024" | bc -l)" "$(echo "$ma / 1024" | bc -l)" "$(echo "$ma / $mb" | bc -l)"
  if [ -n "${RAW:-}" ]; then
    paste "$WORK/before.t" "$WORK/after.t" "$WORK/before.c" "$WORK/after.c" "$WORK/before.m" "$WORK/after.m" \
      | sed "s/^/$command /" >>"$RAW"
  fi
done
echo "load average at the end: $(load)"
