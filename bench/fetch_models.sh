#!/usr/bin/env bash
# fetch-models benchmark (issue 15): download of one SIZE_MIB object from the local S3-compatible
# store (moto, scripts/artifact-stores.sh) by `fetch-models` versus `curl` of the same object, in
# the same run (curl signs the GET itself with --aws-sigv4: moto with IAM authentication on answers
# presigned URLs with 500, and the signature is the same work either way); median of RUNS runs
# each, alternating. Prints, for each CPU placement (below), the throughput ratio (curl time /
# fetch-models time; >= 0.8 is the target) and both peak RSS values, and a second reference that
# does fetch-models' work with standard tools: curl, then `openssl dgst -sha256` of the downloaded
# file (curl alone verifies nothing; openssl uses SHA-NI where the CPU has it, coreutils'
# `sha256sum` is 3.5 times slower here).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-300}
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/modelops-executor/target}
# BIN: a binary to measure (e.g. the static musl one scripts/static-build.sh prints); default: a
# release build of this tree.
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/modelops-executor"
fi
eval "$(scripts/artifact-stores.sh s3)"
PY="$(dirname "$(ls -d "${MODELOPS_ARTIFACT_STORES_CACHE:-$HOME/.cache/modelops-artifact-stores}"/venv-moto-*/bin/python | head -1)")/python"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KEY="bench/$SIZE_MIB-$RANDOM.bin"

# Upload random bytes (nothing compresses) with boto3 from the store's venv.
"$PY" - "$KEY" "$SIZE_MIB" <<'PYEOF'
import os, sys, boto3
key, size = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
s3.put_object(Bucket=os.environ["MODELOPS_TEST_BUCKET"], Key=key, Body=os.urandom(size))
PYEOF
URL="$AWS_ENDPOINT_URL/$MODELOPS_TEST_BUCKET/$KEY"
printf '[{"name":"bench","version":"1","uri":"s3://%s/%s"}]' "$MODELOPS_TEST_BUCKET" "$KEY" >"$WORK/models.json"

# curl's signed GET of the object; the output file comes after.
CURL_GET=(curl -fsS --aws-sigv4 "aws:amz:$AWS_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$URL" -o)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure PLACEMENT CLIENT_PREFIX...: RUNS alternated downloads by fetch-models, curl and curl +
# openssl, each run under CLIENT_PREFIX (e.g. `taskset -c 1`); prints the summary line of that
# placement.
measure() {
  local placement=$1
  shift
  : >"$WORK/fetch.txt"
  : >"$WORK/curl.txt"
  : >"$WORK/verified.txt"
  for run in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/models" "$WORK/curl.bin"
    # %e elapsed seconds, %M peak RSS in KiB
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" "$BIN" -q fetch-models --models "$WORK/models.json" --model-dir "$WORK/models"
    cat "$WORK/t" >>"$WORK/fetch.txt"
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" "${CURL_GET[@]}" "$WORK/curl.bin"
    cat "$WORK/t" >>"$WORK/curl.txt"
    rm -f "$WORK/curl.bin"
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" env OUT="$WORK/curl.bin" \
      sh -c '"$@" "$OUT" && openssl dgst -sha256 "$OUT" >/dev/null' sh "${CURL_GET[@]}"
    cat "$WORK/t" >>"$WORK/verified.txt"
    echo "$placement, run $run: fetch-models $(tail -1 "$WORK/fetch.txt" | cut -d' ' -f1) s, curl $(tail -1 "$WORK/curl.txt" | cut -d' ' -f1) s, curl + openssl sha256 $(tail -1 "$WORK/verified.txt" | cut -d' ' -f1) s" >&2
  done
  cmp "$WORK/curl.bin" "$WORK/models/bench/1/$(basename "$KEY")"
  python3 - "$placement" "$SIZE_MIB" "$(cut -d' ' -f1 "$WORK/fetch.txt" | median)" "$(cut -d' ' -f1 "$WORK/curl.txt" | median)" \
    "$(cut -d' ' -f2 "$WORK/fetch.txt" | sort -n | tail -1)" "$(cut -d' ' -f2 "$WORK/curl.txt" | sort -n | tail -1)" \
    "$(cut -d' ' -f1 "$WORK/verified.txt" | median)" <<'PYEOF'
import sys
placement, size, fetch, curl, frss, crss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
verified = float(sys.argv[7])
print(f"{placement}: fetch-models {fetch:.2f} s ({size / fetch:.0f} MiB/s, peak RSS {frss / 1024:.1f} MiB); "
      f"curl {curl:.2f} s ({size / curl:.0f} MiB/s, peak RSS {crss / 1024:.1f} MiB); ratio fetch-models/curl {curl / fetch:.2f}; "
      f"curl + openssl sha256 {verified:.2f} s, ratio {verified / fetch:.2f}")
PYEOF
}

echo "object: $SIZE_MIB MiB from moto (S3), median of $RUNS runs; $(nproc) CPUs; target: ratio >= 0.8"
# Three placements. Shared: no pinning, no limit; on a 2-CPU machine the server and the client
# compete for the same cores. Limited: the client in a cgroup with a 1-CPU quota, the chart's
# `fetchModels.resources.limits.cpu` for the init container, which is what a pod gets (a quota,
# not a pinned core). Pinned: the store's server on CPU 0 and the client on CPU 1 only, as if the
# store were another machine. With one CPU, fetch-models' extra work (the sha256 of every byte,
# which curl does not do) cannot overlap the download and shows.
server=$(cat "${MODELOPS_ARTIFACT_STORES_DIR:-${MODELOPS_ARTIFACT_STORES_CACHE:-$HOME/.cache/modelops-artifact-stores}/run}/s3.pid")
measure "shared (no pinning)" env

# The 1-CPU quota: cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us), when this user may create one.
limited=""
if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  limited=/sys/fs/cgroup/modelops-fetch-bench
  mkdir -p "$limited" && echo "100000 100000" >"$limited/cpu.max"
elif [ -w /sys/fs/cgroup/cpu ]; then
  limited=/sys/fs/cgroup/cpu/modelops-fetch-bench
  mkdir -p "$limited" && echo 100000 >"$limited/cpu.cfs_period_us" && echo 100000 >"$limited/cpu.cfs_quota_us"
fi
if [ -n "$limited" ]; then
  printf '#!/bin/sh\necho $$ >%s/cgroup.procs\nexec "$@"\n' "$limited" >"$WORK/limited"
  chmod +x "$WORK/limited"
  measure "limited (1-CPU quota, as the chart's limit)" "$WORK/limited"
  rmdir "$limited" 2>/dev/null || true
else
  echo "limited: skipped, no writable cgroup cpu controller here" >&2
fi

if [ "$(nproc)" -ge 2 ]; then
  taskset -a -p -c 0 "$server" >/dev/null
  measure "pinned (server CPU 0, client CPU 1)" taskset -c 1
  taskset -a -p -c "0-$(($(nproc) - 1))" "$server" >/dev/null
fi
