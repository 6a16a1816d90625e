#!/usr/bin/env bash
# Install what building and testing llm needs: Debian packages (compiler,
# PostgreSQL 15 server headers, PCRE2, OpenBLAS, TAP modules) and the
# Python packages used to generate test fixtures. Skips what is present.
set -euo pipefail

pkgs=(build-essential pkg-config postgresql-15 postgresql-server-dev-15
      libpcre2-dev libopenblas-dev libutf8proc-dev libipc-run-perl unzip bc)
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

PY=${PYTHON:-python3}
if ! $PY -c 'import gguf, numpy' >/dev/null 2>&1; then
  echo "installing python packages: gguf numpy"
  $PY -m pip install -q gguf numpy
fi
