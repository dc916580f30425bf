# The real node of the local test cluster (issue 14, docs/testcluster.md "The real node").
# Sourced by scripts/testcluster.sh, which defines ROOT, TC, CACHE, STATE, TIMEOUT, BIN, NBIN,
# KUBECONFIG_PATH, log, die, build_key, ldflags, pkg_of, start, stop_component, started_pids,
# pid_alive and fail_up.
#
# One node, `real-0`, runs on this machine beside the kwok nodes: containerd 2 and runc, the kubelet and kube-proxy of the control plane's Kubernetes version, CNI (Debian's
# bridge, host-local, loopback and portmap plugins) and CoreDNS. Everything it writes lives under
# $STATE/node where the programs allow it. Only one real node can run per machine (kernel-wide
# things: the bridges, iptables, fixed kubelet/kube-proxy ports), so `up` claims the machine in
# $REAL_NODE_CLAIM and refuses while another state dir's real node runs.

CONTAINERD_VERSION=v2.3.4
# containerd 2.3's CI runs runc v1.4.3 (script/setup/runc-version). Debian's runc 1.1.5 fails every
# sandbox containerd 2.3 asks for ("runc create failed: unable to start container process: can't
# get final child's PID from pipe: EOF") and Debian's crun 1.8.1 rejects its OCI spec 1.3.0
# ("unknown version specified"), so runc is built from its module too (cgo, libseccomp).
RUNC_VERSION=v1.4.3
# CoreDNS: the version testcluster/cmd/coredns/go.mod requires.
COREDNS_VERSION="$(awk '{ if ($1 == "require") $1 = ""; $0 = $0 } $1 == "github.com/coredns/coredns" {print $2; exit}' "$TC/cmd/coredns/go.mod")"
REAL_NODE_NAME=real-0
# The node's host address, on a bridge without ports (this kernel has no dummy interfaces): the
# kubelet, kube-apiserver, CoreDNS and kube-proxy's health/NodePorts listen there. It exists only
# on this machine and pods reach it through their gateway, without masquerade.
HOST_IF=mo-host0
HOST_IP=10.250.0.1
# Pods of real-0 (bridge mo-cni0, gateway .1); the cluster's pod range also holds kwok's fake
# pod IPs (10.244.0.0/17).
CNI_BRIDGE=mo-cni0
POD_RANGE=10.244.0.0/16
NODE_POD_SUBNET=10.244.128.0/24
NODE_POD_GATEWAY=10.244.128.1
SERVICE_RANGE=10.96.0.0/12
DNS_SERVICE_IP=10.96.0.10
FIREWALL_CHAIN=MODELOPS-REAL-NODE
NODE_TAINT="modelops.io/node=real:NoSchedule"
REAL_NODE_CLAIM=/run/modelops-testcluster/real-node
# Kernel settings the node changes (kubelet: vm.*, kernel.*; us: forwarding, bridge netfilter);
# `down` restores the values found before `up`.
NODE_SYSCTLS=(net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables
  vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes)

node_dir() { echo "$STATE/node"; }

# ---- prerequisites ----

# Stops with a message naming what is missing and how to install it; installs Debian packages
# itself (saying so) unless MODELOPS_TESTCLUSTER_INSTALL=0.
node_prerequisites() {
  [ "$(id -u)" = 0 ] || die "the real node needs root (containerd, kubelet, network set-up); run as root, or start a kwok-only cluster with MODELOPS_TESTCLUSTER_REAL_NODE=0"
  local missing=() f
  # runc is built with cgo against libseccomp.
  command -v gcc >/dev/null || missing+=(gcc)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -f /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
  for f in bridge host-local loopback portmap; do
    [ -x "/usr/lib/cni/$f" ] || { missing+=(containernetworking-plugins); break; }
  done
  command -v iptables >/dev/null || missing+=(iptables)
  # Debian's busybox-static: /bin/busybox is the static build (the dynamic one is /bin/busybox too,
  # from package busybox; `file` tells them apart but is not always installed).
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "${MODELOPS_TESTCLUSTER_INSTALL:-1}" = 1 ] && command -v apt-get >/dev/null; then
      log "the real node needs Debian packages that are missing: ${missing[*]}; installing them with apt-get (MODELOPS_TESTCLUSTER_INSTALL=0 to stop instead)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
    else
      die "the real node needs these packages: ${missing[*]}; install them with: apt-get update && apt-get install -y ${missing[*]} (or start a kwok-only cluster with MODELOPS_TESTCLUSTER_REAL_NODE=0)"
    fi
  fi
  grep -qw overlay /proc/filesystems || die "the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it): modprobe overlay"
  [ -d /proc/sys/net/bridge ] || die "bridge netfilter is missing (kube-proxy needs it for traffic between pods on the bridge): modprobe br_netfilter"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || die "no memory cgroup controller is mounted under /sys/fs/cgroup (the kubelet needs cpu, cpuacct, cpuset and memory)"
  [ -r /dev/kmsg ] || die "/dev/kmsg is not readable (the kubelet's OOM watcher needs it)"
  if [ "$(awk 'NR > 1 {n++} END {print n + 0}' /proc/swaps)" != 0 ]; then
    log "swap is on; the kubelet is configured with failSwapOn: false"
  fi
}

# ---- one real node per machine ----

# Claims the machine for this state dir; refuses while another state dir's real node runs.
node_claim() {
  mkdir -p "$(dirname "$REAL_NODE_CLAIM")"
  local owner
  owner="$(cat "$REAL_NODE_CLAIM" 2>/dev/null || true)"
  if [ -n "$owner" ] && [ "$owner" != "$STATE" ]; then
    local c
    for c in "${NODE_COMPONENTS[@]}"; do
      if STATE="$owner" pid_alive "$owner/pids/$c.pid"; then
        die "the real node of the cluster in $owner is running ($c, pid $(cat "$owner/pids/$c.pid")); only one real node can run on a machine. Stop it with: MODELOPS_TESTCLUSTER_DIR=$owner $0 down — or start this cluster without one: MODELOPS_TESTCLUSTER_REAL_NODE=0 $0 up"
      fi
    done
    log "the real node of $owner is no longer running; cleaning up what it left and taking over"
    ( STATE="$owner"; node_down ) || true
  fi
  echo "$STATE" > "$REAL_NODE_CLAIM"
}

# ---- build ----

node_build_key() {
  {
    build_key
    echo "containerd=$CONTAINERD_VERSION runc=$RUNC_VERSION"
    (cd "$TC" && find cmd/pause cmd/imagebuild cmd/coredns -type f -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

# build_node: kubelet and kube-proxy (from testcluster/go.mod, like the control plane), the pause
# binary, the image builder (its own module), containerd, its runc shim and ctr, and CoreDNS (each
# `go install module@version`, so their own go.mod decides the dependencies) into
# $CACHE/node-bin/<key>.
build_node() {
  local key; key="$(node_build_key)"
  NBIN="$CACHE/node-bin/$key"
  [ -f "$NBIN/.complete" ] && return 0
  mkdir -p "$CACHE/node-bin"
  exec 8>"$CACHE/bin/.build.lock"
  log "waiting for the build lock"; flock 8
  if [ -f "$NBIN/.complete" ]; then exec 8>&-; return 0; fi
  local partial="$NBIN.partial" t0 t b ld
  ld="$(ldflags)"
  mkdir -p "$partial"
  t0=$(date +%s)
  log "building the real node's binaries into $NBIN (kubelet and kube-proxy $(k8s_version), containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, CoreDNS $COREDNS_VERSION)"
  for b in kubelet kube-proxy pause imagebuild containerd containerd-shim-runc-v2 ctr runc coredns; do
    [ -x "$partial/$b" ] && continue
    t=$(date +%s)
    case "$b" in
      kubelet|kube-proxy)
        (cd "$TC" && go build -p "${MODELOPS_TESTCLUSTER_BUILD_P:-2}" -trimpath -ldflags "$ld" -o "$partial/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
      pause)
        (cd "$TC" && go build -trimpath -ldflags "-s -w" -o "$partial/$b.tmp" ./cmd/pause) ;;
      imagebuild)
        (cd "$TC/cmd/imagebuild" && go build -trimpath -ldflags "-s -w" -o "$partial/$b.tmp" .) ;;
      containerd|containerd-shim-runc-v2|ctr)
        # No cgo (btrfs needs it); the shim and ctr must be containerd 2's own: Debian's
        # containerd 1.6 shim in PATH would not understand containerd 2.
        (cd "$partial" && GOBIN="$partial/gobin" go install -p "${MODELOPS_TESTCLUSTER_BUILD_P:-2}" -trimpath \
          -tags "no_btrfs no_devmapper no_zfs" \
          -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
          "github.com/containerd/containerd/v2/cmd/$b@$CONTAINERD_VERSION" && mv "gobin/$b" "$b.tmp") ;;
      runc)
        (cd "$partial" && CGO_ENABLED=1 GOBIN="$partial/gobin" go install -trimpath -tags "seccomp urfave_cli_no_docs" \
          -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" "github.com/opencontainers/runc@$RUNC_VERSION" && mv "gobin/$b" "$b.tmp") ;;
      coredns)
        # Our main with only the plugins the Corefile uses (testcluster/cmd/coredns, its own module).
        (cd "$TC/cmd/coredns" && go build -p "${MODELOPS_TESTCLUSTER_BUILD_P:-2}" -trimpath -ldflags "-s -w" \
          -o "$partial/$b.tmp" .) ;;
    esac || die "go build of $b failed"
    mv "$partial/$b.tmp" "$partial/$b"
    log "built $b in $(( $(date +%s) - t ))s"
  done
  rm -rf "$partial/gobin"
  printf 'key=%s\nk8s=%s\ncontainerd=%s\nrunc=%s\ncoredns=%s\nbuild_seconds=%s\n' "$key" "$(k8s_version)" \
    "$CONTAINERD_VERSION" "$RUNC_VERSION" "$COREDNS_VERSION" "$(( $(date +%s) - t0 ))" > "$partial/BUILDINFO"
  touch "$partial/.complete"
  rm -rf "$NBIN"
  mv "$partial" "$NBIN"
  local d running
  running="$(for e in /proc/[0-9]*/exe; do readlink "$e" 2>/dev/null; done | grep -F "$CACHE/node-bin/" || true)"
  for d in "$CACHE"/node-bin/*; do
    [ -d "$d" ] && [ "$d" != "$NBIN" ] || continue
    grep -qF "$d/" <<<"$running" && continue
    rm -rf "$d"
  done
  exec 8>&-
  log "real node binaries built in $(( $(date +%s) - t0 ))s"
}

# The static executor binary for the executor image: $MODELOPS_EXECUTOR_BIN, or what
# scripts/static-build.sh builds (and checks).
executor_binary() {
  if [ -n "${MODELOPS_EXECUTOR_BIN:-}" ]; then
    [ -x "$MODELOPS_EXECUTOR_BIN" ] || die "MODELOPS_EXECUTOR_BIN=$MODELOPS_EXECUTOR_BIN is not an executable file"
    echo "$MODELOPS_EXECUTOR_BIN"
    return 0
  fi
  log "building the static modelops-executor binary for the executor image (scripts/static-build.sh)"
  "$ROOT/scripts/static-build.sh" >&2 || die "scripts/static-build.sh failed"
  local path_file="${MODELOPS_STATIC_TARGET_DIR:-$HOME/.cache/modelops-executor/static-target}/modelops-executor.path"
  [ -f "$path_file" ] || die "scripts/static-build.sh did not write $path_file"
  cat "$path_file"
}

# ---- network ----

node_sysctl_save() {
  local n="$(node_dir)/saved-sysctls" k
  [ -f "$n" ] && return 0
  for k in "${NODE_SYSCTLS[@]}"; do
    [ -f "/proc/sys/$k" ] && printf '%s=%s\n' "$k" "$(cat "/proc/sys/$k")"
  done > "$n"
}

node_sysctl_restore() {
  local n="$(node_dir)/saved-sysctls" k v
  [ -f "$n" ] || return 0
  while IFS='=' read -r k v; do
    [ -n "$k" ] && printf '%s\n' "$v" > "/proc/sys/$k" 2>/dev/null || log "warning: could not restore $k=$v"
  done < "$n"
  rm -f "$n"
}

# The host address, the pods' bridge, forwarding and the firewall. No NAT: pods reach the host
# address and the service range through their gateway, and nothing else.
node_network_up() {
  local N; N="$(node_dir)"
  mkdir -p "$N"
  node_sysctl_save
  ip link add "$HOST_IF" type bridge && ip addr add "$HOST_IP/32" dev "$HOST_IF" && ip link set "$HOST_IF" up || return 1
  ip link add "$CNI_BRIDGE" type bridge && ip addr add "$NODE_POD_GATEWAY/24" dev "$CNI_BRIDGE" && ip link set "$CNI_BRIDGE" up || return 1
  echo 1 > /proc/sys/net/ipv4/ip_forward
  echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
  echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables
  # raw PREROUTING sees every packet from a pod before NAT and forwarding, whatever rules
  # kube-proxy and the kubelet add later: a pod may address the pod range, the service range and
  # this machine's own addresses, nothing else; and nothing from outside reaches a pod.
  iptables -w -t raw -N "$FIREWALL_CHAIN" || return 1
  iptables -w -t raw -A "$FIREWALL_CHAIN" -s "$NODE_POD_SUBNET" -d "$POD_RANGE" -j RETURN
  iptables -w -t raw -A "$FIREWALL_CHAIN" -s "$NODE_POD_SUBNET" -d "$SERVICE_RANGE" -j RETURN
  iptables -w -t raw -A "$FIREWALL_CHAIN" -s "$NODE_POD_SUBNET" -m addrtype --dst-type LOCAL -j RETURN
  iptables -w -t raw -A "$FIREWALL_CHAIN" -s "$NODE_POD_SUBNET" -j DROP
  iptables -w -t raw -A "$FIREWALL_CHAIN" -d "$NODE_POD_SUBNET" ! -s "$POD_RANGE" -j DROP
  iptables -w -t raw -I PREROUTING 1 -j "$FIREWALL_CHAIN"
}

# Chains of the node in one iptables family: ours, the kubelet's and kube-proxy's (KUBE-*), the
# portmap plugin's (CNI-*). Only one real node runs per machine, so they are all ours.
node_iptables_cleanup() { # iptables|ip6tables
  local ipt="$1" table chain rule
  command -v "$ipt" >/dev/null || return 0
  for table in raw mangle nat filter; do
    # Jumps from the built-in chains first, then the chains themselves.
    "$ipt" -w -t "$table" -S 2>/dev/null | grep -E -- "^-A [A-Z]+ .*-j (KUBE-|CNI-|$FIREWALL_CHAIN)" \
      | grep -E '^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' | while read -r rule; do
        # eval: iptables -S quotes comments ("kubernetes service portals").
        eval "\"\$ipt\" -w -t \"\$table\" ${rule/#-A/-D}" 2>/dev/null || true
      done || true
    for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^(KUBE-|CNI-)/ || $2 == "'"$FIREWALL_CHAIN"'") {print $2}'); do
      "$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^(KUBE-|CNI-)/ || $2 == "'"$FIREWALL_CHAIN"'") {print $2}'); do
      "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

node_network_down() {
  local link
  for link in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$CNI_BRIDGE" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
  node_iptables_cleanup iptables
  node_iptables_cleanup ip6tables
  # kube-proxy's nftables tables (it cleans them in iptables mode too, but may not have run).
  if command -v nft >/dev/null; then
    nft delete table ip kube-proxy 2>/dev/null || true
    nft delete table ip6 kube-proxy 2>/dev/null || true
  fi
  node_sysctl_restore
}

# ---- configuration ----

node_write_config() { # api-port
  local api="$1" N P="$STATE/pki" K="$KUBECONFIG_PATH"
  N="$(node_dir)"
  mkdir -p "$N/containerd/root" "$N/containerd/state" "$N/containerd/certs.d/_default" "$N/runc" \
    "$N/kubelet" "$N/pod-logs" "$N/cni/net.d" "$N/cni/ipam"
  "$BIN/tcutil" kubeconfig -server "https://$HOST_IP:$api" -pki "$P" -cert node -out "$N/kubelet.kubeconfig"
  "$BIN/tcutil" kubeconfig -server "https://$HOST_IP:$api" -pki "$P" -cert kube-proxy -out "$N/kube-proxy.kubeconfig"

  # containerd 2 (config version 4, containerd 2.3's): state, sockets, runc state, CNI and netns mounts all under
  # $N; the sandbox image is the pause image built here; every registry resolves to a closed
  # loopback port, so an image that was not loaded fails at once (ErrImagePull) and nothing is
  # ever pulled from the internet.
  cat > "$N/containerd.toml" <<EOF
version = 4
# (containerd 2.3 also always imports /etc/containerd/conf.d/*.toml; Debian's containerd
# package is not needed and not installed, so there is none.)
root = '$N/containerd/root'
state = '$N/containerd/state'
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing']

[plugins.'io.containerd.server.v1.grpc']
  address = '$N/containerd.sock'

[plugins.'io.containerd.server.v1.ttrpc']
  address = '$N/containerd.sock.ttrpc'

[plugins.'io.containerd.internal.v1.opt']
  path = '$N/containerd/opt'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = 'docker.io/modelops-test/pause:1'
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '$N/containerd/certs.d'

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # Root here lacks CAP_SYS_RESOURCE (this VM's bounding set), so no process may lower its
  # oom_score_adj; without this runc fails every sandbox ("failed to update
  # /proc/self/oom_score_adj: Permission denied"). Scores below containerd's own are raised to it.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      runtime_path = '$NBIN/containerd-shim-runc-v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = '$NBIN/runc'
        Root = '$N/runc'
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$N/cni/net.d'

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
EOF
  cat > "$N/containerd/certs.d/_default/hosts.toml" <<'EOF'
# No registry: every pull goes to a closed port on loopback and fails at once.
server = "http://127.0.0.1:9"
EOF

  cat > "$N/cni/net.d/10-modelops-real.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "modelops-real",
  "plugins": [
    {
      "type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$N/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_SUBNET", "gateway": "$NODE_POD_GATEWAY"}]],
        "routes": [{"dst": "$SERVICE_RANGE"}, {"dst": "$HOST_IP/32"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

  # Pods with dnsPolicy Default get no name server of the machine.
  : > "$N/resolv.conf"
  cat > "$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM has cgroup v1 (hybrid); kubelet 1.36 refuses it unless told.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$N/containerd.sock
address: $HOST_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
tlsCertFile: $P/node.crt
tlsPrivateKeyFile: $P/node.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $N/resolv.conf
podLogsDir: $N/pod-logs
registerWithTaints:
  - {key: modelops.io/node, value: real, effect: NoSchedule}
maxPods: 50
serializeImagePulls: false
# The images are loaded, never pulled: image GC must never remove them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
EOF

  cat > "$N/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_RANGE
hostnameOverride: $REAL_NODE_NAME
bindAddress: $HOST_IP
healthzBindAddress: $HOST_IP:10256
metricsBindAddress: $HOST_IP:10249
nodePortAddresses: [$HOST_IP/32]
clientConnection: {kubeconfig: $N/kube-proxy.kubeconfig}
# 0: leave the machine's conntrack settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF

  # Cluster names only; nothing is forwarded to a name server outside.
  cat > "$N/Corefile" <<EOF
.:53 {
    bind $HOST_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $K
        pods insecure
    }
    cache 30
}
EOF
}

# ---- images ----

# Builds (cached by input hash in $CACHE/images) and loads the pause, busybox and executor images
# into containerd's k8s.io namespace.
node_load_images() {
  local N exe specs=() out ref
  N="$(node_dir)"
  exe="$(executor_binary)"
  local IB="$NBIN/imagebuild" imgs="$CACHE/images"
  local commit; commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  specs=(
    "pause.json -var PAUSE_BIN=$NBIN/pause"
    "busybox.json -var BUSYBOX=$(readlink -f "$(command -v busybox)")"
    "executor.json -var EXECUTOR_BIN=$exe -var REPO=$ROOT -var CA_CERTIFICATES=/etc/ssl/certs/ca-certificates.crt -var GIT_COMMIT=$commit"
  )
  local s
  for s in "${specs[@]}"; do
    # shellcheck disable=SC2086
    set -- $s
    local spec="$TC/images/$1"; shift
    out="$("$IB" -spec "$spec" -out-dir "$imgs" "$@")" || die "building the image of $spec failed"
    "$NBIN/ctr" --address "$N/containerd.sock" -n k8s.io images import --platform linux/amd64 "$out" >/dev/null \
      || die "ctr images import $out failed"
  done
  # Keep the cache small: the tarballs of the current inputs only.
  find "$imgs" -name '*.tar' -mmin +1440 -delete 2>/dev/null || true
  log "images loaded: $("$NBIN/ctr" --address "$N/containerd.sock" -n k8s.io images ls -q | grep -v '^sha256:' | paste -sd' ')"
}

# ---- up / down ----

node_up() { # api-port
  local api="$1" N T="$BIN/tcutil"
  N="$(node_dir)"
  node_write_config "$api"
  start containerd --config "$N/containerd.toml"
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until [ -S "$N/containerd.sock" ] && "$NBIN/ctr" --address "$N/containerd.sock" version >/dev/null 2>&1; do
    pid_alive "$STATE/pids/containerd.pid" || fail_up "containerd exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail_up "containerd did not answer on $N/containerd.sock within ${TIMEOUT}s"
    sleep 0.25
  done
  node_load_images
  "$T" apply -pids "$(started_pids)" -kubeconfig "$KUBECONFIG_PATH" -timeout "${TIMEOUT}s" "$TC"/real-node/*.yaml \
    || fail_up "applying testcluster/real-node failed"
  start coredns -conf "$N/Corefile"
  start kubelet --config "$N/kubelet.yaml" --kubeconfig "$N/kubelet.kubeconfig" \
    --hostname-override "$REAL_NODE_NAME" --node-ip "$HOST_IP" --root-dir "$N/kubelet" \
    --node-labels "modelops.io/node=real" --v=2
  start kube-proxy --config "$N/kube-proxy.yaml" --v=2
  "$T" wait-node -pids "$(started_pids)" -kubeconfig "$KUBECONFIG_PATH" -name "$REAL_NODE_NAME" -timeout "${TIMEOUT}s" \
    || fail_up "node $REAL_NODE_NAME did not become Ready"
}

# Processes whose executable is one of ours, by exact path (shims outlive containerd).
node_pids_of() { # binary
  local e pid
  for e in /proc/[0-9]*/exe; do
    [ "$(readlink "$e" 2>/dev/null)" = "$1" ] || continue
    pid="${e#/proc/}"; echo "${pid%/exe}"
  done
}

# Stops the node and removes everything it made: pods (through the API server while it runs),
# processes (shims and containers included), mounts, cgroups, network, iptables rules, files.
node_down() {
  local N nbin c pid
  N="$(node_dir)"
  nbin="$(cat "$STATE/nodebindir" 2>/dev/null || true)"
  if pid_alive "$STATE/pids/kubelet.pid" && pid_alive "$STATE/pids/kube-apiserver.pid" && [ -x "$(cat "$STATE/bindir" 2>/dev/null)/tcutil" ]; then
    log "deleting the pods on $REAL_NODE_NAME"
    "$(cat "$STATE/bindir")/tcutil" drain-node -kubeconfig "$KUBECONFIG_PATH" -name "$REAL_NODE_NAME" -timeout 60s \
      || log "warning: not every pod on $REAL_NODE_NAME was deleted in time; killing the rest"
  fi
  for c in kubelet kube-proxy coredns; do stop_component "$c"; done
  if [ -n "$nbin" ] && pid_alive "$STATE/pids/containerd.pid"; then
    local ctr=("$nbin/ctr" --address "$N/containerd.sock" -n k8s.io) t
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
  fi
  stop_component containerd
  if [ -n "$nbin" ]; then
    for pid in $(node_pids_of "$nbin/containerd-shim-runc-v2"); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  # Container processes left behind (a shim killed before its container): every process in the
  # kubelet's cgroups, then the cgroups themselves.
  local cg d
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done || true
  done
  sleep 0.2
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] || continue
    find "$cg" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done || true
  done
  # Mounts under the node directory (the kubelet's root dir is an rshared bind mount; pod
  # volumes, container root filesystems and network namespaces), deepest first.
  if [ -d "$N" ]; then
    local m
    for m in $(awk -v d="$N" '{gsub(/\\040/, " ", $5); if (index($5, d) == 1) print $5}' /proc/self/mountinfo | sort -r | uniq); do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
    done
  fi
  if [ -n "$nbin" ] && [ -x "$nbin/kube-proxy" ]; then
    "$nbin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  node_network_down
  # libcni's result cache (fixed at /var/lib/cni; entries go with each pod's network teardown, so
  # only a crash leaves any): ours are named after our networks.
  rm -f /var/lib/cni/results/modelops-real-* /var/lib/cni/results/cni-loopback-* 2>/dev/null || true
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  # Shim sockets live under /run/containerd/s whatever the config says; empty once the shims are gone.
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true
  rm -rf "$N"
  if [ "$(cat "$REAL_NODE_CLAIM" 2>/dev/null)" = "$STATE" ]; then rm -f "$REAL_NODE_CLAIM"; fi
}

node_status() {
  local N nbin
  N="$(node_dir)"
  nbin="$(cat "$STATE/nodebindir" 2>/dev/null || true)"
  echo "real node $REAL_NODE_NAME: host address $HOST_IP ($HOST_IF), pods $NODE_POD_SUBNET ($CNI_BRIDGE), services $SERVICE_RANGE, DNS $DNS_SERVICE_IP"
  ip -br link show "$HOST_IF" 2>/dev/null || echo "$HOST_IF: missing"
  ip -br link show "$CNI_BRIDGE" 2>/dev/null || echo "$CNI_BRIDGE: missing"
  if [ -n "$nbin" ] && [ -S "$N/containerd.sock" ]; then
    echo "containerd $("$nbin/ctr" --address "$N/containerd.sock" version 2>/dev/null | awk '/Version:/ {v=$2} END {print v}'), images: $("$nbin/ctr" --address "$N/containerd.sock" -n k8s.io images ls -q 2>/dev/null | grep -v '^sha256:' | paste -sd' ')"
    echo "containers: $("$nbin/ctr" --address "$N/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null | wc -l) tasks"
  fi
}
