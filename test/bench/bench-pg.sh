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
# ROUNDS (2), REPS (7: alternating repetitions of the single requests timed
# for the SQL-path overhead), OV_TOKENS (256: their length at most; long
# enough that the noise of starting psql or llm-cli stays small against it).
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
OV_TOKENS=${OV_TOKENS:-256}
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
# one request at 1 and at OV_TOKENS tokens, through SQL and with llm-cli
# (same threads), alternating so that both see the same machine, REPS
# times. The difference of the two lengths is the time of their decode
# steps and cancels connection, model loading and prompt processing. For
# the SQL requests the worker's engine time (llm_stats.engine_seconds) is
# recorded too, which separates the worker's own per-step cost from the
# speed of the (identical) engine code at that moment.
for r in \$(seq $REPS); do
  for n in 1 $OV_TOKENS; do
    e0=\$(psql -X -At -c "SELECT engine_seconds FROM llm_stats")
    t0=\$(date +%s.%N); psql -X -q -At -c "SELECT llm_generate(E'$PROMPT', max_tokens => \$n)" >/dev/null; t1=\$(date +%s.%N)
    e1=\$(psql -X -At -c "SELECT engine_seconds FROM llm_stats")
    t2=\$(date +%s.%N); "$LLM_REPO/build/llm-cli" generate -m "$LLM_MODEL" -t "$LLM_PG_THREADS" -n "\$n" -p "\$(printf "$PROMPT")" >/dev/null; t3=\$(date +%s.%N)
    echo "ov \$r \$n \$t0 \$t1 \$e0 \$e1 \$t2 \$t3" >>"$work/results"
  done
done
# how many tokens the long request really generates (greedy: the same with
# llm-cli; it may stop early at the end-of-text token)
g0=\$(psql -X -At -c "SELECT generated_tokens FROM llm_stats")
psql -X -q -At -c "SELECT llm_generate(E'$PROMPT', max_tokens => $OV_TOKENS)" >/dev/null
g1=\$(psql -X -At -c "SELECT generated_tokens FROM llm_stats")
echo "ovtokens \$((g1 - g0))" >>"$work/results"
SH
chmod 755 "$work/run.sh"
llm_pg_virtualenv "$work/run.sh"

python3 - "$work/results" "$OV_TOKENS" "$LLM_PG_THREADS" "$REPS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
mt = sys.argv[2]
ovtokens = int(next(r[1] for r in rows if r[0] == 'ovtokens'))
ov = {}
for r in rows:
    if r[0] == 'ov':
        t0, t1, e0, e1, t2, t3 = map(float, r[3:9])
        ov.setdefault(int(r[1]), {})[r[2]] = (t1 - t0, e1 - e0, t3 - t2)
levels = {}
for r in rows:
    if r[0] in ('ov', 'ovtokens'):
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
def med(v):
    v = sorted(v)
    return (v[len(v) // 2] + v[(len(v) - 1) // 2]) / 2
reps = [x for x in ov.values() if '1' in x and mt in x]
# the worker's time outside the engine, long request minus short request
own = [(x[mt][0] - x[mt][1]) - (x['1'][0] - x['1'][1]) for x in reps]
print(f"1 session, {sys.argv[3]} threads, {ovtokens - 1} decode steps (request of {mt} tokens, {ovtokens} "
      f"generated, minus request of 1), {len(reps)} alternating repetitions:")
# best: the fastest long request minus the fastest short one, per path
bsql = min(x[mt][0] for x in reps) - min(x['1'][0] for x in reps)
bcli = min(x[mt][2] for x in reps) - min(x['1'][2] for x in reps)
print(f"- best of each: SQL {bsql:.3f} s, llm-cli {bcli:.3f} s, SQL overhead {100 * (bsql / bcli - 1):+.1f}%")
# median: of each length separately (llm-cli's short request carries its
# model loading, whose time varies, so differences of pairs are noisier)
msql = med([x[mt][0] for x in reps]) - med([x['1'][0] for x in reps])
mcli = med([x[mt][2] for x in reps]) - med([x['1'][2] for x in reps])
print(f"- median of each: SQL {msql:.3f} s, llm-cli {mcli:.3f} s, SQL overhead {100 * (msql / mcli - 1):+.1f}%")
print(f"- the worker's own time outside the engine (median): {med(own):+.3f} s = "
      f"{100 * med(own) / bcli:+.1f}% of llm-cli's decode time")
PY
