#!/usr/bin/env bash
#
# quant-ppl.sh - what each quantization type and the f16 KV cache cost in
# perplexity, by llm-cli perplexity (and llama.cpp's llama-perplexity on a
# few of the same files, to show agreement).
#
# Usage: test/bench/quant-ppl.sh [options]
#   -c CTX          context of each chunk (default 512)
#   --chunks N      chunks scored (default 8; 0 = all the text gives)
#   -f TEXT         text (default /usr/share/common-licenses/GPL-3, the text
#                   of test/cli/perplexity.sh)
#   -t THREADS      threads for both programs (default 2)
#   --peer "T..."   the types llama-perplexity also scores (default
#                   "F16 Q8_0 Q4_K_M"; "" for none)
#   --types "T..."  the types made and scored (default
#                   "Q8_0 Q5_0 Q4_0 Q4_1 Q4_K_M Q5_K_M Q6_K")
#   --no-gemma      skip Gemma 3 270M Q4_K_M (f32 against f16 KV)
#   --no-f32        skip the F32 file (the Q4_1 weights exactly, 540 MB)
#   -o FILE         also write the Markdown report to FILE
#   --cli PATH      our binary (default build/llm-cli)
#
# No f16 source of SmolLM2-135M-Instruct is reachable, so the reference is
# the weights of the Q4_1 file: llama-quantize --allow-requantize turns
# SmolLM2-135M-Instruct.Q4_1.gguf into an F16 GGUF (every Q4_1 value
# d*q + m rounded to f16, the Q8_0 embedding likewise; 58% of the
# values are exact in f16) and an F32 one (exact), and every other type is
# quantized from the F16 file (its Q4_1 comes out bit-identical to the
# source file's matrices). The files are left in
# ${LLM_CACHE:-~/.cache/llm}/quants/ as
#   SmolLM2-135M-Instruct.from-Q4_1.TYPE.gguf      (TYPE as llama-quantize
#                                                   names it: F16, Q4_K_M...)
# for other tests and benchmarks (packed kernels); existing files are kept
# (FORCE=1 remakes them). SmolLM2's rows of 576 columns are not a multiple
# of 256, so in the K-quant files only the 1536-column ffn_down matrices
# are K blocks; llama-quantize falls back to a legacy type for the rest
# (the report lists each file's matrix types).
#
# llama-quantize and llama-perplexity come from scripts/build-peer.sh (built
# if absent). Not a CI test; a full run takes tens of minutes on 2 cores.
# The Markdown report goes to stdout (and -o FILE); progress to stderr.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${LLM_CACHE:-$HOME/.cache/llm}"
QDIR="$CACHE/quants"
PEERBIN="$CACHE/peer/build-server/bin"
SRC="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA="$CACHE/gemma-3-270m-Q4_K_M.gguf"

CTX=512
CHUNKS=8
TEXT=/usr/share/common-licenses/GPL-3
THREADS=2
PEER_TYPES="F16 Q8_0 Q4_K_M"
TYPES="Q8_0 Q5_0 Q4_0 Q4_1 Q4_K_M Q5_K_M Q6_K"
DO_GEMMA=1
DO_F32=1
OUTFILE=""
CLI="$ROOT/build/llm-cli"

while [ $# -gt 0 ]; do
    case "$1" in
        -c) CTX="$2"; shift 2 ;;
        --chunks) CHUNKS="$2"; shift 2 ;;
        -f) TEXT="$2"; shift 2 ;;
        -t) THREADS="$2"; shift 2 ;;
        --peer) PEER_TYPES="$2"; shift 2 ;;
        --types) TYPES="$2"; shift 2 ;;
        --no-gemma) DO_GEMMA=0; shift ;;
        --no-f32) DO_F32=0; shift ;;
        -o) OUTFILE="$2"; shift 2 ;;
        --cli) CLI="$2"; shift 2 ;;
        -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
        *) echo "quant-ppl.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

log() { echo "quant-ppl: $*" >&2; }

[ -x "$CLI" ] || { echo "quant-ppl.sh: $CLI not built (make all)" >&2; exit 1; }
[ -r "$SRC" ] || { echo "quant-ppl.sh: $SRC missing (scripts/fetch-models.sh)" >&2; exit 1; }
[ -r "$TEXT" ] || { echo "quant-ppl.sh: text $TEXT missing" >&2; exit 1; }
for t in llama-quantize llama-perplexity; do
    [ -x "$PEERBIN/$t" ] || "$ROOT/scripts/build-peer.sh" "$t" >&2
done
mkdir -p "$QDIR"

# name TYPE: the file of one type
name() { echo "$QDIR/SmolLM2-135M-Instruct.from-Q4_1.$1.gguf"; }

# quantize IN TYPE [extra args]: make name(TYPE) from IN unless it exists
quantize() {
    local in="$1" type="$2" out
    out="$(name "$type")"
    shift 2
    if [ -s "$out" ] && [ "${FORCE:-0}" != 1 ]; then return 0; fi
    log "making $out"
    "$PEERBIN/llama-quantize" "$@" "$in" "$out.tmp" "$type" "$THREADS" >"$out.log" 2>&1 ||
        { echo "quant-ppl.sh: llama-quantize $type failed, see $out.log" >&2; exit 1; }
    mv "$out.tmp" "$out"
}

quantize "$SRC" F16 --allow-requantize
[ "$DO_F32" = 1 ] && quantize "$SRC" F32 --allow-requantize
for t in $TYPES; do quantize "$(name F16)" "$t"; done

# field JSON NAME: a number from llm-cli's one-line JSON
field() { printf '%s\n' "$1" | sed -nE "s/.*\"$2\":([-0-9.e]+).*/\1/p"; }

chunk_args=(-c "$CTX")
[ "$CHUNKS" -gt 0 ] && chunk_args+=(--chunks "$CHUNKS")

# ours FILE KV: llm-cli's PPL
ours() {
    local out
    out=$("$CLI" perplexity -m "$1" -f "$TEXT" "${chunk_args[@]}" -t "$THREADS" \
        --kv-type "$2" --json 2>/dev/null) || { echo "?"; return 0; }
    field "$out" ppl
}

# peer FILE KV: llama-perplexity's PPL with both caches of type KV
peer() {
    local out
    out=$("$PEERBIN/llama-perplexity" -m "$1" -f "$TEXT" "${chunk_args[@]}" -t "$THREADS" \
        -ctk "$2" -ctv "$2" 2>&1) || { echo "?"; return 0; }
    out=$(printf '%s\n' "$out" | sed -nE 's/.*Final estimate: PPL = ([0-9.]+).*/\1/p')
    echo "${out:-?}"
}

# mix FILE: the matrix types of a GGUF ("q5_0 96, q8_0 1, ...")
mix() {
    python3 - "$1" <<'EOF' 2>/dev/null || echo "-"
import collections, sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
c = collections.Counter(t.tensor_type.name.lower() for t in r.tensors if len(t.shape) > 1)
print(", ".join("%s %d" % kv for kv in sorted(c.items(), key=lambda kv: -kv[1])))
EOF
}

# pct A B: 100 * (A - B) / B with a sign, or "-"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 == 0 || b + 0 == 0) print "-"; else printf "%+.2f%%", 100 * (a - b) / b }'; }

mb() { awk -v s="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", s / 1e6 }'; }

rows=()
ref=""
first="F16"
[ "$DO_F32" = 1 ] && first="F16 F32"
for t in $first ORIG $TYPES; do
    if [ "$t" = ORIG ]; then f="$SRC"; label="Q4_1 (the source file)"; else f="$(name "$t")"; label="$t"; fi
    log "$label: llm-cli f32 KV"
    p32=$(ours "$f" f32)
    log "$label: llm-cli f16 KV"
    p16=$(ours "$f" f16)
    pl="-"
    case " $PEER_TYPES " in
        *" $t "*) log "$label: llama-perplexity f32 KV"; pl=$(peer "$f" f32) ;;
    esac
    [ "$t" = F16 ] && ref="$p32"
    rows+=("| $label | $(mb "$f") | $p32 | $pl | $(pct "$p32" "$ref") | $p16 | $(pct "$p16" "$p32") | $(mix "$f") |")
done

grows=()
if [ "$DO_GEMMA" = 1 ] && [ -r "$GEMMA" ]; then
    for kv in f32 f16; do
        log "gemma-3-270m Q4_K_M: llm-cli and llama-perplexity, $kv KV"
        g=$(ours "$GEMMA" "$kv")
        gp=$(peer "$GEMMA" "$kv")
        grows+=("| $kv | $g | $gp | $(pct "$g" "$gp") |")
    done
fi

report() {
    echo "Text $TEXT, -c $CTX, chunks ${CHUNKS/#0/all}, $THREADS threads, $(date -u +%Y-%m-%d)."
    echo "Reference: the F16 file made from the Q4_1 file's weights (not the original model)."
    echo
    echo "| type | file MB | PPL ours (f32 KV) | PPL llama.cpp (f32 KV) | vs F16 | PPL ours (f16 KV) | f16-KV change | matrices |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
    if [ ${#grows[@]} -gt 0 ]; then
        echo
        echo "Gemma 3 270M Q4_K_M:"
        echo
        echo "| KV | PPL ours | PPL llama.cpp | difference |"
        echo "|---|---:|---:|---:|"
        printf '%s\n' "${grows[@]}"
    fi
}

if [ -n "$OUTFILE" ]; then report | tee "$OUTFILE"; else report; fi
