#!/usr/bin/env bash
#
# build-peer.sh [llama-bench|llama-server|llama-perplexity|llama-quantize] -
# build llama.cpp's llama-bench (the speed reference for test/bench/bench.sh;
# the default), llama-server (the peer of test/bench/bench-pg.sh),
# llama-perplexity (the reference of llm-cli perplexity) or llama-quantize
# (makes the quant-type files of test/bench/quant-ppl.sh), from the llama.cpp
# source vendored in the llama-cpp-python sdist.
#
# Everything lives under ${LLM_CACHE:-$HOME/.cache/llm}/peer, never in the
# repository:
#   peer/llama_cpp_python-VERSION.tar.gz   the sdist (pip download if absent)
#   peer/src/llama_cpp_python-VERSION/     the extracted sdist
#   peer/build/bin/llama-bench             the result
#   peer/build-server/bin/llama-server      with the llama-server argument
#   peer/build-server/bin/llama-perplexity  with the llama-perplexity argument
#   peer/build-server/bin/llama-quantize    with the llama-quantize argument
#
# Idempotent: does nothing when the binary already exists (FORCE=1 rebuilds).
#
# Environment:
#   LLM_CACHE       cache directory (default ~/.cache/llm)
#   PEER_VERSION    llama-cpp-python version (default 0.3.36)
#   JOBS            parallel build jobs (default 2)
#   FORCE=1         rebuild even if the binary exists

set -euo pipefail

CACHE="${LLM_CACHE:-$HOME/.cache/llm}"
PEER="$CACHE/peer"
VERSION="${PEER_VERSION:-0.3.36}"
JOBS="${JOBS:-2}"
SDIST="$PEER/llama_cpp_python-$VERSION.tar.gz"
SRC="$PEER/src/llama_cpp_python-$VERSION/vendor/llama.cpp"
TARGET="${1:-llama-bench}"
case "$TARGET" in
    llama-bench)  BUILD="$PEER/build";        SERVER=OFF ;;
    llama-server) BUILD="$PEER/build-server"; SERVER=ON ;;
    # the reference of llm-cli perplexity; shares llama-server's build tree
    llama-perplexity) BUILD="$PEER/build-server"; SERVER=ON ;;
    llama-quantize)   BUILD="$PEER/build-server"; SERVER=ON ;;
    *) echo "build-peer.sh: unknown target $TARGET (llama-bench, llama-server, llama-perplexity or llama-quantize)" >&2; exit 2 ;;
esac
BIN="$BUILD/bin/$TARGET"

if [ -x "$BIN" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "$TARGET already built: $BIN"
    exit 0
fi

mkdir -p "$PEER"

# 1. The sdist.
if [ ! -f "$SDIST" ]; then
    echo "downloading llama-cpp-python $VERSION sdist into $PEER"
    python3 -m pip download --no-deps --no-binary :all: \
        "llama-cpp-python==$VERSION" -d "$PEER"
fi
if [ ! -f "$SDIST" ]; then
    echo "build-peer.sh: sdist not found after download: $SDIST" >&2
    exit 1
fi

# 2. The vendored llama.cpp source.
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    echo "extracting $SDIST"
    mkdir -p "$PEER/src"
    tar -xzf "$SDIST" -C "$PEER/src"
fi
if [ ! -f "$SRC/tools/llama-bench/llama-bench.cpp" ]; then
    echo "build-peer.sh: no tools/llama-bench in $SRC" >&2
    exit 1
fi

# 3. Configure: CPU only, native ISA, static libraries, nothing that needs
#    the network (no curl/openssl, no server UI).
command -v cmake >/dev/null || { echo "build-peer.sh: cmake not found" >&2; exit 1; }
cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=$SERVER \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON

# 4. Build only the target (and what it links).
cmake --build "$BUILD" --target "$TARGET" -j "$JOBS"

if [ ! -x "$BIN" ]; then
    # Some generators put binaries elsewhere; find it and link it into bin/.
    found="$(find "$BUILD" -type f -name "$TARGET" -perm -u+x | head -n 1)"
    if [ -z "$found" ]; then
        echo "build-peer.sh: $TARGET not produced" >&2
        exit 1
    fi
    mkdir -p "$BUILD/bin"
    ln -sf "$found" "$BIN"
fi
echo "built $BIN"
