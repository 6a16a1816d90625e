#!/usr/bin/env bash
#
# bench.sh - compare llm-cli's speed with llama.cpp's llama-bench.
#
# Usage: test/bench/bench.sh [options]
#   -m MODEL        GGUF model (default $LLM_CACHE/SmolLM2-135M-Instruct.Q4_1.gguf)
#   -t "1 2"        thread counts to test (default "1 2")
#   -r N            repetitions per implementation and thread count (default 3)
#   -p N            prompt length for prompt processing (default 512)
#   -n N            tokens to generate for text generation (default 128)
#   -o FILE         also write the Markdown report to FILE
#   --cli PATH      our binary (default build/llm-cli)
#   --peer PATH     llama-bench (default $LLM_CACHE/peer/build/bin/llama-bench)
#   --no-ours       skip llm-cli
#   --no-peer       skip llama-bench
#
# Not a CI test.  Runs, for each thread count T, R rounds that alternate
#   llm-cli bench -m MODEL -p P -n N -t T -r 1 --json
#   llama-bench   -m MODEL -p P -n N -t T -r 1 -o json
# (each does one warm-up run, then one measured pp and one tg run) so that
# drifting machine load hits both alike, and reports the median
# prompt-processing (pp) and generation (tg) tokens/s of each and the
# ratios ours/llama.cpp.  It also measures streaming-read memory bandwidth
# with test/bench/membw.c (compiled here, -O3 -march=native) for each T and
# divides it by the weight bytes read per generated token, the upper bound
# for tg on a bandwidth-bound CPU.  The Markdown report goes to stdout (and
# to -o FILE); progress goes to stderr.

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${LLM_CACHE:-$HOME/.cache/llm}"

MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
THREADS="1 2"
REPS=3
NP=512
NG=128
OUTFILE=""
CLI="$ROOT/build/llm-cli"
PEER_BIN="$CACHE/peer/build/bin/llama-bench"
DO_OURS=1
DO_PEER=1
PYTHON="${PYTHON:-python3}"

usage() {
    sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        -m) MODEL="$2"; shift 2 ;;
        -t) THREADS="$2"; shift 2 ;;
        -r) REPS="$2"; shift 2 ;;
        -p) NP="$2"; shift 2 ;;
        -n) NG="$2"; shift 2 ;;
        -o) OUTFILE="$2"; shift 2 ;;
        --cli) CLI="$2"; shift 2 ;;
        --peer) PEER_BIN="$2"; shift 2 ;;
        --no-ours) DO_OURS=0; shift ;;
        --no-peer) DO_PEER=0; shift ;;
        -h|--help) usage ;;
        *) echo "bench.sh: unknown option $1" >&2; usage ;;
    esac
done

[ -f "$MODEL" ] || { echo "bench.sh: model not found: $MODEL" >&2; exit 1; }
if [ "$DO_OURS" = 1 ] && [ ! -x "$CLI" ]; then
    echo "bench.sh: $CLI not found (run make); skipping ours" >&2
    DO_OURS=0
fi
if [ "$DO_PEER" = 1 ] && [ ! -x "$PEER_BIN" ]; then
    echo "bench.sh: $PEER_BIN not found (run scripts/build-peer.sh); skipping llama.cpp" >&2
    DO_PEER=0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llm-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RAW="$WORK/raw.tsv"         # impl  threads  rep  pp  tg
: > "$RAW"
BW="$WORK/bw.tsv"           # threads  gbps
: > "$BW"

LOAD_START="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"

# Memory bandwidth probe.
${CC:-cc} -std=gnu11 -O3 -march=native -pthread "$HERE/membw.c" -o "$WORK/membw"
for t in $THREADS; do
    echo "membw: $t thread(s)..." >&2
    line="$("$WORK/membw" -t "$t" -m 512 -r 7)"
    gbps="$(printf '%s\n' "$line" | sed -n 's/.*gbps=\([0-9.]*\).*/\1/p')"
    printf '%s\t%s\n' "$t" "$gbps" >> "$BW"
done

# Run one llm-cli bench and append "ours T REP PP TG" to RAW.
run_ours() {
    local t="$1" rep="$2" out
    if ! out="$("$CLI" bench -m "$MODEL" -p "$NP" -n "$NG" -t "$t" -r 1 --json 2>"$WORK/ours.err")"; then
        echo "bench.sh: llm-cli failed:" >&2
        cat "$WORK/ours.err" >&2
        return 1
    fi
    printf '%s\n' "$out" > "$WORK/ours-last.json"
    printf '%s\n' "$out" | "$PYTHON" "$HERE/bench_report.py" parse-ours \
        | sed "s/^/ours\t$t\t$rep\t/" >> "$RAW"
}

# Run one llama-bench and append "llama.cpp T REP PP TG" to RAW.
run_peer() {
    local t="$1" rep="$2" out
    if ! out="$("$PEER_BIN" -m "$MODEL" -p "$NP" -n "$NG" -t "$t" -r 1 -o json 2>"$WORK/peer.err")"; then
        echo "bench.sh: llama-bench failed:" >&2
        cat "$WORK/peer.err" >&2
        return 1
    fi
    printf '%s\n' "$out" > "$WORK/peer-last.json"
    printf '%s\n' "$out" | "$PYTHON" "$HERE/bench_report.py" parse-peer \
        | sed "s/^/llama.cpp\t$t\t$rep\t/" >> "$RAW"
}

for t in $THREADS; do
    for rep in $(seq 1 "$REPS"); do
        if [ "$DO_OURS" = 1 ]; then
            echo "ours      t=$t rep $rep/$REPS..." >&2
            run_ours "$t" "$rep"
        fi
        if [ "$DO_PEER" = 1 ]; then
            echo "llama.cpp t=$t rep $rep/$REPS..." >&2
            run_peer "$t" "$rep"
        fi
    done
done

LOAD_END="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
PEER_JSON=""
[ -f "$WORK/peer-last.json" ] && PEER_JSON="$WORK/peer-last.json"
OURS_JSON=""
[ -f "$WORK/ours-last.json" ] && OURS_JSON="$WORK/ours-last.json"

"$PYTHON" "$HERE/bench_report.py" report \
    --raw "$RAW" --bw "$BW" --model "$MODEL" --np "$NP" --ng "$NG" \
    --reps "$REPS" --peer-json "$PEER_JSON" --ours-json "$OURS_JSON" \
    --load "$LOAD_START" "$LOAD_END" --root "$ROOT" \
    > "$WORK/report.md"
cat "$WORK/report.md"
if [ -n "$OUTFILE" ]; then
    cp "$WORK/report.md" "$OUTFILE"
    echo "bench.sh: report written to $OUTFILE" >&2
fi
