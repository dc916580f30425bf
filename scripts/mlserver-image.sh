#!/usr/bin/env bash
# Builds the MLServer image of the runtime table (docs/runtimes.md) here, without a container
# engine or a registry, and loads it into the real test node's containerd under the python
# chart's default reference (docker.io/seldonio/mlserver:<version>-sklearn), so the charts' default
# python runtime really runs on real-0 (issue 17, docs/validation.md).
#
#   scripts/mlserver-image.sh build   build (or reuse) the image; prints the tarball's path
#   scripts/mlserver-image.sh load    build if needed and load it on the running real node
#   scripts/mlserver-image.sh rootfs  build if needed; prints the root filesystem (tests run its
#                                     python, with the image's scikit-learn, to train models)
#
# The root filesystem: Debian's minbase of the machine's own release and mirror (debootstrap, the
# apt sources of this machine) with python3.11, and a venv with the pinned
# testcluster/images/mlserver/requirements.txt from PyPI (pip inside the chroot). Packed with
# testcluster/cmd/imagebuild (testcluster/images/mlserver/image.json). Cached in
# $MODELOPS_TESTCLUSTER_CACHE/mlserver/<key>, key = hash of the requirements, the Debian release
# and mirror and ROOTFS_RECIPE; the tarball beside it is named by the hash of the spec and every
# file in it (imagebuild), so a changed spec or builder gives a new one.
#
# Needs root (debootstrap, chroot). Cold: a few minutes (docs/runtimes.md has the measurement).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MODELOPS_TESTCLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modelops-testcluster}"
STATE="${MODELOPS_TESTCLUSTER_DIR:-$CACHE/run}"
SPEC_DIR="$ROOT/testcluster/images/mlserver"
IB_SRC="$ROOT/testcluster/cmd/imagebuild"
# The python chart's default image (charts/modelops/charts/scoring-service-python/values.yaml).
MLSERVER_VERSION="$(awk -F'==' '$1 == "mlserver" {print $2}' "$SPEC_DIR/requirements.txt")"

log() { echo "mlserver-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The machine's Debian release and the mirror its apt sources name (never a host of our own).
debian_suite() { . /etc/os-release && echo "${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}"; }
debian_mirror() {
  local m
  m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $2 !~ /^\[/ && $3 !~ /security/ {print $2; exit}')"
  [ -n "$m" ] || m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')"
  [ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
  echo "$m"
}

SUITE="${DEBIAN_SUITE:-$(debian_suite)}"
MIRROR="${DEBIAN_MIRROR:-$(debian_mirror)}"

# Bump when build_rootfs changes what it makes.
ROOTFS_RECIPE=1

# The root filesystem's inputs; the image tarball is cached by imagebuild (hash of the spec and
# every file), the image builder by its sources.
key() {
  {
    cat "$SPEC_DIR/requirements.txt"
    echo "recipe=$ROOTFS_RECIPE suite=$SUITE mirror=$MIRROR"
  } | sha256sum | cut -c1-16
}

KEY="$(key)"
DIR="$CACHE/mlserver/$KEY"

# The image builder of this checkout (the node's copy in nodebindir may predate symlink support).
imagebuild_bin() {
  local h b
  h="$(cat "$IB_SRC"/go.mod "$IB_SRC"/go.sum "$IB_SRC"/main.go | sha256sum | cut -c1-16)"
  b="$CACHE/mlserver/imagebuild-$h"
  if [ ! -x "$b" ]; then
    mkdir -p "$CACHE/mlserver"
    (cd "$IB_SRC" && go build -trimpath -ldflags "-s -w" -o "$b.tmp" .) >&2 || die "building imagebuild failed"
    mv "$b.tmp" "$b"
  fi
  echo "$b"
}

build_rootfs() {
  [ -f "$DIR/rootfs.complete" ] && return 0
  [ "$(id -u)" = 0 ] || die "building the root filesystem needs root (debootstrap, chroot)"
  command -v debootstrap >/dev/null || {
    log "installing Debian's debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 \
      || die "apt-get install debootstrap failed (apt-get update first?)"
  }
  local rootfs="$DIR/rootfs" t0
  t0=$(date +%s)
  # A build that died inside debootstrap may have left its /proc mounted: never delete through it.
  if [ -d "$rootfs" ]; then
    findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  rm -rf "$rootfs"; mkdir -p "$DIR"
  log "debootstrap $SUITE (minbase, python3.11) into $rootfs"
  debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-distutils,ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR" >"$DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
  log "debootstrap took $(( $(date +%s) - t0 ))s; pip install mlserver $MLSERVER_VERSION"
  cp "$SPEC_DIR/requirements.txt" "$rootfs/tmp/requirements.txt"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # pip trusts what this machine trusts (its CA bundle may hold a CA the image's does not).
  cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$rootfs/tmp/host-ca.crt"
  # A clean environment: the host's pip settings (find-links into host directories) stay out.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PIP_CERT=/tmp/host-ca.crt \
    chroot "$rootfs" /bin/sh -ec '
      python3.11 -m venv /opt/mlserver/venv
      /opt/mlserver/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q \
        --no-deps -r /tmp/requirements.txt
      /opt/mlserver/venv/bin/pip check
      /opt/mlserver/venv/bin/python -c "import mlserver, mlserver_sklearn, sklearn; print(mlserver.__version__, sklearn.__version__)"
    ' >"$DIR/pip.log" 2>&1 || { tail -30 "$DIR/pip.log" >&2; die "pip install in the root filesystem failed (log: $DIR/pip.log)"; }
  log "installed: $(tail -1 "$DIR/pip.log") (mlserver, scikit-learn)"
  : >"$rootfs/etc/resolv.conf"
  rm -rf "$rootfs/tmp/requirements.txt" "$rootfs/tmp/host-ca.crt" "$rootfs/var/cache/apt" "$rootfs/var/lib/apt/lists" \
    "$rootfs/usr/share/doc" "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/locale"
  echo "$(( $(date +%s) - t0 ))" >"$DIR/rootfs.seconds"
  touch "$DIR/rootfs.complete"
  log "root filesystem ready in $(cat "$DIR/rootfs.seconds")s ($(du -sh "$rootfs" | cut -f1))"
}

build_image() {
  build_rootfs
  local ib out
  ib="$(imagebuild_bin)"
  out="$("$ib" -spec "$SPEC_DIR/image.json" -out-dir "$DIR" \
    -var ROOTFS="$DIR/rootfs" -var MLSERVER_VERSION="$MLSERVER_VERSION" -var SUITE="$SUITE")" \
    || die "imagebuild failed"
  echo "$out"
}

load_image() {
  local tarball nbin sock
  tarball="$(build_image)"
  [ -f "$STATE/real-node" ] && [ -f "$STATE/nodebindir" ] \
    || die "no real node runs in $STATE (MODELOPS_TESTCLUSTER_REAL_NODE=1 scripts/testcluster.sh up)"
  nbin="$(cat "$STATE/nodebindir")"
  sock="$STATE/node/containerd.sock"
  "$nbin/ctr" --address "$sock" -n k8s.io images import --platform linux/amd64 "$tarball" >/dev/null \
    || die "ctr images import $tarball failed"
  log "loaded docker.io/seldonio/mlserver:$MLSERVER_VERSION-sklearn on real-0"
}

# One build at a time: tests that need the image call `load` concurrently, and scripts/test.sh
# prebuilds it in the background; the others wait here and then find it cached.
mkdir -p "$CACHE/mlserver"
exec 9>"$CACHE/mlserver/.lock"
flock 9

case "${1:-}" in
  build) build_image ;;
  load) load_image ;;
  rootfs) build_rootfs; echo "$DIR/rootfs" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
