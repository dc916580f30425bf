#!/usr/bin/env bash
# Validates every object in tekton/ (and the build-plan golden Pipeline) with Tekton's own code:
# the Go module tekton/validate decodes them strictly into the tekton.dev/v1 and Kubernetes types
# and runs Tekton's SetDefaults + Validate, then cross-checks references, RBAC and the CLI flags.
#
#   scripts/tekton-validate.sh                 run the checks (go test)
#   scripts/tekton-validate.sh --update-crds   refresh tekton/crds/ from the pinned Tekton module
#
# Go caches stay outside the repository: GOMODCACHE and GOCACHE keep their defaults (~/go/pkg/mod,
# ~/.cache/go-build) unless set. GOTOOLCHAIN=local: the pinned module needs no newer Go.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=readonly"

if ! command -v go >/dev/null; then
  echo "tekton-validate: go is not installed" >&2
  exit 1
fi

if [ "${1:-}" = "--update-crds" ]; then
  module_dir=$(cd tekton/validate && go list -m -f '{{.Dir}}' github.com/tektoncd/pipeline)
  version=$(cd tekton/validate && go list -m -f '{{.Version}}' github.com/tektoncd/pipeline)
  for crd in 300-task.yaml 300-pipeline.yaml 300-pipelinerun.yaml; do
    install -m 0644 "$module_dir/config/300-crds/$crd" "tekton/crds/$crd"
  done
  echo "tekton/crds/ updated from github.com/tektoncd/pipeline $version"
  exit 0
fi

start=$(date +%s)
# The Go tests check the Tasks against the binary's own description of its command line and
# results (`modelops-executor interface`), from this tree.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}"
cargo build --quiet --locked --bin modelops-executor
interface=$(mktemp)
trap 'rm -f "$interface"' EXIT
"$CARGO_TARGET_DIR/debug/modelops-executor" interface > "$interface"
export MODELOPS_INTERFACE_JSON="$interface"
(cd tekton/validate && go test -count=1 ./...)
echo "tekton-validate: passed in $(( $(date +%s) - start )) s"
