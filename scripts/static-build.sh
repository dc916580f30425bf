#!/usr/bin/env bash
# Builds the static binary the Dockerfile builds, with the local toolchain (there is no container
# engine here), and proves it is what the image needs:
#   1. x86_64-unknown-linux-musl, or, when that target cannot be installed, glibc with
#      `-C target-feature=+crt-static` (what the Dockerfile falls back to as well);
#   2. not dynamically linked (file + ldd);
#   3. alone in an empty directory, with an empty environment (env -i) and, when run as root,
#      as UID/GID 65532 like the image's USER: `--version`, and an offline `render` of
#      examples/batch-fraud against a copy of charts/modelops;
#   4. prints the size (recorded in docs/benchmarks.md).
#
# The build directory is ~/.cache/modelops-executor/static-target (outside the clone, reused).
# Usage: scripts/static-build.sh [--gnu]     (--gnu: skip musl, use glibc + crt-static)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${MODELOPS_STATIC_TARGET_DIR:-$HOME/.cache/modelops-executor/static-target}"
export CARGO_TERM_COLOR=never
export MODELOPS_GIT_COMMIT="${MODELOPS_GIT_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"

target=x86_64-unknown-linux-musl
if [ "${1:-}" = "--gnu" ]; then
  target=x86_64-unknown-linux-gnu
elif ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "== rustup target add $target"
  if ! rustup target add "$target"; then
    echo "static-build: the musl target cannot be installed; using glibc with crt-static" >&2
    target=x86_64-unknown-linux-gnu
  fi
fi

# ring compiles C and assembly: for musl, cc-rs looks for x86_64-linux-musl-gcc; musl-gcc
# (Debian's musl-tools) or the host gcc work as well (ring needs no libc headers of musl).
if [ "$target" = x86_64-unknown-linux-musl ] && [ -z "${CC_x86_64_unknown_linux_musl:-}" ] \
  && ! command -v x86_64-linux-musl-gcc >/dev/null; then
  if command -v musl-gcc >/dev/null; then
    export CC_x86_64_unknown_linux_musl=musl-gcc
  else
    export CC_x86_64_unknown_linux_musl=gcc
  fi
fi

start=$(date +%s)
echo "== cargo build --release --target $target (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
if [ "$target" = x86_64-unknown-linux-gnu ]; then
  # glibc static: getaddrinfo would need NSS modules at run time; the binary resolves names only
  # through the API server and IR URLs, which work from /etc/hosts and DNS without NSS plugins.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" cargo build --release --locked --target "$target" --bin modelops-executor
else
  cargo build --release --locked --target "$target" --bin modelops-executor
fi
build_seconds=$(( $(date +%s) - start ))
bin="$CARGO_TARGET_DIR/$target/release/modelops-executor"

echo "== linkage"
file_out=$(file -L "$bin")
echo "$file_out"
case "$file_out" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *) echo "static-build: $bin is dynamically linked" >&2; exit 1 ;;
esac
ldd_out=$(ldd "$bin" 2>&1 || true)
echo "ldd: $ldd_out"
case "$ldd_out" in
  *"not a dynamic executable"* | *"statically linked"*) ;;
  *) echo "static-build: ldd lists shared libraries" >&2; exit 1 ;;
esac

echo "== run from an empty directory with an empty environment"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/chart" "$work/inputs"
cp "$bin" "$work/bin/modelops-executor"
cp -r charts/modelops "$work/chart/modelops"
cp -r examples/batch-fraud examples/channels "$work/inputs/"
chmod -R a+rX "$work"
run=(env -i)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  run=(setpriv --reuid=65532 --regid=65532 --clear-groups env -i)
fi
cd "$work/bin"
[ "$(ls -A .)" = modelops-executor ] || { echo "static-build: the run directory is not empty" >&2; exit 1; }
version=$("${run[@]}" ./modelops-executor --version)
echo "$version"
case "$version" in
  "modelops-executor "*"(commit $MODELOPS_GIT_COMMIT)") ;;
  *) echo "static-build: unexpected --version output" >&2; exit 1 ;;
esac
"${run[@]}" ./modelops-executor render --ir ../inputs/batch-fraud --channels ../inputs/channels \
  --chart ../chart/modelops --job-id static-check --namespace scoring >"$work/rendered.yaml"
for kind in Deployment Service ConfigMap Job HorizontalPodAutoscaler; do
  grep -q "^kind: $kind\$" "$work/rendered.yaml" || { echo "static-build: render produced no $kind" >&2; exit 1; }
done
echo "render: $(grep -c '^kind:' "$work/rendered.yaml") objects"
cd "$repo"

# scripts/testcluster.sh puts this binary into the executor image of the real test node.
echo "$bin" > "$CARGO_TARGET_DIR/modelops-executor.path"
bytes=$(stat -c %s "$bin")
echo "== static binary: $target, $bytes bytes ($(( bytes / 1024 / 1024 )) MiB), built in ${build_seconds} s"
