#!/usr/bin/env bash
# Scale benchmark (issue 12): render, install, no-op re-install and finally of jobs of N batch flows
# on the local control plane, against the floor measured in the same run: a minimal client-go
# program (testcluster/cmd/applyfloor) that server-side applies the same rendered objects wave by
# wave with the same concurrency. Prints wall, client CPU (user+sys) and peak RSS, per object too,
# and install ÷ floor.
#
#   SIZES="1000 5000 10000 50000" bench/scale.sh
#
# The flows' pods are kept Pending (a nodeSelector no kwok node matches), so the cluster is not
# swamped by running and completing Jobs; the Job controller still creates one pod per flow in the
# background. Each size uses fresh namespaces (ours, then the floor's), deleted afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1000 5000 10000 50000}
MODELS=${MODELS:-20}
CONCURRENCY=${CONCURRENCY:-16}
TIMEOUT=${TIMEOUT:-30m}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}
# BIN=path: measure that binary instead of building the release one (a commit rebuilds it).
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked --quiet
  BIN="$CARGO_TARGET_DIR/release/modelops-executor"
fi
# A 50,000-flow IR is ~21 MB in one file and its flows' template writes ~260 MB, over the default
# limits (hostile-input guards, README "Limits"): a platform running jobs that large raises them
# the same way.
export MODELOPS_MAX_FILE_BYTES=${MODELOPS_MAX_FILE_BYTES:-256Mi}
export MODELOPS_MAX_INPUT_BYTES=${MODELOPS_MAX_INPUT_BYTES:-1Gi}
export MODELOPS_MAX_RENDER_BYTES=${MODELOPS_MAX_RENDER_BYTES:-1Gi}
FLOOR_DIR=${FLOOR_DIR:-$HOME/.cache/modelops-bench/applyfloor}
mkdir -p "$FLOOR_DIR"
# The flags of scripts/testcluster.sh, so the client-go packages it compiled are reused.
(cd testcluster && GOTOOLCHAIN=local CGO_ENABLED=0 go build -buildvcs=false -trimpath -o "$FLOOR_DIR/applyfloor" ./cmd/applyfloor)
FLOOR="$FLOOR_DIR/applyfloor"
scripts/testcluster.sh up >&2
KUBECONFIG="$(scripts/testcluster.sh kubeconfig)"
export KUBECONFIG
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# measure NAME N OBJECTS COMMAND... : runs COMMAND under /usr/bin/time, appends a result line
# "name n objects wall_s cpu_s rss_kib" to $WORK/results.
measure() {
  local name=$1 n=$2 objects=$3
  shift 3
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || {
    echo "FAILED: $name N=$n: $*" >&2
    tail -n 20 "$WORK/err" >&2
    return 1
  }
  read -r wall user sys rss <"$WORK/time"
  echo "$name $n $objects $wall $(echo "$user + $sys" | bc) $rss" | tee -a "$WORK/results" >&2
}

echo "scale: sizes $SIZES; $MODELS models; concurrency $CONCURRENCY; $(nproc) cores; commit $(git rev-parse --short HEAD)"
for n in $SIZES; do
  ir="$WORK/ir-$n"
  python3 bench/gen_ir.py "$ir" --flows "$n" --models "$MODELS" --no-windows --name "s$n"
  job="scale-$n-$RANDOM"
  ours="scale-$n-ours-$RANDOM"
  floor_ns="scale-$n-floor-$RANDOM"
  # Pending flows: the flow pods ask for a node label no kwok node has.
  args=(--ir "$ir" --channels examples/channels --globals examples/globals.yaml
    --set "scoring-flow.nodeSelector.modelops-bench=pending" --job-id "$job")
  measure render "$n" 0 "$BIN" -q render "${args[@]}" --namespace "$ours"
  cp "$WORK/out" "$WORK/objects-$n.yaml"
  objects=$(grep -c '^kind: ' "$WORK/objects-$n.yaml")
  sed -i "\$s/ 0 / $objects /" "$WORK/results"
  measure install "$n" "$objects" "$BIN" -q install "${args[@]}" --namespace "$ours" --create-namespace \
    --concurrency "$CONCURRENCY" --timeout "$TIMEOUT"
  measure reinstall "$n" "$objects" "$BIN" -q install "${args[@]}" --namespace "$ours" \
    --concurrency "$CONCURRENCY" --timeout "$TIMEOUT"
  "$FLOOR" -create-namespace "$floor_ns"
  measure floor "$n" "$objects" "$FLOOR" -f "$WORK/objects-$n.yaml" -namespace "$floor_ns" \
    -concurrency "$CONCURRENCY" -timeout "$TIMEOUT"
  measure finally "$n" "$objects" "$BIN" -q finally --job-id "$job" --namespace "$ours" \
    --concurrency "$CONCURRENCY" --timeout "$TIMEOUT"
  # Untimed: the namespaces go, with the Pending pods the garbage collector has not removed yet.
  "$FLOOR" -delete-namespace "$ours" -timeout "$TIMEOUT"
  "$FLOOR" -delete-namespace "$floor_ns" -timeout "$TIMEOUT"
done

echo
echo "| step | flows | objects | wall s | client CPU s | peak RSS MiB | CPU ms / object | wall ms / object | RSS KiB / object |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
awk '{ per = ($3 > 0 ? $3 : 1);
       printf "| %s | %d | %d | %.2f | %.2f | %.1f | %.3f | %.3f | %.1f |\n",
         $1, $2, $3, $4, $5, $6 / 1024, 1000 * $5 / per, 1000 * $4 / per, $6 / per }' "$WORK/results"
echo
echo "| flows | objects | install s | floor s | install ÷ floor (goal ≤ 1.25) |"
echo "|---:|---:|---:|---:|---:|"
awk '$1 == "install" { install[$2] = $4; objects[$2] = $3 } $1 == "floor" { floor[$2] = $4 }
     END { for (n in install) printf "| %d | %d | %.2f | %.2f | %.2f |\n", n, objects[n], install[n], floor[n], install[n] / floor[n] }' \
  "$WORK/results" | sort -t'|' -k2 -n
