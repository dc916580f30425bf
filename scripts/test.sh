#!/usr/bin/env bash
# Every test of the project: unit tests, the real binary against golden files and the bad-input
# corpus, property tests, and the integration tests against the local Kubernetes control plane
# (scripts/testcluster.sh; built from Go modules on first use, cached in ~/.cache).
#
# A cluster that was already running is used and left running; one started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}"

# The cluster has the real node real-0 unless MODELOPS_TESTCLUSTER_REAL_NODE=0 (scripts/testcluster.sh);
# the tests read the same variable to tell "no real node on purpose" (its tests reported ignored)
# from "the real node is missing" (a failure).
export MODELOPS_TESTCLUSTER_REAL_NODE="${MODELOPS_TESTCLUSTER_REAL_NODE:-1}"

started_here=0
if ! scripts/testcluster.sh status >/dev/null 2>&1; then
  started_here=1
fi
prebuild_pids=()
# Each cargo test run's output, kept so a failure is summed up again after the control plane's
# logs: a CI that shows only the end of the output then still names the failed tests. A failed
# run's outputs and the cluster's logs are also copied to $failed_run (the next `up` overwrites
# the logs).
test_outputs="$(mktemp -d)"
failed_run="$HOME/.cache/modelops-executor/last-failed-run"
test_runs=0
run_tests() { # cargo test ARGS...
  test_runs=$((test_runs + 1))
  cargo test "$@" 2>&1 | tee "$test_outputs/$test_runs.log"
}
finish() {
  local status=$?
  local pid output
  # Background builds still running (a test failed first): stop them and their children.
  for pid in "${prebuild_pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "== tests failed (exit $status); control plane logs follow ==" >&2
    scripts/testcluster.sh logs >&2 || true
    rm -rf "$failed_run" && mkdir -p "$failed_run"
    cp "$test_outputs"/*.log "$failed_run/" 2>/dev/null || true
    cp -r "$(dirname "$(scripts/testcluster.sh kubeconfig)")/logs" "$failed_run/cluster-logs" 2>/dev/null || true
    for output in "$test_outputs"/*.log; do
      [ -f "$output" ] && grep -q '^failures:$' "$output" || continue
      echo "== failed tests (again, without backtraces; whole outputs and cluster logs in $failed_run) ==" >&2
      sed -n '/^failures:$/,/^test result:/p' "$output" \
        | grep -v -E '^ +([0-9]+: |at )|^stack backtrace:$' | tail -n 150 >&2
    done
  fi
  if [ "$started_here" -eq 1 ]; then
    scripts/testcluster.sh down >&2 || true
  fi
  if [ "$stores_started_here" -eq 1 ]; then
    scripts/artifact-stores.sh down >&2 || true
  fi
  # The S3 store the real-node tests start on the node's host address (tests/real_node.rs,
  # `Store::start`): theirs, so it stops with them.
  MODELOPS_ARTIFACT_STORES_DIR="$HOME/.cache/modelops-artifact-stores/run-real-node" \
    scripts/artifact-stores.sh down >&2 || true
  exit "$status"
}
stores_started_here=0
if [ -z "$(scripts/artifact-stores.sh env)" ]; then
  stores_started_here=1
fi
trap finish EXIT

# Build the Rust tests while the control plane starts: the two together fit in 2 cores.
cargo test --no-run --all-targets --locked 2>&1 | tail -n 3 &
build_pid=$!
scripts/testcluster.sh up
# The object stores of tests/artifact_stores.rs (installed and cached on first use).
eval "$(scripts/artifact-stores.sh up)"
# What the later stages need and the first cargo test run does not, built in the background at
# low priority while those tests (mostly waiting on the cluster) run: the MLServer image of the
# real node's tests and Tekton. Cached: both finish at once when warm. Each script takes a lock,
# so a test asking for the image meanwhile waits for this build instead of racing it.
prebuild_logs="$(mktemp -d)"
# The Windows build of the binary, run under Wine (docs/artifact-stores.md, "Windows"); a debug
# build here, the release one is the Dockerfile.windows image's.
MODELOPS_WINDOWS_PROFILE="${MODELOPS_WINDOWS_PROFILE:-dev}" \
  setsid nice -n 10 scripts/windows-build.sh >"$prebuild_logs/windows.log" 2>&1 &
prebuild_pids+=("$!")
if [ "$MODELOPS_TESTCLUSTER_REAL_NODE" = 1 ]; then
  setsid nice -n 10 scripts/mlserver-image.sh load >"$prebuild_logs/mlserver.log" 2>&1 &
  prebuild_pids+=("$!")
  setsid nice -n 10 scripts/testcluster.sh tekton build >"$prebuild_logs/tekton.log" 2>&1 &
  prebuild_pids+=("$!")
fi
prebuilt() { # waits for the background builds; prints a failed one's log
  local pid failed=0
  for pid in "${prebuild_pids[@]}"; do wait "$pid" || failed=1; done
  prebuild_pids=()
  grep -h '^== ' "$prebuild_logs"/*.log >&2 || true
  if [ "$failed" = 1 ]; then
    tail -n 40 "$prebuild_logs"/*.log >&2
    echo "a background build or check failed (Windows build, MLServer image or Tekton; logs above)" >&2
    exit 1
  fi
}
wait "$build_pid"

MODELOPS_TEST_KUBECONFIG="$(scripts/testcluster.sh kubeconfig)"
export MODELOPS_TEST_KUBECONFIG
if [ "$MODELOPS_TESTCLUSTER_REAL_NODE" = 1 ] && [ ! -f "$(dirname "$MODELOPS_TEST_KUBECONFIG")/real-node" ]; then
  echo "the running cluster ($(dirname "$MODELOPS_TEST_KUBECONFIG")) has no real node: stop it (scripts/testcluster.sh down) or run with MODELOPS_TESTCLUSTER_REAL_NODE=0" >&2
  exit 1
fi
run_tests --all-targets --locked "$@"
if [ "$MODELOPS_TESTCLUSTER_REAL_NODE" != 1 ]; then
  prebuilt
fi
# The real node's tests are #[ignore]d (reported as such) unless the cluster has the real node.
if [ "$MODELOPS_TESTCLUSTER_REAL_NODE" = 1 ]; then
  prebuilt
  # The test flow runner's own unit tests (Go; the real-node test builds and runs its image).
  (cd tests/images/flow-runner && go vet ./... && go test -count=1 ./...)
  run_tests --locked --test real_node -- --ignored
  # Tekton Pipelines and tkn on the real node (built and cached on first use), then the
  # PipelineRuns of tests/tekton_e2e.rs.
  scripts/testcluster.sh tekton >/dev/null
  run_tests --locked --test tekton_e2e -- --ignored
fi
