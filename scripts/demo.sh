#!/usr/bin/env bash
# The main job on the bundled batch example, for real: bring up the local control plane (built
# from Go modules on first use), register the data channels, then install → wait → status →
# finally, as the Tekton tasks would. Leaves the control plane running (scripts/testcluster.sh down).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}"
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "building modelops-executor"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/modelops-executor"

step "starting the local control plane (scripts/testcluster.sh up)"
scripts/testcluster.sh up
KUBECONFIG="$(scripts/testcluster.sh kubeconfig)"
export KUBECONFIG
"$BIN" --version

step "registering the data channels (namespace datachannels) and a Windows node for STATISTICA"
scripts/testcluster.sh apply examples/channels/00-namespace.yaml examples/channels/registry.yaml testcluster/windows-node.yaml


step "the platform's object-store credentials: the local S3-compatible store and GCS emulator (scripts/artifact-stores.sh)"
# install makes the job's own credentials Secret from these (--artifact-credentials from-env, as
# the Tekton Task does from the platform's Secret); finally deletes it. The example's pods run on
# the simulated kwok nodes, so nothing is downloaded here (tests/real_node.rs downloads for real).
eval "$(scripts/artifact-stores.sh s3)"
eval "$(scripts/artifact-stores.sh gcs)"
export GOOGLE_APPLICATION_CREDENTIALS="$MODELOPS_TEST_GCS_CREDENTIALS"

JOB_ID="fraud-demo-$(date +%H%M%S)"
NS=development
RESULTS=$(mktemp -d)
step "install (job $JOB_ID in namespace $NS)"
"$BIN" install --ir examples/batch-fraud --globals examples/globals.yaml \
  --namespace "$NS" --create-namespace --artifact-credentials from-env \
  --job-id "$JOB_ID" --timeout 5m --results-dir "$RESULTS"

step "wait until scoring completes"
"$BIN" wait --job-id "$JOB_ID" --namespace "$NS" --timeout 5m --results-dir "$RESULTS"

step "status"
"$BIN" status --job-id "$JOB_ID" --namespace "$NS"

step "Tekton results written to $RESULTS"
for f in "$RESULTS"/*; do printf '%-14s %s\n' "$(basename "$f")" "$(tr '\n' ' ' <"$f")"; done

step "finally: delete everything the job created"
"$BIN" finally --job-id "$JOB_ID" --namespace "$NS" --results-dir "$RESULTS"
"$BIN" jobs --namespace "$NS"
step "done; stop the control plane with: scripts/testcluster.sh down (and the stores: scripts/artifact-stores.sh down)"
