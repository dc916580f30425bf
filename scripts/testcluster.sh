#!/usr/bin/env bash
# Local Kubernetes control plane for integration tests (issue 3, docs/testcluster.md).
#
#   scripts/testcluster.sh build     build (or reuse) the binaries (with MODELOPS_TESTCLUSTER_REAL_NODE=1
#                                    the real node's too); prints the bin directory
#   scripts/testcluster.sh up        build if needed, start etcd, kube-apiserver,
#                                    kube-controller-manager, kube-scheduler and kwok, create
#                                    the fake nodes, wait until everything is ready
#   scripts/testcluster.sh down      stop exactly the processes `up` started, remove the data
#   scripts/testcluster.sh status    processes, server version, readiness, nodes
#   scripts/testcluster.sh env       print `export KUBECONFIG=...` (and MODELOPS_TEST_KUBECONFIG)
#   scripts/testcluster.sh logs      print the component logs (last $MODELOPS_TESTCLUSTER_LOG_LINES
#                                    lines each, default 200; 0 = whole files)
#   scripts/testcluster.sh kubeconfig  print the kubeconfig path
#   scripts/testcluster.sh apply FILE...  server-side apply YAML files to the running cluster
#   scripts/testcluster.sh artifact-store  start (if needed) the S3-compatible store of the tests and
#                                    print export lines (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
#                                    AWS_SECRET_ACCESS_KEY, AWS_REGION, MODELOPS_TEST_BUCKET);
#                                    scripts/artifact-stores.sh starts the others
#   scripts/testcluster.sh tekton    build (or reuse) and start Tekton Pipelines (controller, webhook,
#                                    TaskRun images on real-0) and tkn; prints their bin directory
#                                    (scripts/testcluster-tekton.sh; needs the real node);
#                                    `tekton down` stops it; `tekton build` only builds
#                                    (cached) and prints the bin directory
#   scripts/testcluster.sh restart-apiserver SECONDS [--controllers]
#                                    kill kube-apiserver (SIGKILL), wait SECONDS, start it again
#                                    with the same flags, port and certificates, wait for /readyz
#                                    (an outage for tests/apiserver_restart.rs); --controllers:
#                                    then restart kube-controller-manager and kube-scheduler too
#
# Environment:
#   MODELOPS_TESTCLUSTER_CACHE  build cache root (default ~/.cache/modelops-testcluster);
#                               binaries go to $CACHE/bin/<key>, key = hash of go.mod, go.sum,
#                               our Go sources, ldflags and the Go version
#   MODELOPS_TESTCLUSTER_DIR    state directory of the running cluster (default $CACHE/run):
#                               kubeconfig, pki/, data/, logs/, pids/, stages/
#   MODELOPS_TESTCLUSTER_NODES  number of fake kwok nodes (default 2)
#   MODELOPS_TESTCLUSTER_TIMEOUT  seconds to wait for each readiness step (default 180)
#   MODELOPS_TESTCLUSTER_REAL_NODE  1 (default): `up` also starts the real node real-0 (containerd,
#                               kubelet, kube-proxy, CoreDNS; needs root; one per machine) and
#                               loads the images built here; 0: kwok nodes only (no root, any
#                               number of clusters side by side).
#   MODELOPS_TESTCLUSTER_INSTALL  1 (default): install missing Debian packages of the real node
#                               with apt-get (it says which); 0: stop and name them instead
#   MODELOPS_EXECUTOR_BIN       static modelops-executor binary for the executor image (default:
#                               built by scripts/static-build.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TC="$ROOT/testcluster"
CACHE="${MODELOPS_TESTCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops-testcluster}"
STATE="${MODELOPS_TESTCLUSTER_DIR:-$CACHE/run}"
NODES="${MODELOPS_TESTCLUSTER_NODES:-2}"
TIMEOUT="${MODELOPS_TESTCLUSTER_TIMEOUT:-180}"
KUBECONFIG_PATH="$STATE/kubeconfig"
REAL_NODE="${MODELOPS_TESTCLUSTER_REAL_NODE:-1}"
case "$REAL_NODE" in 0|1) ;; *) echo "MODELOPS_TESTCLUSTER_REAL_NODE must be 0 or 1, not '$REAL_NODE'" >&2; exit 2 ;; esac
# Start order; `down` stops in reverse order.
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
NODE_COMPONENTS=(containerd kubelet kube-proxy coredns)
COMPONENTS=("${CONTROL_PLANE[@]}")
# The cluster in $STATE has a real node when `up` wrote this marker (so `down`, `status` and
# `logs` do not depend on the environment of the shell that calls them).
set_components() { # 0|1
  COMPONENTS=("${CONTROL_PLANE[@]}")
  if [ "$1" = 1 ]; then COMPONENTS+=("${NODE_COMPONENTS[@]}"); fi
}
has_real_node() { [ -f "$STATE/real-node" ]; }
if has_real_node; then set_components 1; fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { printf '[testcluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The real node (containerd, kubelet, kube-proxy, CoreDNS, the images built here).
# shellcheck source=testcluster-real-node.sh
. "$ROOT/scripts/testcluster-real-node.sh"
# Tekton Pipelines on the cluster (`tekton`).
# shellcheck source=testcluster-tekton.sh
. "$ROOT/scripts/testcluster-tekton.sh"

k8s_version() { awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$TC/go.mod"; }
kwok_version() { awk '$1 == "sigs.k8s.io/kwok" && $2 ~ /^v/ {print $2; exit}' "$TC/go.mod"; }

ldflags() {
  local v major minor
  v="$(k8s_version)"; [ -n "$v" ] || die "cannot read the k8s.io/kubernetes version from $TC/go.mod"
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  local kv; kv="$(kwok_version)"
  printf '%s' "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X sigs.k8s.io/kwok/pkg/consts.Version=${kv#v}"
}

build_key() {
  {
    cat "$TC/go.mod" "$TC/go.sum"
    # Only the sources of these binaries: the real node's (cmd/pause, cmd/imagebuild, cmd/coredns)
    # are in its own key, and cmd/applyfloor is bench/scale.sh's client.
    (cd "$TC" && find cmd/etcd cmd/tcutil -name '*.go' -print0 | sort -z | xargs -0 sha256sum)
    ldflags; echo
    go version
    echo "CGO_ENABLED=$CGO_ENABLED"
  } | sha256sum | cut -c1-16
}

# name -> go package
pkg_of() {
  case "$1" in
    etcd) echo ./cmd/etcd ;;
    tcutil) echo ./cmd/tcutil ;;
    kwok) echo sigs.k8s.io/kwok/cmd/kwok ;;
    kube-apiserver|kube-controller-manager|kube-scheduler) echo "k8s.io/kubernetes/cmd/$1" ;;
    *) die "unknown binary $1" ;;
  esac
}

BIN=""
NBIN=""
# build: one `go build` at a time (memory), into $CACHE/bin/<key>; reused when complete.
build() {
  command -v go >/dev/null || die "go is not installed"
  local key; key="$(build_key)"
  BIN="$CACHE/bin/$key"
  if [ -f "$BIN/.complete" ]; then
    return 0
  fi
  mkdir -p "$CACHE/bin"
  exec 8>"$CACHE/bin/.build.lock"
  log "waiting for the build lock" ; flock 8
  if [ -f "$BIN/.complete" ]; then exec 8>&-; return 0; fi
  local partial="$BIN.partial" ld t0 t
  ld="$(ldflags)"
  mkdir -p "$partial"
  t0=$(date +%s)
  log "building control-plane binaries into $BIN (k8s $(k8s_version), kwok $(kwok_version)); a cold build takes tens of minutes"
  for b in tcutil etcd kwok kube-apiserver kube-controller-manager kube-scheduler; do
    if [ -x "$partial/$b" ]; then continue; fi
    t=$(date +%s)
    log "go build $(pkg_of "$b")"
    (cd "$TC" && go build -p "${MODELOPS_TESTCLUSTER_BUILD_P:-2}" -trimpath -ldflags "$ld" -o "$partial/$b.tmp" "$(pkg_of "$b")") \
      || die "go build of $b failed"
    mv "$partial/$b.tmp" "$partial/$b"
    log "built $b in $(( $(date +%s) - t ))s"
  done
  printf 'key=%s\nk8s=%s\nkwok=%s\nldflags=%s\nbuild_seconds=%s\n' "$key" "$(k8s_version)" "$(kwok_version)" "$ld" "$(( $(date +%s) - t0 ))" > "$partial/BUILDINFO"
  touch "$partial/.complete"
  rm -rf "$BIN"
  mv "$partial" "$BIN"
  # Keep the cache small: drop binaries of other keys unless some running process (a cluster
  # of any state dir) was started from them.
  local d running
  running="$(for e in /proc/[0-9]*/exe; do readlink "$e" 2>/dev/null; done | grep -F "$CACHE/bin/" || true)"
  for d in "$CACHE"/bin/*; do
    [ -d "$d" ] && [ "$d" != "$BIN" ] || continue
    grep -qF "$d/" <<<"$running" && continue
    rm -rf "$d"
  done
  exec 8>&-
  log "build finished in $(( $(date +%s) - t0 ))s"
}

pid_alive() { # pidfile -> 0 if that process is alive and is our binary
  local f="$1" pid exe
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  # Only our own binaries: guards against pid reuse after a crash or reboot.
  case "$exe" in "$CACHE"/bin/*|"$CACHE"/node-bin/*|"$(cat "$STATE/bindir" 2>/dev/null)"/*) return 0 ;; esac
  local nbin; nbin="$(cat "$STATE/nodebindir" 2>/dev/null || true)"
  [ -n "$nbin" ] && case "$exe" in "$nbin"/*) return 0 ;; esac
  return 1
}

any_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$STATE/pids/$c.pid" && return 0; done
  return 1
}

all_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$STATE/pids/$c.pid" || return 1; done
  return 0
}

start() { # name args...
  local name="$1"; shift
  local bin="$BIN/$name"
  [ -x "$bin" ] || bin="$NBIN/$name"
  log "starting $name"
  # setsid: the components must not die with the shell (or CI step) that started them.
  # 8>&- 9>&-: do not let the components inherit (and hold) the build/state locks.
  # >>: a restarted component (restart-apiserver) keeps its earlier log; `up` starts empty.
  setsid "$bin" "$@" >>"$STATE/logs/$name.log" 2>&1 < /dev/null 8>&- 9>&- &
  local pid=$! tries=0
  echo "$pid" > "$STATE/pids/$name.pid"
  # pid_alive accepts only our own binaries: wait (at most 5 s) until the forked shell and setsid
  # have exec'd it. A check in between once saw setsid and took containerd for dead ("containerd
  # exited" while its log showed it booted).
  while [ "$tries" -lt 100 ]; do
    case "$(readlink "/proc/$pid/exe" 2>/dev/null || echo gone)" in
      */setsid | */bash | */sh | */dash) sleep 0.05; tries=$((tries + 1)) ;;
      *) break ;;
    esac
  done
}

# kube-apiserver with the flags of `up`, also for `restart-apiserver`: the same port, certificates
# and etcd, so kubeconfigs and the other components keep working across a restart.
# With a real node it listens on the node's host address instead of 127.0.0.1 (pods reach it
# there through the `kubernetes` Service, whose endpoint may not be a loopback address), keeps
# that endpoint up to date (lease reconciler) and verifies kubelets' serving certificates.
start_apiserver() { # etcd-client-port api-port
  local etcd_client="$1" api="$2" P="$STATE/pki" mode=()
  if has_real_node; then
    mode=(--bind-address="$HOST_IP" --advertise-address="$HOST_IP" --endpoint-reconciler-type=lease
      --kubelet-client-certificate="$P/admin.crt" --kubelet-client-key="$P/admin.key"
      --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP)
  else
    mode=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
  fi
  start kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_client" --etcd-prefix=/registry \
    "${mode[@]}" --secure-port="$api" \
    --tls-cert-file="$P/admin.crt" --tls-private-key-file="$P/admin.key" \
    --client-ca-file="$P/ca.crt" \
    --authorization-mode=Node,RBAC \
    --service-account-key-file="$P/admin.pub" \
    --service-account-signing-key-file="$P/admin.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/12 \
    --proxy-client-cert-file="$P/admin.crt" --proxy-client-key-file="$P/admin.key" \
    --requestheader-client-ca-file="$P/ca.crt" --requestheader-allowed-names=kwok-admin \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --allow-privileged=true \
    --profiling=false
}

# kube-controller-manager and kube-scheduler with the flags of `up`, also for `restart-apiserver
# SECONDS --controllers`.
start_controllers() { # kcm-port scheduler-port
  local kcm="$1" sched="$2" P="$STATE/pki" K="$KUBECONFIG_PATH"
  local common=(--kubeconfig="$K" --authentication-kubeconfig="$K" --authorization-kubeconfig="$K"
    --bind-address=127.0.0.1 --leader-elect=false
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics)
  start kube-controller-manager "${common[@]}" --secure-port="$kcm" \
    --root-ca-file="$P/ca.crt" --service-account-private-key-file="$P/admin.key" \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --node-monitor-period=5s --node-monitor-grace-period=40s --profiling=false
  start kube-scheduler "${common[@]}" --secure-port="$sched" --profiling=false
}

started_pids() { cat "$STATE"/pids/*.pid 2>/dev/null | paste -sd, -; }

dead_components() {
  local c out=""
  for c in "${COMPONENTS[@]}"; do
    [ -f "$STATE/pids/$c.pid" ] || continue
    pid_alive "$STATE/pids/$c.pid" || out="$out $c"
  done
  echo "$out"
}

fail_up() {
  log "ERROR: $*"
  local dead; dead="$(dead_components)"
  [ -z "$dead" ] || log "components that exited:$dead"
  MODELOPS_TESTCLUSTER_LOG_LINES="${MODELOPS_TESTCLUSTER_LOG_LINES:-60}" logs >&2 || true
  log "stopping what was started"
  down_impl >&2 || true
  exit 1
}

up() {
  mkdir -p "$STATE"
  exec 9>"$STATE.lock"
  flock 9
  if any_alive; then
    if all_alive; then
      log "already running (state $STATE); not starting a second cluster"
      echo "$KUBECONFIG_PATH"
      return 0
    fi
    log "a previous cluster in $STATE is only partly running (exited:$(dead_components)); stopping the rest of it"
    down_impl
  elif has_real_node; then
    # A crashed real node (or a reboot) leaves network set-up, mounts and cgroups behind.
    node_down
  fi
  set_components "$REAL_NODE"
  if [ "$REAL_NODE" = 1 ]; then
    node_prerequisites
    node_claim
  fi
  build
  [ "$REAL_NODE" = 0 ] || build_node
  local t0; t0=$(date +%s)
  # Fresh state (keeps nothing from a previous run).
  rm -rf "$STATE/data" "$STATE/pki" "$STATE/pids" "$STATE/logs" "$STATE/stages" "$KUBECONFIG_PATH" "$STATE/info" "$STATE/real-node" "$STATE/nodebindir"
  mkdir -p "$STATE/data" "$STATE/pids" "$STATE/logs" "$STATE/stages"
  echo "$BIN" > "$STATE/bindir"
  local api_host=127.0.0.1 pki_args=()
  if [ "$REAL_NODE" = 1 ]; then
    echo "$NBIN" > "$STATE/nodebindir"
    echo "$REAL_NODE_NAME" > "$STATE/real-node"
    api_host="$HOST_IP"
    pki_args=(-host-ip "$HOST_IP" -node "$REAL_NODE_NAME")
    node_network_up || fail_up "setting up the real node's network failed"
  fi
  cp "$TC"/stages/*.yaml "$STATE/stages/"
  local T="$BIN/tcutil"
  "$T" pki -dir "$STATE/pki" "${pki_args[@]}"
  local ports; mapfile -t ports < <("$T" ports -n 7)
  local etcd_client=${ports[0]} etcd_peer=${ports[1]} api=${ports[2]} kcm=${ports[3]} sched=${ports[4]} kwok_node=${ports[5]} kwok_srv=${ports[6]}
  local P="$STATE/pki" K="$KUBECONFIG_PATH"
  "$T" kubeconfig -server "https://$api_host:$api" -pki "$P" -out "$K"
  printf 'etcd=http://127.0.0.1:%s\napiserver=https://%s:%s\nkube-controller-manager=https://127.0.0.1:%s\nkube-scheduler=https://127.0.0.1:%s\nkwok=https://127.0.0.1:%s\nbin=%s\n' \
    "$etcd_client" "$api_host" "$api" "$kcm" "$sched" "$kwok_srv" "$BIN" > "$STATE/info"

  start etcd --data-dir "$STATE/data/etcd" --client-port "$etcd_client" --peer-port "$etcd_peer"
  "$T" wait-url -pids "$(started_pids)" -timeout "${TIMEOUT}s" "http://127.0.0.1:$etcd_client/health" || fail_up "etcd did not become healthy"

  start_apiserver "$etcd_client" "$api"
  "$T" wait-cluster -pids "$(started_pids)" -kubeconfig "$K" -service-account=false -timeout "${TIMEOUT}s" || fail_up "kube-apiserver did not become ready"

  start_controllers "$kcm" "$sched"
  local stage_args=() f
  for f in "$STATE"/stages/*.yaml; do stage_args+=("--config=$f"); done
  # kwok manages only the fake nodes (annotation kwok.x-k8s.io/node=fake), never real-0. Its fake
  # pod IPs come from 10.244.0.0/17; real-0's pods get 10.244.128.0/24.
  start kwok --kubeconfig="$K" --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake "${stage_args[@]}" \
    --node-ip=127.0.0.1 --node-port="$kwok_node" --server-address="127.0.0.1:$kwok_srv" \
    --tls-cert-file="$P/admin.crt" --tls-private-key-file="$P/admin.key" \
    --node-lease-duration-seconds=40 --cidr=10.244.0.1/17

  "$T" wait-url -pids "$(started_pids)" -timeout "${TIMEOUT}s" "https://127.0.0.1:$kcm/healthz" || fail_up "kube-controller-manager did not become healthy"
  "$T" wait-url -pids "$(started_pids)" -timeout "${TIMEOUT}s" "https://127.0.0.1:$sched/healthz" || fail_up "kube-scheduler did not become healthy"
  "$T" wait-cluster -pids "$(started_pids)" -kubeconfig "$K" -timeout "${TIMEOUT}s" || fail_up "the control plane is not complete (no default ServiceAccount)"
  "$T" apply -pids "$(started_pids)" -kubeconfig "$K" -timeout "${TIMEOUT}s" "$TC"/manifests/*.yaml || fail_up "applying testcluster/manifests failed"
  "$T" nodes -pids "$(started_pids)" -kubeconfig "$K" -count "$NODES" -timeout "${TIMEOUT}s" || fail_up "the kwok nodes did not become Ready"
  if [ "$REAL_NODE" = 1 ]; then
    node_up "$api"
  fi
  all_alive || fail_up "a component exited during start-up"
  log "cluster up in $(( $(date +%s) - t0 ))s; kubeconfig: $K"
  echo "$K"
}

# SIGTERM (or the given signal), and SIGKILL after 10 s; removes the pid file.
stop_component() { # name [signal]
  local c="$1" f="$STATE/pids/$1.pid" signal="${2:-TERM}" pid n
  [ -f "$f" ] || return 0
  if pid_alive "$f"; then
    pid="$(cat "$f")"
    log "stopping $c (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    for n in $(seq 1 100); do pid_alive "$f" || break; sleep 0.1; done
    if pid_alive "$f"; then log "killing $c (pid $pid)"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

down_impl() {
  local i
  tekton_down
  # The real node first, while the API server still runs (its pods are deleted through it).
  if has_real_node; then node_down; fi
  for (( i=${#CONTROL_PLANE[@]}-1; i>=0; i-- )); do
    stop_component "${CONTROL_PLANE[$i]}"
  done
  # Remove the data; keep logs/ so they can still be printed after `down`.
  rm -rf "$STATE/data" "$STATE/pki" "$STATE/pids" "$STATE/stages" "$KUBECONFIG_PATH" "$STATE/info" "$STATE/bindir" "$STATE/nodebindir" "$STATE/real-node"
  set_components 0
}

down() {
  [ -d "$STATE" ] || { log "nothing to stop ($STATE does not exist)"; return 0; }
  exec 9>"$STATE.lock"
  flock 9
  down_impl
  log "stopped; data removed (logs kept in $STATE/logs)"
}

# An API server outage for the tests (tests/apiserver_restart.rs): kill kube-apiserver, wait,
# start it again with the flags of `up` (same port, certificates and etcd), wait for /readyz. The
# other components stay up and reconnect by themselves. SIGKILL, a crash (OOM kill, node loss):
# open connections break at once. (On SIGTERM this apiserver stops listening at once but then
# takes more than 10 s to exit, which would only lengthen every outage.)
restart_apiserver() { # seconds [--controllers]
  local seconds="${1:-}" controllers="${2:-}"
  [[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ "$controllers" =~ ^(--controllers)?$ ]] \
    || die "usage: $0 restart-apiserver SECONDS [--controllers]"
  [ -f "$STATE/info" ] && [ -f "$STATE/bindir" ] || die "no cluster in $STATE (run '$0 up')"
  exec 9>"$STATE.lock"
  flock 9
  BIN="$(cat "$STATE/bindir")"
  local etcd_client api kcm sched t0
  port_of() { sed -n "s#^$1=https\\{0,1\\}://[0-9.]*:##p" "$STATE/info"; }
  etcd_client="$(port_of etcd)" api="$(port_of apiserver)"
  kcm="$(port_of kube-controller-manager)" sched="$(port_of kube-scheduler)"
  [ -n "$etcd_client" ] && [ -n "$api" ] && [ -n "$kcm" ] && [ -n "$sched" ] \
    || die "cannot read the ports from $STATE/info"
  pid_alive "$STATE/pids/etcd.pid" || die "etcd is not running (run '$0 up')"
  t0=$(date +%s%N)
  if pid_alive "$STATE/pids/kube-apiserver.pid"; then
    stop_component kube-apiserver KILL
  else
    log "kube-apiserver is not running"
  fi
  log "kube-apiserver is down; starting it again in ${seconds}s"
  sleep "$seconds"
  start_apiserver "$etcd_client" "$api"
  "$BIN/tcutil" wait-cluster -pids "$(started_pids)" -kubeconfig "$KUBECONFIG_PATH" -service-account=false -timeout "${TIMEOUT}s" \
    || die "kube-apiserver did not become ready again ('$0 logs' shows why)"
  log "kube-apiserver ready again; unavailable for $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  if [ -n "$controllers" ]; then
    # Fresh informers: after an outage client-go's reflectors list and watch again only after
    # a backoff that grows with each failure and resets after 2 min without one; after a
    # second outage within that time the controller manager saw changes (a Job's pods
    # succeeding) only a minute or more later. kwok stays: a new kwok manages the nodes only
    # once the old one's node leases (40 s) have expired.
    stop_component kube-scheduler
    stop_component kube-controller-manager
    start_controllers "$kcm" "$sched"
    "$BIN/tcutil" wait-url -pids "$(started_pids)" -timeout "${TIMEOUT}s" "https://127.0.0.1:$kcm/healthz" \
      || die "kube-controller-manager did not become healthy again"
    "$BIN/tcutil" wait-url -pids "$(started_pids)" -timeout "${TIMEOUT}s" "https://127.0.0.1:$sched/healthz" \
      || die "kube-scheduler did not become healthy again"
    log "kube-controller-manager and kube-scheduler restarted"
  fi
  all_alive || die "components exited while kube-apiserver was down:$(dead_components)"
}

logs() {
  local lines="${MODELOPS_TESTCLUSTER_LOG_LINES:-200}" c f
  # Every component that wrote a log, also the real node's after `down`.
  for c in "${CONTROL_PLANE[@]}" "${NODE_COMPONENTS[@]}"; do
    f="$STATE/logs/$c.log"
    [ -f "$f" ] || continue
    echo "===== $c ($f)$( [ "$lines" = 0 ] || echo ", last $lines lines") ====="
    if [ "$lines" = 0 ]; then cat "$f"; else tail -n "$lines" "$f"; fi
  done
}

status() {
  local c rc=0
  echo "state: $STATE"
  for c in "${COMPONENTS[@]}"; do
    if pid_alive "$STATE/pids/$c.pid"; then
      local pid; pid="$(cat "$STATE/pids/$c.pid")"
      echo "$c: running (pid $pid, rss $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status"))"
    else
      echo "$c: not running"; rc=1
    fi
  done
  [ -f "$STATE/info" ] && cat "$STATE/info"
  if has_real_node; then node_status; fi
  if [ -f "$KUBECONFIG_PATH" ] && [ -x "$(cat "$STATE/bindir" 2>/dev/null)/tcutil" ]; then
    echo "kubeconfig: $KUBECONFIG_PATH"
    "$(cat "$STATE/bindir")/tcutil" status -kubeconfig "$KUBECONFIG_PATH" || rc=1
  fi
  return $rc
}

# The artifact stores live in their own script (issue 15); this is the entry point tests know.
artifact_store() { "$ROOT/scripts/artifact-stores.sh" s3; }

case "${1:-}" in
  build) build; [ "$REAL_NODE" = 0 ] || build_node; echo "$BIN" ;;
  artifact-store) artifact_store ;;
  tekton)
    case "${2:-}" in
      down) tekton_down ;;
      build) tekton_build; echo "$TBIN" ;;
      *) tekton_up ;;
    esac ;;
  up) up ;;
  down) down ;;
  status) status ;;
  logs) logs ;;
  env)
    all_alive || log "warning: no complete cluster is running in $STATE (run '$0 up')"
    echo "export KUBECONFIG=$KUBECONFIG_PATH"
    echo "export MODELOPS_TEST_KUBECONFIG=$KUBECONFIG_PATH"
    ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  restart-apiserver) restart_apiserver "${2:-}" "${3:-}" ;;
  apply)
    shift
    [ -x "$(cat "$STATE/bindir" 2>/dev/null)/tcutil" ] || die "no running cluster (scripts/testcluster.sh up)"
    "$(cat "$STATE/bindir")/tcutil" apply -kubeconfig "$KUBECONFIG_PATH" "$@" ;;
  *) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
