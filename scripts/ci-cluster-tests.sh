#!/usr/bin/env bash
# Runs the cluster integration tests (tests/testcluster.rs) against a fresh local control plane:
# builds it if needed (cached in ~/.cache/modelops-testcluster), starts it, runs
# `cargo test --test testcluster`, and always tears it down. On failure the component logs are
# printed. Extra arguments go to the test binary (e.g. a test name filter).
#
# Environment: see scripts/testcluster.sh (MODELOPS_TESTCLUSTER_CACHE, MODELOPS_TESTCLUSTER_DIR,
# MODELOPS_TESTCLUSTER_NODES, MODELOPS_TESTCLUSTER_TIMEOUT). CARGO (default cargo) and
# CARGO_TEST_FLAGS (e.g. --locked) are honoured. MODELOPS_CLUSTER_TEST_TARGETS selects what
# `cargo test` runs with the cluster up (default `--test testcluster`; e.g. `--all-targets` to
# run every test, with MODELOPS_TEST_KUBECONFIG set, against the cluster).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TCS="$ROOT/scripts/testcluster.sh"
cd "$ROOT"

# A CI-private state directory unless one was given, so a developer's cluster is never touched.
export MODELOPS_TESTCLUSTER_DIR="${MODELOPS_TESTCLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops-testcluster/ci-run-$$}"

status=1
started=0
finish() {
  local rc=$?
  [ "$status" -eq 0 ] || [ "$rc" -ne 0 ] || status=$rc
  if [ "$status" -ne 0 ] || [ "$rc" -ne 0 ]; then
    echo "::group::testcluster component logs (failure)" >&2
    MODELOPS_TESTCLUSTER_LOG_LINES="${MODELOPS_TESTCLUSTER_LOG_LINES:-300}" "$TCS" logs >&2 || true
    echo "::endgroup::" >&2
  fi
  if [ "$started" -eq 1 ]; then
    "$TCS" down || true
  fi
  rm -rf "$MODELOPS_TESTCLUSTER_DIR" "$MODELOPS_TESTCLUSTER_DIR.lock"
}
trap finish EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
"$TCS" build >/dev/null
t1=$(date +%s)
echo "testcluster: build (cached or fresh) took $((t1 - t0))s" >&2
started=1
KUBECONFIG_PATH="$("$TCS" up)"
t2=$(date +%s)
echo "testcluster: up took $((t2 - t1))s; kubeconfig $KUBECONFIG_PATH" >&2
"$TCS" status >&2 || true

export MODELOPS_TEST_KUBECONFIG="$KUBECONFIG_PATH"
set +e
# shellcheck disable=SC2086
"${CARGO:-cargo}" test ${CARGO_TEST_FLAGS:-} ${MODELOPS_CLUSTER_TEST_TARGETS:---test testcluster} -- "$@"
status=$?
set -e
echo "testcluster: tests took $(( $(date +%s) - t2 ))s (exit $status)" >&2
exit "$status"
