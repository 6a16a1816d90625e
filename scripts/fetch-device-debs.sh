#!/usr/bin/env bash
# scripts/fetch-device-debs.sh [DIR] - gather here what scripts/device-check.sh
# needs on the GPU machine that is not there: that machine has nvcc, CMake and
# python3 with PyTorch and transformers, but no apt and no network.
#
#   DIR/debs/*.deb   apt-get download of the shared libraries llm-cli links
#                    (PCRE2, utf8proc) with their -dev packages (the headers
#                    and the unversioned .so the build links against)
#   DIR/root/        those .debs unpacked (dpkg -x), every symbolic link
#                    replaced by a copy of its target so that nothing depends
#                    on how links travel: device-check.sh puts
#                    DIR/root/usr/include on C_INCLUDE_PATH and
#                    DIR/root/usr/lib/x86_64-linux-gnu on LIBRARY_PATH and
#                    LD_LIBRARY_PATH
#   DIR/wheels/      the pinned gguf wheel (pure Python; its needs numpy,
#                    pyyaml, requests and tqdm are on that machine), for
#                    test/fixtures/make_synthetic.py
#
# DIR defaults to .devdeps in the repository root (ignored by git; name it in
# the device tool's carry). The package list is the libraries that
# `ldd build/llm-cli` names beyond the C library, checked here at the end:
# a new library in ldd's output that no package here provides fails the
# script. Prints the total size (what travels is at most 64 MiB with the
# working tree). Idempotent: downloads again only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.devdeps}
PKGS=(libpcre2-8-0 libpcre2-dev libutf8proc2 libutf8proc-dev)
GGUF_VERSION=0.19.0   # as scripts/install-deps.sh pins it
PY=${PYTHON:-python3}

mkdir -p "$DIR/debs" "$DIR/wheels"
# the architecture of the GPU machine, whatever this one is
arch=amd64
for p in "${PKGS[@]}"; do
  if ! ls "$DIR/debs/${p}_"*"_$arch.deb" >/dev/null 2>&1; then
    (cd "$DIR/debs" && apt-get download -q "$p:$arch") ||
      { echo "fetch-device-debs.sh: apt-get download $p failed (try apt-get update)" >&2; exit 1; }
  fi
done

rm -rf "$DIR/root"
mkdir -p "$DIR/root"
for d in "$DIR"/debs/*.deb; do
  dpkg-deb -x "$d" "$DIR/root"
done
# links -> copies (a dangling link, e.g. into a package not taken, goes)
find "$DIR/root" -type l | while read -r l; do
  if t=$(readlink -e "$l"); then
    rm "$l"; cp "$t" "$l"
  else
    rm "$l"
  fi
done
# only what the build and run need: headers and shared libraries (no docs,
# binaries, static archives)
rm -rf "$DIR/root/usr/share" "$DIR/root/usr/bin" "$DIR/root/usr/lib/x86_64-linux-gnu/pkgconfig"
find "$DIR/root" -name "*.a" -delete

if ! ls "$DIR/wheels/gguf-$GGUF_VERSION-"*.whl >/dev/null 2>&1; then
  $PY -m pip download -q --no-deps --only-binary=:all: -d "$DIR/wheels" "gguf==$GGUF_VERSION" ||
    { echo "fetch-device-debs.sh: pip download gguf==$GGUF_VERSION failed" >&2; exit 1; }
fi

# every library llm-cli links, beyond the C library and the loader, must be here
if [ -x build/llm-cli ]; then
  missing=0
  for lib in $(ldd build/llm-cli | awk '$1 ~ /^lib/ {print $1}'); do
    case $lib in libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libgcc_s.so.*) continue ;; esac
    if [ ! -e "$DIR/root/usr/lib/x86_64-linux-gnu/$lib" ]; then
      echo "fetch-device-debs.sh: build/llm-cli links $lib, which no package here provides" >&2
      missing=1
    fi
  done
  [ $missing -eq 0 ] || exit 1
else
  echo "fetch-device-debs.sh: build/llm-cli not built: its libraries were not checked (make cli)" >&2
fi

echo "fetch-device-debs.sh: $DIR holds $(du -sh "$DIR" | cut -f1) ($(du -sh "$DIR/root" | cut -f1) unpacked, $(du -sh "$DIR/debs" | cut -f1) of .debs, $(du -sh "$DIR/wheels" | cut -f1) of wheels)"
