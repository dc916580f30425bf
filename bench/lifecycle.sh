#!/usr/bin/env bash
# Lifecycle benchmark (issue 4): install-to-complete (install, which waits for the scoring
# services, then wait until every flow Job completed) and finally, for a pipeline of FLOWS batch
# flows on the local control plane, with --concurrency 1 versus the default. Median of RUNS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${FLOWS:-200}
MODELS=${MODELS:-20}
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/modelops-executor"
scripts/testcluster.sh up >&2
KUBECONFIG="$(scripts/testcluster.sh kubeconfig)"
export KUBECONFIG
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 bench/gen_ir.py "$WORK/ir" --flows "$FLOWS" --models "$MODELS" --no-windows

seconds() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_once() { # concurrency → "install_s finally_s"
  local concurrency=$1 job="bench-$1-$RANDOM" ns="bench-$1-$RANDOM"
  local t0 t1 t2
  t0=$(seconds)
  "$BIN" -q install --ir "$WORK/ir" --channels examples/channels --namespace "$ns" --create-namespace \
    --job-id "$job" --concurrency "$concurrency" --timeout 10m >/dev/null
  "$BIN" -q wait --job-id "$job" --namespace "$ns" --timeout 10m
  t1=$(seconds)
  "$BIN" -q finally --job-id "$job" --namespace "$ns" --timeout 10m
  t2=$(seconds)
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc)"
}

echo "pipeline: $FLOWS batch flows, $MODELS models; median of $RUNS runs; $(nproc) cores"
for concurrency in 1 16; do
  : >"$WORK/runs"
  for _ in $(seq "$RUNS"); do run_once "$concurrency" >>"$WORK/runs"; done
  install=$(cut -d' ' -f1 "$WORK/runs" | median)
  finally=$(cut -d' ' -f2 "$WORK/runs" | median)
  echo "$concurrency $install $finally" >>"$WORK/summary"
  printf 'concurrency %-3s install-to-complete %7.2f s   finally %7.2f s\n' "$concurrency" "$install" "$finally"
done
read -r _ i1 f1 < <(sed -n 1p "$WORK/summary")
read -r _ i16 f16 < <(sed -n 2p "$WORK/summary")
printf 'speed-up of the default concurrency: install %.1fx, finally %.1fx\n' "$(echo "$i1 / $i16" | bc -l)" "$(echo "$f1 / $f16" | bc -l)"
