#!/bin/bash
# test/bench/bench-pg.sh - throughput of llm_generate through PostgreSQL
# (not a CI test).
#
# For 1, 4 and 16 concurrent sessions (pgbench -c N, each transaction one
# llm_generate of MAX_TOKENS greedy tokens with ignore-free prompts), runs
# DURATION seconds and reports generated tokens/s from llm_stats
# (generated_tokens delta / wall time), plus mean sequences per engine
# step. Also times the same single request with llm-cli generate to get
# the SQL-path overhead at 1 session. One throw-away cluster (pg_virtualenv),
# llm.threads = THREADS.
#
# The levels run ROUNDS times, interleaved (1 4 16 1 4 16 ...), and each
# level's figure is the mean over its rounds, so a slow spell of this
# shared machine does not land on one level only.
#
# Environment: THREADS (2), DURATION (30), MAX_TOKENS (64), CLIENTS ("1 4 16"),
# ROUNDS (2), REPS (7: single requests timed for the SQL-path overhead, best
# of REPS each).
set -euo pipefail
. "$(dirname "$0")/../pg/common.sh"
LLM_PG_THREADS=${THREADS:-2}
export LLM_PG_THREADS
llm_pg_prepare
DURATION=${DURATION:-30}
MAX_TOKENS=${MAX_TOKENS:-64}
CLIENTS=${CLIENTS:-1 4 16}
ROUNDS=${ROUNDS:-2}
REPS=${REPS:-7}
work=$(mktemp -d /tmp/llm-benchpg.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# a prompt that does not stop early: a numbered list keeps going
PROMPT='Here is a long numbered list of fruits:\n1.'
cat >"$work/bench.sql" <<SQL
SELECT llm_generate(E'$PROMPT', max_tokens => $MAX_TOKENS);
SQL

cat >"$work/run.sh" <<SH
#!/bin/bash
set -euo pipefail
psql -X -q -c "CREATE EXTENSION IF NOT EXISTS llm" >/dev/null
psql -X -q -At -c "SELECT llm_generate(E'$PROMPT', max_tokens => 4)" >/dev/null   # warm-up
for round in \$(seq $ROUNDS); do for c in $CLIENTS; do
  g0=\$(psql -X -At -c "SELECT generated_tokens FROM llm_stats")
  s0=\$(psql -X -At -c "SELECT steps, avg_batch * steps FROM llm_stats")
  t0=\$(date +%s.%N)
  pgbench -n -c \$c -j \$c -T $DURATION -f "$work/bench.sql" >"$work/pgbench.\$c" 2>&1
  t1=\$(date +%s.%N)
  g1=\$(psql -X -At -c "SELECT generated_tokens FROM llm_stats")
  s1=\$(psql -X -At -c "SELECT steps, avg_batch * steps FROM llm_stats")
  echo "\$c \$g0 \$g1 \$t0 \$t1 \$s0 \$s1" >>"$work/results"
done; done
# one request timed in SQL at 1 and at MAX_TOKENS tokens (best of REPS each):
# the difference is the time of MAX_TOKENS-1 decode steps through SQL
for n in 1 $MAX_TOKENS; do
  best=
  for r in \$(seq $REPS); do
    t0=\$(date +%s.%N); psql -X -q -At -c "SELECT llm_generate(E'$PROMPT', max_tokens => \$n)" >/dev/null; t1=\$(date +%s.%N)
    d=\$(echo "\$t1 - \$t0" | bc -l); if [ -z "\$best" ] || [ \$(echo "\$d < \$best" | bc -l) = 1 ]; then best=\$d; fi
  done
  echo "sql\$n \$best" >>"$work/results"
done
SH
chmod 755 "$work/run.sh"
llm_pg_virtualenv "$work/run.sh"

# the same with llm-cli (same threads; the difference cancels model loading)
for n in 1 $MAX_TOKENS; do
  best=
  for r in $(seq "$REPS"); do
    t0=$(date +%s.%N)
    "$LLM_REPO/build/llm-cli" generate -m "$LLM_MODEL" -t "$LLM_PG_THREADS" -n "$n" -p "$(printf "$PROMPT")" >/dev/null
    t1=$(date +%s.%N)
    d=$(echo "$t1 - $t0" | bc -l); if [ -z "$best" ] || [ $(echo "$d < $best" | bc -l) = 1 ]; then best=$d; fi
  done
  echo "cli$n $best" >>"$work/results"
done

python3 - "$work/results" "$MAX_TOKENS" "$LLM_PG_THREADS" "$REPS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
mt = sys.argv[2]
timing = {r[0]: float(r[1]) for r in rows if r[0].startswith(('sql', 'cli'))}
levels = {}
for r in rows:
    if r[0].startswith(('sql', 'cli')):
        continue
    c, g0, g1, t0, t1 = int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4])
    s0 = r[5].split('|'); s1 = r[6].split('|')
    steps = int(s1[0]) - int(s0[0]); seqs = float(s1[1]) - float(s0[1])
    lv = levels.setdefault(c, {'tps': [], 'steps': 0, 'seqs': 0.0})
    lv['tps'].append((g1 - g0) / (t1 - t0))
    lv['steps'] += steps
    lv['seqs'] += seqs
print(f"| sessions | generated tok/s (mean of rounds) | rounds | vs 1 session | mean seqs/step |")
print(f"|---:|---:|---|---:|---:|")
base = None
for c, lv in levels.items():
    tps = sum(lv['tps']) / len(lv['tps'])
    base = base or tps
    each = ", ".join(f"{v:.1f}" for v in lv['tps'])
    print(f"| {c} | {tps:.1f} | {each} | {tps/base:.2f}x | {lv['seqs']/lv['steps'] if lv['steps'] else 0:.2f} |")
print()
sql = timing['sql' + mt] - timing['sql1']
cli = timing['cli' + mt] - timing['cli1']
print(f"1 session, {sys.argv[3]} threads, time of {int(mt) - 1} decode steps (request of {mt} tokens minus "
      f"request of 1, best of {sys.argv[4]}): SQL {sql:.3f} s, llm-cli {cli:.3f} s, SQL overhead {100 * (sql / cli - 1):+.1f}%")
PY
