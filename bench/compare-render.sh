#!/usr/bin/env bash
# Two builds of the binary, measured in the same run on the same synthetic IR (issue 18: render
# at N = 1,000 must stay within 5% of the build before a change): `render` and `preprocess`,
# runs alternated between the two binaries, medians of RUNS runs, and the ratio after/before.
# The two outputs must be byte-identical.
#
#   bench/compare-render.sh BEFORE_BINARY AFTER_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
AFTER=$2
FLOWS=${FLOWS:-1000}
MODELS=${MODELS:-200}
RUNS=${RUNS:-7}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/gen_ir.py "$WORK/ir" --flows "$FLOWS" --models "$MODELS"
ARGS=(--ir "$WORK/ir" --channels examples/channels --globals examples/globals.yaml --chart charts/modelops --job-id bench-1)

median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

echo "IR: $FLOWS flows, $MODELS models; median of $RUNS alternated runs; $(nproc) cores"
for command in preprocess render; do
  : >"$WORK/before.t"; : >"$WORK/after.t"; : >"$WORK/before.m"; : >"$WORK/after.m"
  for _ in $(seq "$RUNS"); do
    for side in before after; do
      binary=$BEFORE; [ "$side" = after ] && binary=$AFTER
      /usr/bin/time -f "%e %M" -o "$WORK/time" "$binary" "$command" "${ARGS[@]}" >"$WORK/$side.out" 2>/dev/null
      read -r t m <"$WORK/time"
      echo "$t" >>"$WORK/$side.t"; echo "$m" >>"$WORK/$side.m"
    done
  done
  cmp -s "$WORK/before.out" "$WORK/after.out" || { echo "$command: the outputs differ" >&2; exit 1; }
  tb=$(median <"$WORK/before.t"); ta=$(median <"$WORK/after.t")
  mb=$(median <"$WORK/before.m"); ma=$(median <"$WORK/after.m")
  printf '%-10s wall %6.3f s -> %6.3f s (ratio %.3f)   peak RSS %6.1f MB -> %6.1f MB (ratio %.3f)\n' \
    "$command" "$tb" "$ta" "$(echo "$ta / $tb" | bc -l)" \
    "$(echo "$mb / 1024" | bc -l)" "$(echo "$ma / 1024" | bc -l)" "$(echo "$ma / $mb" | bc -l)"
done
