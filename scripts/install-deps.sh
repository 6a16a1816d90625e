#!/usr/bin/env bash
# Install what building and testing llm needs: Debian packages (compiler,
# PostgreSQL 15 server headers, PCRE2, OpenBLAS, TAP modules, PL/Proxy for
# llm_cluster and test/scaleout) and the Python packages used to generate
# test fixtures. Skips what is present.
set -euo pipefail

pkgs=(build-essential pkg-config postgresql-15 postgresql-server-dev-15
      libpcre2-dev libopenblas-dev libutf8proc-dev libipc-run-perl unzip bc
      postgresql-15-plproxy)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# gguf is pinned: the test fixtures it writes are checked by sha256
PY=${PYTHON:-python3}
GGUF_VERSION=0.19.0
if ! $PY -c "import numpy, importlib.metadata as m; assert m.version('gguf') == '$GGUF_VERSION'" >/dev/null 2>&1; then
  echo "installing python packages: gguf==$GGUF_VERSION numpy"
  $PY -m pip install -q "gguf==$GGUF_VERSION" numpy
fi
