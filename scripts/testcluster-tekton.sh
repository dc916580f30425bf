# Tekton Pipelines on the local test cluster (issue 16, docs/testcluster.md "Tekton").
# Sourced by scripts/testcluster.sh, which defines ROOT, TC, CACHE, STATE, TIMEOUT, KUBECONFIG_PATH,
# HOST_IP, REAL_NODE_NAME, log, die, has_real_node and node_load_images.
#
# `scripts/testcluster.sh tekton` builds (once, cached by input hash in $CACHE/tekton-bin/<key>)
# Tekton Pipelines' controller, webhook and the binaries of its TaskRun pods' images (entrypoint,
# nop, workingdirinit, sidecarlogresults) and `tkn`, all from ONE Go module, testcluster/tekton
# (github.com/tektoncd/pipeline at the version tekton/validate pins, github.com/tektoncd/cli),
# in one `go build`, so the ~1,100 packages the two share compile once; builds those images with
# the cluster's image builder and loads them on real-0, with the executor image of this tree (as
# `up` does); applies Tekton's release configuration (namespace, RBAC, CRDs, ConfigMaps, webhook
# configurations) from the module's config/; and runs the controller and the webhook as host
# processes, like the control plane. It returns once the webhook admits objects and the controller
# has started its reconcilers, and prints the directory of the binaries (tkn is there).
#
# What differs from a release install, and why (running out of the cluster):
# - no Deployments (controller.yaml, webhook.yaml, events.yaml, webhook-hpa.yaml) and no remote
#   resolvers: the two processes run on the host with the admin kubeconfig;
# - the Service tekton-pipelines-webhook has no selector: an EndpointSlice points it at the
#   webhook's port on the node's host address (kube-apiserver reaches webhooks by ClusterIP,
#   which real-0's kube-proxy translates);
# - the webhook's serving certificate (Secret webhook-certs) is issued by the test cluster's CA
#   instead of knative's self-generated one; knative keeps a valid certificate and copies its CA
#   into the webhook configurations and the CRDs' conversion webhooks;
# - the probe, metrics and profiling ports are free ports (several clusters share this machine);
#   metrics listen on loopback only;
# - -disable-ha: one controller, no leader election buckets.

# The Go module of the binaries: its go.mod requires github.com/tektoncd/pipeline and
# github.com/tektoncd/cli (`tool` directives name the seven commands), with both upstream go.mods'
# `replace` directives (docs/testcluster.md "Tekton Pipelines" on how to move it).
TEKTON_MODULE="$TC/tekton"
module_version() { # go.mod module -> version it requires
  awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) {for (i = 1; i <= NF; i++) if ($i ~ /^v[0-9]/) {print $i; exit}}' "$1"
}
# The Tekton Pipelines version: the one tekton/validate validates against (tekton_check_versions).
tekton_pipeline_version() { module_version "$ROOT/tekton/validate/go.mod" github.com/tektoncd/pipeline; }
# tkn: v0.46.0 is built against Pipelines v1.14.1, the version above. v0.45.0 (built against
# v1.12) cannot be built from the Go proxy: its go.mod replaces github.com/tektoncd/hub with
# github.com/openshift-pipelines/hub v1.24.0, which the proxy does not serve.
tekton_tkn_version() { module_version "$TEKTON_MODULE/go.mod" github.com/tektoncd/cli; }
tekton_check_versions() {
  local validate built
  validate="$(tekton_pipeline_version)"; built="$(module_version "$TEKTON_MODULE/go.mod" github.com/tektoncd/pipeline)"
  [ -n "$validate" ] || die "cannot read the github.com/tektoncd/pipeline version from tekton/validate/go.mod"
  [ -n "$built" ] || die "cannot read the github.com/tektoncd/pipeline version from testcluster/tekton/go.mod"
  [ -n "$(tekton_tkn_version)" ] || die "cannot read the github.com/tektoncd/cli version from testcluster/tekton/go.mod"
  [ "$validate" = "$built" ] || die "testcluster/tekton/go.mod builds github.com/tektoncd/pipeline $built, tekton/validate/go.mod validates against $validate: move both to the same version"
}
TEKTON_NAMESPACE=tekton-pipelines
# Images of TaskRun pods (ko's layout: the binary at /ko-app/<name>); the shell image is the
# cluster's busybox (Debian's busybox-static), loaded with the real node.
TEKTON_IMAGE_PREFIX=docker.io/modelops-test/tekton
TEKTON_SHELL_IMAGE=docker.io/modelops-test/busybox:1
TEKTON_PROCESSES=(tekton-webhook tekton-controller)

tekton_dir() { echo "$STATE/tekton"; }

TEKTON_COMMANDS=(github.com/tektoncd/pipeline/cmd/{controller,webhook,entrypoint,nop,workingdirinit,sidecarlogresults}
  github.com/tektoncd/cli/cmd/tkn)

tekton_ldflags() { echo "-s -w -X github.com/tektoncd/cli/pkg/cmd/version.clientVersion=$(tekton_tkn_version | sed 's/^v//')"; }

tekton_build_key() {
  {
    cat "$TEKTON_MODULE/go.mod" "$TEKTON_MODULE/go.sum"
    echo "${TEKTON_COMMANDS[*]}"
    go version
    echo "CGO_ENABLED=$CGO_ENABLED flags=-trimpath -ldflags=$(tekton_ldflags)"
  } | sha256sum | cut -c1-16
}

# The directory of github.com/tektoncd/pipeline in the module cache (read-only; its config/ is
# Tekton's release configuration).
tekton_pipeline_source() {
  local dir
  dir="$(cd "$TEKTON_MODULE" && go mod download -json github.com/tektoncd/pipeline | awk -F'"' '$2 == "Dir" {print $4}')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download github.com/tektoncd/pipeline in testcluster/tekton failed"
  echo "$dir"
}

TBIN=""
# One `go build` of all seven commands (the go command schedules the whole graph; shared
# packages compile once), under the control plane's build lock.
tekton_build() {
  command -v go >/dev/null || die "go is not installed"
  tekton_check_versions
  local key version tkn; key="$(tekton_build_key)"; version="$(tekton_pipeline_version)"; tkn="$(tekton_tkn_version)"
  TBIN="$CACHE/tekton-bin/$key"
  [ -f "$TBIN/.complete" ] && return 0
  mkdir -p "$CACHE/bin" "$CACHE/tekton-bin"
  exec 8>"$CACHE/bin/.build.lock"
  log "waiting for the build lock"; flock 8
  if [ -f "$TBIN/.complete" ]; then exec 8>&-; return 0; fi
  local partial="$TBIN.partial" t0 b
  rm -rf "$partial"
  mkdir -p "$partial/out"
  t0=$(date +%s)
  log "building Tekton Pipelines $version and tkn $tkn (one go build in testcluster/tekton) into $TBIN"
  (cd "$TEKTON_MODULE" && go build -mod=readonly -p "${MODELOPS_TESTCLUSTER_BUILD_P:-2}" -trimpath \
    -ldflags "$(tekton_ldflags)" -o "$partial/out/" "${TEKTON_COMMANDS[@]}") || die "go build in testcluster/tekton failed"
  for b in "${TEKTON_COMMANDS[@]}"; do
    [ -x "$partial/out/${b##*/}" ] || die "go build in testcluster/tekton did not write ${b##*/}"
    mv "$partial/out/${b##*/}" "$partial/${b##*/}"
  done
  rmdir "$partial/out"
  printf 'key=%s\npipeline=%s\ntkn=%s\nbuild_seconds=%s\n' "$key" "$version" "$tkn" \
    "$(( $(date +%s) - t0 ))" > "$partial/BUILDINFO"
  touch "$partial/.complete"
  rm -rf "$TBIN"
  mv "$partial" "$TBIN"
  # Sources copied out of the module cache by the earlier two-module build.
  rm -rf "$CACHE/tekton-src"
  local d running
  running="$(for e in /proc/[0-9]*/exe; do readlink "$e" 2>/dev/null; done | grep -F "$CACHE/tekton-bin/" || true)"
  for d in "$CACHE"/tekton-bin/*; do
    [ -d "$d" ] && [ "$d" != "$TBIN" ] || continue
    grep -qF "$d/" <<<"$running" && continue
    rm -rf "$d"
  done
  exec 8>&-
  log "Tekton binaries built in $(( $(date +%s) - t0 ))s"
}

tekton_image_ref() { echo "$TEKTON_IMAGE_PREFIX-$1:$(tekton_pipeline_version)"; }

# The TaskRun pods' images, built from the binaries above and loaded into real-0's containerd.
tekton_load_images() {
  local nbin N b out
  nbin="$(cat "$STATE/nodebindir")"; N="$STATE/node"
  for b in entrypoint nop workingdirinit sidecarlogresults; do
    out="$("$nbin/imagebuild" -spec "$TC/images/tekton-ko-app.json" -out-dir "$CACHE/images" \
      -var "REFERENCE=$(tekton_image_ref "$b")" -var "NAME=$b" -var "BINARY=$TBIN/$b" \
      -var "VERSION=$(tekton_pipeline_version)")" || die "building the image of $b failed"
    "$nbin/ctr" --address "$N/containerd.sock" -n k8s.io images import --platform linux/amd64 "$out" >/dev/null \
      || die "ctr images import $out failed"
  done
  "$nbin/ctr" --address "$N/containerd.sock" -n k8s.io images ls -q | grep -qxF "$TEKTON_SHELL_IMAGE" \
    || die "the shell image $TEKTON_SHELL_IMAGE is not loaded on $REAL_NODE_NAME"
}

# The executor image of this tree, the Tasks' default image (as `up` loads it). After Tekton is
# ready: while Tekton's webhook configurations exist and it does not answer, nobody can create
# Tekton objects in this cluster.
tekton_load_executor_image() {
  NBIN="$(cat "$STATE/nodebindir")"
  # 7>&-: cargo and the image tools must not hold the Tekton state lock.
  node_load_images 7>&-
}

tekton_pid_alive() { # name
  local f pid
  f="$(tekton_dir)/pids/$1.pid"
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in "$CACHE"/tekton-bin/*) return 0 ;; esac
  return 1
}

tekton_start() { # name binary env...
  local name="$1" bin="$2" D; shift 2
  D="$(tekton_dir)"
  log "starting $name"
  # setsid: they must outlive this shell; 7>&- 8>&- 9>&-: do not hold our locks.
  setsid env "$@" "$bin" "${TEKTON_ARGS[@]}" >>"$D/logs/$name.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
  echo $! > "$D/pids/$name.pid"
}

# The webhook's serving certificate, issued by the test cluster's CA for the Service's names.
tekton_webhook_cert() {
  local D P="$STATE/pki" svc="tekton-pipelines-webhook"
  D="$(tekton_dir)/pki"
  mkdir -p "$D"
  [ -f "$D/webhook.crt" ] && openssl x509 -in "$D/webhook.crt" -noout -checkend 86400 >/dev/null 2>&1 \
    && openssl verify -CAfile "$P/ca.crt" "$D/webhook.crt" >/dev/null 2>&1 && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$D/webhook.key" 2>/dev/null \
    && openssl pkcs8 -topk8 -nocrypt -in "$D/webhook.key" -out "$D/webhook.pk8" \
    && mv "$D/webhook.pk8" "$D/webhook.key" \
    && openssl req -new -key "$D/webhook.key" -subj "/CN=$svc.$TEKTON_NAMESPACE.svc" -out "$D/webhook.csr" \
    && printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
      "$svc" "$svc" "$TEKTON_NAMESPACE" "$svc" "$TEKTON_NAMESPACE" "$svc" "$TEKTON_NAMESPACE" > "$D/webhook.ext" \
    && openssl x509 -req -in "$D/webhook.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
      -days 30 -sha256 -extfile "$D/webhook.ext" -out "$D/webhook.crt" 2>/dev/null \
    || die "issuing the webhook's certificate failed"
}

# Tekton's release configuration from the module, without the Deployments and with the changes
# named at the top of this file, applied server-side.
tekton_apply_config() { # webhook-port
  local port="$1" src D f
  src="$(tekton_pipeline_source)/config"
  D="$(tekton_dir)"
  local files=("$src"/100-namespace/*.yaml "$src"/200-*.yaml "$src"/201-*.yaml "$src"/300-crds/*.yaml \
    "$src"/clusterrole-aggregate-*.yaml "$src"/config-*.yaml)
  # 500-webhooks.yaml without its empty Secret (ours carries the certificate).
  awk 'BEGIN {RS = "\n---\n"; ORS = "\n---\n"} !/\nkind: Secret\n/' "$src/500-webhooks.yaml" > "$D/500-webhooks.yaml"
  files+=("$D/500-webhooks.yaml")
  local b64; b64() { base64 -w0 < "$1"; }
  cat > "$D/out-of-cluster.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: webhook-certs
  namespace: $TEKTON_NAMESPACE
  labels: {app.kubernetes.io/component: webhook, app.kubernetes.io/part-of: tekton-pipelines}
data:
  server-key.pem: $(b64 "$D/pki/webhook.key")
  server-cert.pem: $(b64 "$D/pki/webhook.crt")
  ca-cert.pem: $(b64 "$STATE/pki/ca.crt")
---
apiVersion: v1
kind: Service
metadata:
  name: tekton-pipelines-webhook
  namespace: $TEKTON_NAMESPACE
  labels: {app.kubernetes.io/component: webhook, app.kubernetes.io/part-of: tekton-pipelines}
spec:
  ports:
    - {name: https-webhook, port: 443, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: tekton-pipelines-webhook-host
  namespace: $TEKTON_NAMESPACE
  labels:
    kubernetes.io/service-name: tekton-pipelines-webhook
    endpointslice.kubernetes.io/managed-by: modelops-testcluster
addressType: IPv4
ports:
  - {name: https-webhook, port: $port, protocol: TCP}
endpoints:
  - addresses: [$HOST_IP]
    conditions: {ready: true}
EOF
  files+=("$D/out-of-cluster.yaml")
  for f in "${files[@]}"; do [ -f "$f" ] || die "missing Tekton release file $f"; done
  "$BIN/tcutil" apply -kubeconfig "$KUBECONFIG_PATH" -timeout "${TIMEOUT}s" "${files[@]}" \
    || die "applying Tekton's release configuration failed"
}

tekton_delete_webhook_configurations() {
  local P="$STATE/pki" api item code
  api="$(sed -n 's#^apiserver=##p' "$STATE/info")"
  for item in validatingwebhookconfigurations/validation.webhook.pipeline.tekton.dev \
      mutatingwebhookconfigurations/webhook.pipeline.tekton.dev \
      validatingwebhookconfigurations/config.webhook.pipeline.tekton.dev; do
    code="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
      -X DELETE "$api/apis/admissionregistration.k8s.io/v1/$item")" || code=none
    case "$code" in 200|202|404) ;; *) log "deleting $item failed (HTTP $code)"; return 1 ;; esac
  done
}

# Ready: the validating webhook rejects an invalid Task sent through kube-apiserver (the release's
# webhook configurations have no rules until the webhook fills them in, so an accepted object
# proves nothing), and the controller has started its reconcilers (its informers are synced).
tekton_wait_ready() {
  local D deadline P="$STATE/pki" api
  D="$(tekton_dir)"
  api="$(sed -n 's#^apiserver=##p' "$STATE/info")"
  deadline=$(( $(date +%s) + TIMEOUT ))
  local task='{"apiVersion":"tekton.dev/v1","kind":"Task","metadata":{"name":"tekton-ready"},"spec":{"steps":[{"name":"no-image","command":["true"]}]}}'
  local out=""
  until out="$(curl -sS --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" \
      -H 'Content-Type: application/json' -X POST -d "$task" \
      "$api/apis/tekton.dev/v1/namespaces/default/tasks?dryRun=All" 2>&1)" \
      && grep -q 'admission webhook \\"validation.webhook.pipeline.tekton.dev\\" denied the request' <<<"$out"; do
    tekton_pid_alive tekton-webhook || { tail -n 40 "$D/logs/tekton-webhook.log" >&2; die "the Tekton webhook exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$D/logs/tekton-webhook.log" >&2; die "the Tekton webhook did not validate a Task within ${TIMEOUT}s: $out"; }
    sleep 1
  done
  until grep -q 'Starting controllers' "$D/logs/tekton-controller.log" 2>/dev/null; do
    tekton_pid_alive tekton-controller || { tail -n 40 "$D/logs/tekton-controller.log" >&2; die "the Tekton controller exited"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$D/logs/tekton-controller.log" >&2; die "the Tekton controller did not start its reconcilers within ${TIMEOUT}s"; }
    sleep 1
  done
}

tekton_up() {
  [ -f "$STATE/info" ] && [ -f "$STATE/bindir" ] || die "no cluster in $STATE (run '$0 up' first)"
  has_real_node || die "Tekton's TaskRun pods need the real node: start the cluster with MODELOPS_TESTCLUSTER_REAL_NODE=1 $0 up"
  command -v openssl >/dev/null || die "openssl is needed for the webhook's certificate"
  command -v curl >/dev/null || die "curl is needed to check the webhook"
  BIN="$(cat "$STATE/bindir")"
  tekton_build
  local D; D="$(tekton_dir)"
  exec 7>"$STATE/tekton.lock"
  flock 7
  mkdir -p "$D/pids" "$D/logs"
  echo "$TBIN" > "$D/bindir"
  local t0; t0=$(date +%s)
  tekton_load_images 7>&-
  tekton_webhook_cert
  local running=1 p
  for p in "${TEKTON_PROCESSES[@]}"; do
    tekton_pid_alive "$p" && [ "$(readlink "/proc/$(cat "$D/pids/$p.pid")/exe")" = "$TBIN/${p#tekton-}" ] || running=0
  done
  if [ "$running" = 1 ]; then
    tekton_apply_config "$(cat "$D/webhook-port")"
    tekton_wait_ready
    log "Tekton Pipelines $(tekton_pipeline_version) already running"
    tekton_load_executor_image
    echo "$TBIN"
    return 0
  fi
  tekton_down_impl
  mkdir -p "$D/pids" "$D/logs"
  # Webhook configurations of an earlier start (failurePolicy Fail) would reject the config
  # below while no webhook answers; the apply recreates them and the webhook fills them in.
  tekton_delete_webhook_configurations || die "cannot remove the webhook configurations of an earlier start"
  # Readiness reads the logs: start them empty (the previous ones are kept as *.log.prev).
  for p in "${TEKTON_PROCESSES[@]}"; do
    [ -f "$D/logs/$p.log" ] && mv "$D/logs/$p.log" "$D/logs/$p.log.prev"
  done
  # (Both also start knative's health probe server on :8080, which nothing configures; only one
  # of them, or neither when something else has the port, gets it. Nothing here uses those
  # probes: the loser logs "bind: address already in use" when it stops and works meanwhile.)
  local ports; mapfile -t ports < <("$BIN/tcutil" ports -n 7)
  echo "${ports[0]}" > "$D/webhook-port"
  tekton_apply_config "${ports[0]}"
  local common=(KUBECONFIG="$KUBECONFIG_PATH" SYSTEM_NAMESPACE="$TEKTON_NAMESPACE" KUBERNETES_MIN_VERSION=v1.28.0
    CONFIG_LOGGING_NAME=config-logging CONFIG_OBSERVABILITY_NAME=config-observability
    CONFIG_FEATURE_FLAGS_NAME=feature-flags METRICS_DOMAIN=tekton.dev/pipeline METRICS_PROMETHEUS_HOST=127.0.0.1)
  TEKTON_ARGS=()
  tekton_start tekton-webhook "$TBIN/webhook" "${common[@]}" WEBHOOK_PORT="${ports[0]}" PROBES_PORT="${ports[1]}" \
    METRICS_PROMETHEUS_PORT="${ports[2]}" PROFILING_PORT="${ports[3]}" CONFIG_LEADERELECTION_NAME=config-leader-election-webhook \
    WEBHOOK_SERVICE_NAME=tekton-pipelines-webhook WEBHOOK_SECRET_NAME=webhook-certs \
    WEBHOOK_ADMISSION_CONTROLLER_NAME=webhook.pipeline.tekton.dev
  TEKTON_ARGS=(-disable-ha
    -entrypoint-image "$(tekton_image_ref entrypoint)" -nop-image "$(tekton_image_ref nop)"
    -sidecarlogresults-image "$(tekton_image_ref sidecarlogresults)"
    -workingdirinit-image "$(tekton_image_ref workingdirinit)"
    -shell-image "$TEKTON_SHELL_IMAGE" -shell-image-win "$TEKTON_SHELL_IMAGE")
  tekton_start tekton-controller "$TBIN/controller" "${common[@]}" PROBES_PORT="${ports[4]}" \
    METRICS_PROMETHEUS_PORT="${ports[5]}" PROFILING_PORT="${ports[6]}" CONFIG_DEFAULTS_NAME=config-defaults \
    CONFIG_LEADERELECTION_NAME=config-leader-election-controller CONFIG_SPIRE=config-spire
  tekton_wait_ready
  log "Tekton Pipelines $(tekton_pipeline_version) ready in $(( $(date +%s) - t0 ))s (controller and webhook on the host; logs in $D/logs)"
  tekton_load_executor_image
  echo "$TBIN"
}

tekton_down_impl() {
  local p f pid n
  for p in tekton-controller tekton-webhook; do
    f="$(tekton_dir)/pids/$p.pid"
    [ -f "$f" ] || continue
    if tekton_pid_alive "$p"; then
      pid="$(cat "$f")"
      log "stopping $p (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for n in $(seq 1 100); do tekton_pid_alive "$p" || break; sleep 0.1; done
      tekton_pid_alive "$p" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

# Stops the controller and the webhook and removes the webhook configurations (failurePolicy
# Fail: left behind, they would make every create of a Tekton object fail). The CRDs, the
# namespace and the ConfigMaps stay; `down` of the cluster removes everything with etcd's data.
tekton_down() {
  [ -d "$(tekton_dir)" ] || return 0
  exec 7>"$STATE/tekton.lock"
  flock 7
  tekton_down_impl
  if [ -f "$STATE/info" ] && [ -f "$STATE/pki/admin.crt" ]; then
    tekton_delete_webhook_configurations || true
  fi
  exec 7>&-
}
