#!/usr/bin/env bash
# The Windows build of the executor (issue 15 item 5; docs/artifact-stores.md, "Windows"): the
# binary STATISTICA scoring services run as `modelops-executor.exe fetch-models` on Windows nodes.
# Cross-compiled here for x86_64-pc-windows-gnu with Debian's MinGW-w64 linker (no Windows host
# needed), then, when Wine is installed, run: `--version`, and `fetch-models` of a `file://` and an
# `http://` model (a loopback server) into a model directory, with the sha256 checked.
#
#   scripts/windows-build.sh            build (cached in ~/.cache/modelops-executor/windows-target)
#                                       and run the checks; prints the .exe path last
#   MODELOPS_WINDOWS_PROFILE=dev|release   cargo profile (default release, what ships)
#
# Prerequisites: the Rust target (`rustup target add x86_64-pc-windows-gnu`, done here), Debian's
# gcc-mingw-w64-x86-64 and wine64 (installed here when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
profile="${MODELOPS_WINDOWS_PROFILE:-release}"
export CARGO_TARGET_DIR="${MODELOPS_WINDOWS_TARGET_DIR:-$HOME/.cache/modelops-executor/windows-target}"
export CARGO_TERM_COLOR=never
export MODELOPS_GIT_COMMIT="${MODELOPS_GIT_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
die() { echo "windows-build: $*" >&2; exit 1; }

rustup target list --installed 2>/dev/null | grep -qx "$target" \
  || rustup target add "$target" \
  || die "the Rust target $target cannot be installed (rustup target add $target)"
# Debian's MinGW-w64 linker and Wine, installed when missing (as scripts/testcluster.sh does;
# MODELOPS_TESTCLUSTER_INSTALL=0: name them and stop instead).
missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || command -v wine >/dev/null || missing+=(wine64)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "${MODELOPS_TESTCLUSTER_INSTALL:-1}" = 1 ] && [ "$(id -u)" = 0 ] \
    || die "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})"
  echo "== apt-get install ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } \
    || die "apt-get install ${missing[*]} failed"
fi
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc

started=$(date +%s)
cargo build --locked --profile "$profile" --target "$target" --bin modelops-executor
dir="$profile"; [ "$profile" = dev ] && dir=debug
exe="$CARGO_TARGET_DIR/$target/$dir/modelops-executor.exe"
# A PE image ("MZ", then "PE\0\0" at the offset stored at 0x3c) for x86-64 (machine 0x8664).
[ "$(head -c 2 "$exe")" = MZ ] || die "$exe is not a Windows executable"
pe=$(od -An -tu4 -j60 -N4 "$exe" | tr -d ' ')
machine=$(od -An -tx2 -j$((pe + 4)) -N2 "$exe" | tr -d ' ')
[ "$machine" = 8664 ] || die "$exe is not x86-64 (machine $machine)"
echo "== $exe: PE x86-64, $(stat -c %s "$exe") bytes, built in $(( $(date +%s) - started )) s" >&2

# Debian's wine64 package puts its loader in /usr/lib/wine (the `wine` package adds the PATH one).
wine=$(command -v wine64 || command -v wine || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } || true)
[ -n "$wine" ] || die "no wine loader found after installing wine64"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export WINEPREFIX="${MODELOPS_WINEPREFIX:-$HOME/.cache/modelops-executor/wineprefix}" WINEDEBUG=-all
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng), which Rust's std needs and real Windows has:
# the test-only stand-in of tests/windows/ goes beside a copy of the .exe for this run only.
mkdir -p "$work/bin"
x86_64-w64-mingw32-gcc -O2 -shared -o "$work/bin/bcryptprimitives.dll" \
  tests/windows/bcryptprimitives.c -ladvapi32 || die "building the Wine stand-in DLL failed"
cp "$exe" "$work/bin/modelops-executor.exe"
run() { "$wine" "$work/bin/modelops-executor.exe" "$@"; }

version=$(run --version 2>"$work/wine.log" | tr -d '\r') || true
case "$version" in
  "modelops-executor "*) echo "== wine: $version" >&2 ;;
  *) tail -5 "$work/wine.log" >&2; die "--version under wine printed '$version'" ;;
esac

printf 'model bytes\n' >"$work/model.bin"
mkdir -p "$work/www/iris/1" && printf 'served bytes\n' >"$work/www/iris/1/model.joblib"
sha() { sha256sum "$1" | cut -d' ' -f1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/iris/1/model.joblib" >/dev/null 2>&1 && break; sleep 0.1; done
cat >"$work/models.json" <<EOF
[{"name": "local", "version": "1", "uri": "file://$work/model.bin", "sha256": "$(sha "$work/model.bin")"},
 {"name": "iris", "version": "1", "uri": "http://127.0.0.1:$port/iris/1/model.joblib", "sha256": "$(sha "$work/www/iris/1/model.joblib")"}]
EOF
run fetch-models --models "$work/models.json" --model-dir "$work/models" >&2 \
  || die "fetch-models under wine failed"
cmp "$work/models/local/1/model.bin" "$work/model.bin" || die "file:// model not where expected"
cmp "$work/models/iris/1/model.joblib" "$work/www/iris/1/model.joblib" || die "http:// model not where expected"
# A wrong sha256 fails with exit 1, naming the model.
sed 's/"sha256": "[0-9a-f]*"}]/"sha256": "'"$(printf '0%.0s' {1..64})"'"}]/' "$work/models.json" >"$work/bad.json"
rm -rf "$work/models/iris"
set +e
out=$(run fetch-models --models "$work/bad.json" --model-dir "$work/models" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && [[ "$out" == *"sha256 mismatch"* ]] && [[ "$out" == *iris* ]] \
  || die "a wrong sha256 under wine: exit $rc, $out"
echo "== wine: fetch-models downloaded (file://, http://), verified and refused a wrong sha256" >&2
echo "$exe"
