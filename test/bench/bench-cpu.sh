#!/bin/bash
# test/bench/bench-cpu.sh - prompt processing and decode speed of llm-cli
# bench under several kernel sets and KV-cache types, alternated in the
# same run (not a CI test).
#
#   test/bench/bench-cpu.sh MODEL.gguf [CONFIG...]
#
# A CONFIG is ISA:KVTYPE (default: avx2:f32 avx512:f32 avx512:f16; a
# kernel set the CPU lacks falls back as llm-cli --isa does, and the
# table says which one ran). Each round runs every config once
# (llm-cli bench -p PP -n TG -r 1), ROUNDS rounds (3), and the table gives
# each config's median pp and tg tok/s and its ratio to the first config.
# Environment: PP (512), TG (128), ROUNDS (3), THREADS (2), LLM_CLI
# (build/llm-cli).
set -euo pipefail

model=${1:?usage: bench-cpu.sh MODEL.gguf [ISA:KVTYPE...]}
shift
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(avx2:f32 avx512:f32 avx512:f16)
PP=${PP:-512}
TG=${TG:-128}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CLI=${LLM_CLI:-build/llm-cli}
out=$(mktemp /tmp/llm-bench-cpu.XXXXXX)
trap 'rm -f "$out"' EXIT

echo "# $(basename "$model"), pp$PP / tg$TG, $THREADS threads, $ROUNDS rounds, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
	for c in "${configs[@]}"; do
		isa=${c%%:*}
		kv=${c##*:}
		j=$("$CLI" bench -m "$model" -p "$PP" -n "$TG" -r 1 -t "$THREADS" --isa "$isa" \
			--kv-type "$kv" --json 2>/dev/null | tail -n 1)
		echo "$c $j" >>"$out"
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "${configs[@]}" <<'EOF'
import json, statistics, sys
rows = {}
ran = {}
for line in open(sys.argv[1]):
    c, j = line.split(" ", 1)
    d = json.loads(j)
    rows.setdefault(c, []).append((d["pp_tok_s"], d["tg_tok_s"]))
    ran[c] = d["isa"]
configs = sys.argv[2:]
base = None
print("| config (isa ran) | pp tok/s (rounds) | tg tok/s (rounds) | pp ratio | tg ratio |")
print("|---|---:|---:|---:|---:|")
for c in configs:
    pp = [p for p, _ in rows[c]]
    tg = [t for _, t in rows[c]]
    m = (statistics.median(pp), statistics.median(tg))
    if base is None:
        base = m
    print("| %s (%s) | %.1f (%s) | %.1f (%s) | %.2f | %.2f |" % (
        c, ran[c], m[0], ", ".join("%.0f" % v for v in pp), m[1],
        ", ".join("%.0f" % v for v in tg), m[0] / base[0], m[1] / base[1]))
EOF
