#!/usr/bin/env bash
# Real object-store servers on this machine for the fetch-models tests and benchmark
# (issue 15, docs/artifact-stores.md). Nothing here is a hand-written fake:
#   S3     moto's server mode (PyPI `moto[server]`), with IAM authentication switched on, so a
#          wrong key or secret is refused with 403 as by AWS. Chosen over MinIO because it
#          installs from PyPI in seconds, where MinIO is a large Go build; it keeps objects in
#          memory, which is fine for the test sizes (<= 300 MB).
#   GCS    fake-gcs-server, built from its Go module (it does not check credentials).
#   Azure  Azurite's blob service (npm), which checks Shared Key signatures.
#   HTTPS  Python's http.server behind TLS with a certificate from a test CA made here.
#
#   scripts/artifact-stores.sh up      install (cached) and start all four; print `export` lines
#   scripts/artifact-stores.sh s3      start only the S3 store (if not running); print the exports
#                                      (likewise `gcs`, `azure`, `https`)
#   scripts/artifact-stores.sh env     print the `export` lines of the running stores
#   scripts/artifact-stores.sh down    stop exactly the processes `up` started
#
# Exports: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
# MODELOPS_TEST_BUCKET (an existing bucket); MODELOPS_TEST_GCS_CREDENTIALS (a credentials file
# pointing at fake-gcs-server), MODELOPS_TEST_GCS_BUCKET; MODELOPS_TEST_AZURE_ENDPOINT,
# MODELOPS_TEST_AZURE_ACCOUNT, MODELOPS_TEST_AZURE_KEY, MODELOPS_TEST_AZURE_CONTAINER;
# MODELOPS_TEST_HTTPS_URL, MODELOPS_TEST_HTTPS_DIR, MODELOPS_TEST_CA_FILE.
#
# Environment:
#   MODELOPS_ARTIFACT_STORES_CACHE  installs, keyed by tool version (default ~/.cache/modelops-artifact-stores)
#   MODELOPS_ARTIFACT_STORES_DIR    state of the running stores (default $CACHE/run)
#   MODELOPS_ARTIFACT_STORES_HOST   address the stores listen on and are reached at (default
#                                   127.0.0.1; the real node's pods need an address they reach)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MODELOPS_ARTIFACT_STORES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops-artifact-stores}"
STATE="${MODELOPS_ARTIFACT_STORES_DIR:-$CACHE/run}"
HOST="${MODELOPS_ARTIFACT_STORES_HOST:-127.0.0.1}"
# Tool versions: the cache keys.
MOTO_VERSION=5.2.5
AZURE_BLOB_VERSION=12.28.0
AZURITE_VERSION=3.37.0
FAKE_GCS_VERSION=v1.56.1
PYTHON="${PYTHON:-python3}"

S3_ACCESS_KEY_FILE="$STATE/s3-credentials"
TEST_BUCKET=modelops-test
GCS_BUCKET=modelops-test
AZURE_CONTAINER=modelops-test
# Azurite's documented development account (public; not a secret).
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

log() { printf '[artifact-stores %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

python_key() { "$PYTHON" -c 'import sys; print("py%d.%d" % sys.version_info[:2])'; }
VENV="$CACHE/venv-moto-$MOTO_VERSION-azblob-$AZURE_BLOB_VERSION-$(python_key)"
AZURITE_DIR="$CACHE/azurite-$AZURITE_VERSION"
GCS_DIR="$CACHE/fake-gcs-server-$FAKE_GCS_VERSION-$(go env GOVERSION 2>/dev/null || echo nogo)"

install_python() {
  [ -f "$VENV/.complete" ] && return
  log "installing moto[server]==$MOTO_VERSION and azure-storage-blob==$AZURE_BLOB_VERSION into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "azure-storage-blob==$AZURE_BLOB_VERSION" >&2
  touch "$VENV/.complete"
}

install_azurite() {
  [ -x "$AZURITE_DIR/node_modules/.bin/azurite-blob" ] && return
  log "installing azurite@$AZURITE_VERSION into $AZURITE_DIR"
  rm -rf "$AZURITE_DIR.tmp"; mkdir -p "$AZURITE_DIR.tmp"
  npm install --silent --no-audit --no-fund --prefix "$AZURITE_DIR.tmp" "azurite@$AZURITE_VERSION" >&2
  rm -rf "$AZURITE_DIR"; mv "$AZURITE_DIR.tmp" "$AZURITE_DIR"
}

install_gcs() {
  [ -x "$GCS_DIR/fake-gcs-server" ] && return
  log "building fake-gcs-server@$FAKE_GCS_VERSION into $GCS_DIR (first time only)"
  rm -rf "$GCS_DIR.tmp"; mkdir -p "$GCS_DIR.tmp"
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$GCS_DIR.tmp" GOFLAGS=-buildvcs=false \
    go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
  rm -rf "$GCS_DIR"; mv "$GCS_DIR.tmp" "$GCS_DIR"
}

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { # name
  local pid
  pid="$(cat "$STATE/$1.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null
}

wait_port() { # name port
  local i
  for i in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/$HOST/$2") 2>/dev/null; then return 0; fi
    alive "$1" || { tail -n 30 "$STATE/$1.log" >&2; die "$1 exited"; }
    sleep 0.2
  done
  tail -n 30 "$STATE/$1.log" >&2; die "$1 did not listen on $HOST:$2"
}

start_bg() { # name port command...
  local name=$1 port=$2; shift 2
  mkdir -p "$STATE"
  setsid "$@" >"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
  echo "$port" >"$STATE/$name.port"
  wait_port "$name" "$port"
}

start_s3() {
  alive s3 && return
  install_python
  local port; port="$(free_port)"
  # IAM authentication after the 3 set-up calls below: then every request must be signed with
  # the key made here, and anything else is refused with 403.
  INITIAL_NO_AUTH_ACTION_COUNT=3 start_bg s3 "$port" "$VENV/bin/moto_server" -H "$HOST" -p "$port"
  "$VENV/bin/python" "$ROOT/testcluster/artifact-stores/setup_s3.py" "http://$HOST:$port" "$TEST_BUCKET" >"$S3_ACCESS_KEY_FILE"
  log "S3 (moto) on http://$HOST:$port, bucket $TEST_BUCKET"
}

start_gcs() {
  alive gcs && return
  install_gcs
  local port; port="$(free_port)"
  start_bg gcs "$port" "$GCS_DIR/fake-gcs-server" -scheme http -host "$HOST" -port "$port" \
    -backend memory -public-host "$HOST:$port" -external-url "http://$HOST:$port" -log-level warn
  curl -fsS -X POST -H 'content-type: application/json' -d "{\"name\":\"$GCS_BUCKET\"}" \
    "http://$HOST:$port/storage/v1/b?project=modelops-test" >/dev/null
  # object_store reads the store's address from the credentials file (as its own CI does).
  cat >"$STATE/gcs-credentials.json" <<JSON
{"gcs_base_url": "http://$HOST:$port", "disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": ""}
JSON
  log "GCS (fake-gcs-server) on http://$HOST:$port, bucket $GCS_BUCKET"
}

start_azure() {
  alive azure && return
  install_azurite; install_python
  local port; port="$(free_port)"
  mkdir -p "$STATE/azurite"
  start_bg azure "$port" "$AZURITE_DIR/node_modules/.bin/azurite-blob" --blobHost "$HOST" \
    --blobPort "$port" --location "$STATE/azurite" --skipApiVersionCheck --disableProductStyleUrl
  "$VENV/bin/python" "$ROOT/testcluster/artifact-stores/setup_azure.py" \
    "http://$HOST:$port/$AZURE_ACCOUNT" "$AZURE_ACCOUNT" "$AZURE_KEY" "$AZURE_CONTAINER"
  log "Azure (Azurite) on http://$HOST:$port/$AZURE_ACCOUNT, container $AZURE_CONTAINER"
}

start_https() {
  alive https && return
  local pki="$STATE/pki" port; port="$(free_port)"
  mkdir -p "$pki" "$STATE/www"
  if [ ! -f "$pki/server.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=modelops test CA" \
      -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST" \
      -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:%s,DNS:localhost\nbasicConstraints=CA:FALSE\n' "$HOST" >"$pki/ext.cnf"
    openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
      -CAcreateserial -days 30 -extfile "$pki/ext.cnf" -out "$pki/server.pem" 2>/dev/null
  fi
  start_bg https "$port" "$PYTHON" "$ROOT/testcluster/artifact-stores/https_server.py" \
    "$HOST" "$port" "$STATE/www" "$pki/server.pem" "$pki/server.key"
  log "HTTPS (test CA $pki/ca.pem) on https://$HOST:$port serving $STATE/www"
}

print_env() {
  if alive s3; then
    local key secret
    read -r key secret <"$S3_ACCESS_KEY_FILE"
    echo "export AWS_ENDPOINT_URL=http://$HOST:$(cat "$STATE/s3.port")"
    echo "export AWS_ACCESS_KEY_ID=$key"
    echo "export AWS_SECRET_ACCESS_KEY=$secret"
    echo "export AWS_REGION=us-east-1"
    echo "export MODELOPS_TEST_BUCKET=$TEST_BUCKET"
  fi
  if alive gcs; then
    echo "export MODELOPS_TEST_GCS_CREDENTIALS=$STATE/gcs-credentials.json"
    echo "export MODELOPS_TEST_GCS_BUCKET=$GCS_BUCKET"
  fi
  if alive azure; then
    echo "export MODELOPS_TEST_AZURE_ENDPOINT=http://$HOST:$(cat "$STATE/azure.port")/$AZURE_ACCOUNT"
    echo "export MODELOPS_TEST_AZURE_ACCOUNT=$AZURE_ACCOUNT"
    echo "export MODELOPS_TEST_AZURE_KEY='$AZURE_KEY'"
    echo "export MODELOPS_TEST_AZURE_CONTAINER=$AZURE_CONTAINER"
  fi
  if alive https; then
    echo "export MODELOPS_TEST_HTTPS_URL=https://$HOST:$(cat "$STATE/https.port")"
    echo "export MODELOPS_TEST_HTTPS_DIR=$STATE/www"
    echo "export MODELOPS_TEST_CA_FILE=$STATE/pki/ca.pem"
  fi
}

down() {
  local name pid
  for name in https azure gcs s3; do
    pid="$(cat "$STATE/$name.pid" 2>/dev/null)" || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      log "stopped $name (pid $pid)"
    fi
    rm -f "$STATE/$name.pid" "$STATE/$name.port"
  done
  rm -rf "$STATE/azurite" "$STATE/www"
}

case "${1:-}" in
  up) start_s3; start_gcs; start_azure; start_https; print_env ;;
  s3|gcs|azure|https) "start_$1"; print_env ;;
  env) print_env ;;
  down) down ;;
  *) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
