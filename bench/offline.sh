#!/usr/bin/env bash
# Offline benchmark (issue 2): preprocess and render of a synthetic IR with 1,000 flows and 200
# models, release build, median of RUNS runs; prints wall time and peak RSS of each command.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${FLOWS:-1000}
MODELS=${MODELS:-200}
RUNS=${RUNS:-5}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/modelops-executor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/gen_ir.py "$WORK/ir" --flows "$FLOWS" --models "$MODELS"

measure() { # name, command...
  local name=$1; shift
  local times=() rss=()
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>/dev/null
    read -r t m <"$WORK/time"
    times+=("$t"); rss+=("$m")
  done
  local median_t median_m
  median_t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  median_m=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '%-12s wall %6.3f s   peak RSS %6.1f MB   output %s bytes\n' "$name" "$median_t" "$(echo "$median_m / 1024" | bc -l)" "$(wc -c <"$WORK/out")"
}

echo "IR: $FLOWS flows, $MODELS models; median of $RUNS runs; $(nproc) cores"
ARGS=(--ir "$WORK/ir" --channels examples/channels --globals examples/globals.yaml --chart charts/modelops --job-id bench-1)
measure preprocess "$BIN" preprocess "${ARGS[@]}"
measure render "$BIN" render "${ARGS[@]}"
echo "objects rendered: $(grep -c '^kind: ' "$WORK/out")"
