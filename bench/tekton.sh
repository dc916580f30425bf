#!/usr/bin/env bash
# Tekton's overhead (issue 16): wall time of a PipelineRun of the shipped Pipeline running the
# batch example (examples/batch-fraud, from a ConfigMap workspace, started with `tkn pipeline
# start`, TaskRun pods on real-0) against the same three commands (install, wait, finally) run
# directly with the same static binary the executor image holds, in the same run, alternating;
# and the executor containers' peak memory (the kernel's high-water mark of each step
# container's memory cgroup on real-0), next to the direct commands' peak RSS.
#
#   bench/tekton.sh            RUNS=3 by default; needs `scripts/testcluster.sh tekton`
#
# The job's scoring pods run on the kwok nodes in both cases (docs/tekton.md "Tests"), so the
# difference is Tekton: pod start-up on a real node, result and status propagation, finally.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
STATE=${MODELOPS_TESTCLUSTER_DIR:-${MODELOPS_TESTCLUSTER_CACHE:-$HOME/.cache/modelops-testcluster}/run}
export KUBECONFIG="$STATE/kubeconfig"
[ -f "$STATE/tekton/bindir" ] || { echo "bench/tekton.sh: no Tekton on the cluster in $STATE (scripts/testcluster.sh tekton)" >&2; exit 1; }
TKN="$(cat "$STATE/tekton/bindir")/tkn"
BIN="$(cat "${MODELOPS_STATIC_TARGET_DIR:-$HOME/.cache/modelops-executor/static-target}/modelops-executor.path")"
WORK=$(mktemp -d)
NS="tk-bench-$RANDOM"
SAMPLER=""
cleanup() {
  [ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

seconds() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

kubectl create namespace "$NS" >/dev/null
kubectl apply -n "$NS" -f tekton/rbac.yaml -f tekton/task-install.yaml -f tekton/task-validate.yaml -f tekton/task-wait.yaml \
  -f tekton/task-finally.yaml -f tekton/pipeline.yaml >/dev/null
kubectl apply -f testcluster/windows-node.yaml >/dev/null
tar -C examples/batch-fraud -czf "$WORK/ir.tar.gz" .
kubectl create configmap scoring-inputs -n "$NS" --from-file=ir.tar.gz="$WORK/ir.tar.gz" \
  --from-file=channels.yaml=examples/channels/registry.yaml --from-file=globals.yaml=examples/globals.yaml >/dev/null
cat > "$WORK/pod-template.yaml" <<'EOF'
nodeSelector: {modelops.io/node: real}
tolerations: [{key: modelops.io/node, operator: Equal, value: real, effect: NoSchedule}]
securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
EOF

# The memory high-water mark of every container cgroup of real-0's pods, sampled every 100 ms
# (a container's cgroup goes when it exits; the mark only grows, so the last sample is the peak
# up to 100 ms before the end).
sample_memory() {
  while :; do
    for f in /sys/fs/cgroup/memory/kubepods/*/pod*/*/memory.max_usage_in_bytes; do
      [ -f "$f" ] && printf '%s %s\n' "$(basename "$(dirname "$f")")" "$(cat "$f" 2>/dev/null)"
    done
    sleep 0.1
  done >> "$WORK/memory"
}
sample_memory &
SAMPLER=$!

direct_once() { # job → "seconds install_kb wait_kb finally_kb"
  local job="$1" t0 t1 cmd rss=()
  t0=$(seconds)
  for cmd in install wait finally; do
    local args=(--job-id "$job" --namespace "$NS" --log-format text)
    [ "$cmd" = install ] && args+=(--ir "$WORK/ir.tar.gz" --channels examples/channels/registry.yaml --globals examples/globals.yaml)
    [ "$cmd" = wait ] && args+=(--timeout 4m)
    /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" "$cmd" "${args[@]}" >/dev/null 2>"$WORK/direct.log" \
      || { cat "$WORK/direct.log" >&2; exit 1; }
    rss+=("$(cat "$WORK/rss")")
  done
  t1=$(seconds)
  echo "$(echo "$t1 - $t0" | bc) ${rss[*]}"
}

tekton_once() { # → "seconds name"
  local t0 t1 name status
  t0=$(seconds)
  name=$("$TKN" pipeline start modelops-scoring -n "$NS" --serviceaccount modelops-executor \
    --pod-template "$WORK/pod-template.yaml" -w name=config,config=scoring-inputs \
    -p ir-url=/workspace/config/ir.tar.gz -p channels=/workspace/config/channels.yaml \
    -p globals=/workspace/config/globals.yaml -p timeout=4m --use-param-defaults -o name)
  name=${name##*/}
  while :; do
    status=$(kubectl get pipelinerun "$name" -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Succeeded")].status}')
    [ "$status" = True ] && break
    [ "$status" = False ] && { kubectl get pipelinerun "$name" -n "$NS" -o yaml >&2; exit 1; }
    sleep 0.2
  done
  t1=$(seconds)
  echo "$(echo "$t1 - $t0" | bc) $name"
}

# Peak memory of the step container of each TaskRun pod of a PipelineRun: "install_kb wait_kb finally_kb".
tekton_memory() { # name
  local task id out=()
  for task in install wait finally; do
    id=$(kubectl get pods -n "$NS" -l "tekton.dev/pipelineRun=$1,tekton.dev/pipelineTask=$task" \
      -o jsonpath='{.items[0].status.containerStatuses[?(@.name=="step-'"$task"'")].containerID}')
    id=${id#containerd://}
    out+=("$(awk -v id="$id" '$1 == id && $2 > m {m = $2} END {printf "%d", m / 1024}' "$WORK/memory")")
  done
  echo "${out[*]}"
}

# One unmeasured run of each first: images, caches and informers warm.
direct_once "warm-direct" >/dev/null
tekton_once >/dev/null
: > "$WORK/direct"; : > "$WORK/tekton"
for i in $(seq "$RUNS"); do
  direct_once "direct-$i" >> "$WORK/direct"
  read -r secs name < <(tekton_once)
  echo "$secs $(tekton_memory "$name") $name" >> "$WORK/tekton"
done

echo "batch example (examples/batch-fraud), $RUNS runs each, alternating; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "direct (install, wait, finally with $BIN):"
awk '{printf "  %.1f s   peak RSS install %d KiB, wait %d KiB, finally %d KiB\n", $1, $2, $3, $4}' "$WORK/direct"
echo "PipelineRun (tkn pipeline start until Succeeded):"
awk '{printf "  %.1f s   peak memory install %d KiB, wait %d KiB, finally %d KiB (%s)\n", $1, $2, $3, $4, $5}' "$WORK/tekton"
d=$(cut -d' ' -f1 "$WORK/direct" | median)
t=$(cut -d' ' -f1 "$WORK/tekton" | median)
echo "median: direct $d s, PipelineRun $t s, ratio $(echo "scale=2; $t / $d" | bc) (Tekton's overhead $(echo "$t - $d" | bc) s)"
