#!/usr/bin/env bash
# validate's performance (issue 17): a job of SERVICES MLServer scoring services on the real test
# node real-0 serving MODELS scikit-learn models in all, validated LOAD_ONLY and LOAD_AND_QUERY
# (one sample request per model, answers checked). Per mode and run: validate's wall time, its
# own CPU time (user + sys) and peak RSS (its rusage), and the number of HTTP requests it sent
# (its log); against a reference in the same run: curl asking the same URLs through the same
# API server's service proxy, one after the other on one connection, and 16 at a time (the
# bound validate uses). Prints a table (medians of RUNS runs) for docs/benchmarks.md.
#
#   bench/validate.sh                      SERVICES=20 MODELS=200 RUNS=3 (defaults); BIN=path
#
# Needs the running test cluster with its real node (scripts/testcluster.sh up; never started or
# stopped here) and root (the model is trained in the MLServer image's root filesystem). The job
# (namespace sc-bench-validate-*) is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=${SERVICES:-20}
MODELS=${MODELS:-200}
RUNS=${RUNS:-3}
CONCURRENCY=16 # validate's default --concurrency
HOST_IP=10.250.0.1 # the host's address on real-0's network (scripts/testcluster-real-node.sh)
EXECUTOR_IMAGE=ghcr.io/modelops/modelops-executor:0.1.0

log() { echo "bench/validate: $*" >&2; }
die() { log "error: $*"; exit 1; }

# BIN=path: measure that binary (a release build), else build one. (In a git worktree the build
# script reruns on every build, so a release build relinks with LTO each time: minutes here.)
if [ -z "${BIN:-}" ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}
  cargo build --release --quiet --locked
  BIN="$CARGO_TARGET_DIR/release/modelops-executor"
fi
scripts/testcluster.sh status >/dev/null 2>&1 || die "the test cluster is not running (scripts/testcluster.sh up)"
KUBECONFIG="$(scripts/testcluster.sh kubeconfig)"
export KUBECONFIG
[ -f "$(dirname "$KUBECONFIG")/real-node" ] || die "the test cluster has no real node"

JOB="bv$RANDOM"
NS="sc-bench-validate-$JOB"
WORK=$(mktemp -d)
server_pid=""
finish() {
  local status=$?
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  if [ -s "$WORK/installed" ]; then
    "$BIN" -q finally --job-id "$JOB" --namespace "$NS" --force --timeout 5m >&2 || true
  fi
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$status"
}
trap finish EXIT

# The MLServer image (built here, cached) on real-0, and a model trained with its own python.
scripts/mlserver-image.sh load >&2
ROOTFS="$(scripts/mlserver-image.sh rootfs)"
TRAIN="tmp/bench-validate-$JOB"
mkdir -p "$ROOTFS/$TRAIN"
cat >"$ROOTFS/$TRAIN/train.py" <<'EOF'
import json, sys
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(X, y)
joblib.dump(model, sys.argv[1] + "/model.joblib")
row = X[100].tolist()
json.dump({"row": row, "prediction": int(model.predict([row])[0])}, open(sys.argv[1] + "/sample.json", "w"))
EOF
chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /opt/mlserver/venv/bin/python "/$TRAIN/train.py" "/$TRAIN"
mkdir -p "$WORK/artifacts"
mv "$ROOTFS/$TRAIN/model.joblib" "$ROOTFS/$TRAIN/sample.json" "$WORK/artifacts/"
rm -rf "${ROOTFS:?}/$TRAIN"

# The model store: plain HTTP on the host address, which pods on real-0 reach.
python3 - "$WORK/artifacts" "$WORK/port" <<'EOF' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("10.250.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
EOF
server_pid=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || die "the model store did not start"
ARTIFACT="http://$HOST_IP:$(cat "$WORK/port")/model.joblib"
SHA256=$(sha256sum "$WORK/artifacts/model.joblib" | cut -d' ' -f1)

python3 bench/validate_job.py "$WORK" --services "$SERVICES" --models "$MODELS" --job-id "$JOB" \
  --artifact "$ARTIFACT" --sha256 "$SHA256" --sample "$WORK/artifacts/sample.json" \
  --executor-image "$EXECUTOR_IMAGE"
scripts/testcluster.sh apply examples/channels/00-namespace.yaml examples/channels/registry.yaml >/dev/null

log "installing job $JOB in namespace $NS: $SERVICES MLServer services, $MODELS models"
echo yes >"$WORK/installed"
t0=$(date +%s.%N)
"$BIN" -q install --ir "$WORK/ir" --chart charts/modelops --globals examples/globals.yaml \
  --namespace "$NS" --create-namespace --job-id "$JOB" -f "$WORK/values.yaml" --timeout 20m >/dev/null
t1=$(date +%s.%N)
INSTALL_S=$(echo "$t1 - $t0" | bc)
log "install (until every server is ready) took ${INSTALL_S}s"

# The reference client: curl with the kubeconfig's client certificate, the same proxy URLs.
kubeconfig_field() { awk -v k="$1:" '$1 == k {print $2; exit}' "$KUBECONFIG"; }
SERVER=$(kubeconfig_field server)
kubeconfig_field certificate-authority-data | base64 -d >"$WORK/ca.crt"
kubeconfig_field client-certificate-data | base64 -d >"$WORK/client.crt"
kubeconfig_field client-key-data | base64 -d >"$WORK/client.key"
# One curl config per mode: a section per request (`next` resets the per-request options, so each
# section carries the credentials), each printing its status.
python3 - "$WORK" "$SERVER" "$NS" <<'EOF'
import json, sys
work, server, ns = sys.argv[1:]
request = json.load(open(f"{work}/requests.yaml"))["models"][0]["requests"][0]["request"]
json.dump(request, open(f"{work}/infer.json", "w"))
common = (f'cacert = "{work}/ca.crt"\ncert = "{work}/client.crt"\nkey = "{work}/client.key"\n'
          'silent\nshow-error\noutput = "/dev/null"\nwrite-out = "%{http_code}\\n"\n')
with open(f"{work}/load-only.curl", "w") as ready, open(f"{work}/load-and-query.curl", "w") as query:
    def ask(configs, url, extra=""):
        for config in configs:
            config.write(f'url = "{url}"\n{common}{extra}next\n')
    for line in open(f"{work}/services.txt"):
        service, *models = line.split()
        base = f"{server}/api/v1/namespaces/{ns}/services/{service}:8080/proxy/v2"
        for path in ("health/live", "health/ready"):
            ask((ready, query), f"{base}/{path}")
        for model in models:
            url = f"{base}/models/{model}/versions/1"
            ask((ready, query), f"{url}/ready")
            ask((query,), f"{url}/infer",
                f'data = "@{work}/infer.json"\nheader = "Content-Type: application/json"\n')
# No `next` after the last request (curl: "no URL specified").
for mode in ("load-only", "load-and-query"):
    text = open(f"{work}/{mode}.curl").read()
    open(f"{work}/{mode}.curl", "w").write(text.removesuffix("next\n"))
EOF

# "wall user sys maxrss_kb" of a command (the child's rusage, as /usr/bin/time reports it, in
# microseconds rather than /usr/bin/time's hundredths); stdout to $WORK/out, stderr to $WORK/err.
timed() {
  python3 - "$WORK" "$@" <<'EOF' || die "$* failed: $(tail -5 "$WORK/err")"
import resource, subprocess, sys, time
work, command = sys.argv[1], sys.argv[2:]
started = time.monotonic()
with open(f"{work}/out", "w") as out, open(f"{work}/err", "w") as err:
    status = subprocess.run(command, stdout=out, stderr=err).returncode
wall = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.4f} {usage.ru_utime:.4f} {usage.ru_stime:.4f} {usage.ru_maxrss}")
sys.exit(status)
EOF
}

# Every curl answer must be 200 (-w prints each status), so the reference did the same work.
curl_ref() { # mode parallel(0|1) → "wall user sys maxrss requests"
  local mode=$1 parallel=$2 extra=()
  [ "$parallel" = 1 ] && extra=(--parallel --parallel-max "$CONCURRENCY")
  local t
  t=$(timed curl "${extra[@]}" -K "$WORK/$mode.curl")
  local total ok
  total=$(wc -l <"$WORK/out")
  ok=$(grep -c '^200$' "$WORK/out" || true)
  [ "$total" = "$ok" ] || die "curl ($mode): $ok of $total answers were 200"
  echo "$t $total"
}

validate_run() { # mode → "wall user sys maxrss requests"
  local mode=$1 extra=()
  [ "$mode" = load-and-query ] && extra=(--requests "$WORK/requests.yaml")
  local t
  t=$(timed "$BIN" validate --job-id "$JOB" --namespace "$NS" --mode "$mode" "${extra[@]}" --log-format json)
  local blessed
  blessed=$(grep -c ': blessed (' "$WORK/out" || true)
  [ "$blessed" = "$MODELS" ] || { cat "$WORK/out" >&2; die "validate ($mode): $blessed of $MODELS models blessed"; }
  local requests
  requests=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    event = json.loads(line)
    if event.get("message") == "validation finished":
        print(event["requests"])' "$WORK/err")
  [ -n "$requests" ] || { cat "$WORK/err" >&2; die "validate ($mode) logged no request count"; }
  echo "$t $requests"
}

# One run: the three clients in turn per mode, so each sees the same servers and machine load.
# The cluster is shared (other tests restart its API server): a run in which any client failed
# is discarded whole, counted and done again. (`die` in a $(...) only ends that subshell.)
measure_run() {
  : >"$WORK/run"
  local mode line
  for mode in load-only load-and-query; do
    line=$(validate_run "$mode") || return 1
    echo "$mode validate $line" >>"$WORK/run"
    line=$(curl_ref "$mode" 0) || return 1
    echo "$mode curl-sequential $line" >>"$WORK/run"
    line=$(curl_ref "$mode" 1) || return 1
    echo "$mode curl-parallel-$CONCURRENCY $line" >>"$WORK/run"
  done
}
: >"$WORK/samples"
runs=0
discarded=0
while [ "$runs" -lt "$RUNS" ]; do
  if measure_run; then
    cat "$WORK/run" >>"$WORK/samples"
    runs=$((runs + 1))
    log "run $runs of $RUNS done"
  else
    discarded=$((discarded + 1))
    [ "$discarded" -le "$RUNS" ] || die "$discarded runs failed"
    log "run discarded ($discarded so far); again in 10 s"
    sleep 10
  fi
done

python3 - "$WORK/samples" "$SERVICES" "$MODELS" "$RUNS" "$INSTALL_S" "$discarded" <<'EOF'
import statistics, sys
path, services, models, runs, install, discarded = sys.argv[1:]
rows = {}
for line in open(path):
    mode, client, wall, user, sys_, rss, requests = line.split()
    rows.setdefault((mode, client), []).append((float(wall), float(user) + float(sys_), int(rss), int(requests)))
print(f"validate of {services} MLServer services / {models} models on real-0; medians of {runs} runs; "
      f"({discarded} runs discarded: a client failed); install until every server was ready: {float(install):.0f} s")
print()
print("| mode | client | HTTP requests | wall (min–max) | CPU, user + sys (min–max) | peak RSS |")
print("|---|---|---|---|---|---|")
med = {}
for (mode, client), samples in rows.items():
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    rss = statistics.median(s[2] for s in samples)
    requests = sorted({s[3] for s in samples})
    med[(mode, client)] = (wall, cpu)
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    print(f"| {mode} | {client} | {'/'.join(map(str, requests))} | {wall:.3f} s ({min(walls):.2f}–{max(walls):.2f}) "
          f"| {cpu:.3f} s ({min(cpus):.3f}–{max(cpus):.3f}) | {rss / 1024:.0f} MB |")
print()
for mode in ("load-only", "load-and-query"):
    v = med[(mode, "validate")]
    for client in sorted(c for m, c in med if m == mode and c != "validate"):
        r = med[(mode, client)]
        cpu = f"{v[1] / r[1]:.2f}x" if r[1] > 0 else "n/a (no CPU measured)"
        print(f"{mode}: validate / {client}: wall {v[0] / r[0]:.2f}x, CPU {cpu}")
EOF
