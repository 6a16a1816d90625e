#!/bin/bash
# test/bench/soak.sh - soak test of the worker (a benchmark, not part of
# scripts/test.sh; issue 17).
#
# CLIENTS pgbench clients run DURATION seconds of mixed work - short
# llm_generate (greedy and sampled, with a stop sequence), llm_chat (plain
# and with a json_schema), llm_embed of texts of varied length and
# llm_tokenize - while one more session (application_name soak_cancel)
# runs longer llm_generate calls one after another and a canceller
# pg_cancel_backend()s it every CANCEL_EVERY seconds. Meanwhile the worker's
# memory is sampled from /proc/PID/status every SAMPLE seconds: VmRSS split
# into RssAnon (heap, stacks: what a leak grows), RssFile (the mapped model
# files) and RssShmem (shared memory the worker touches).
#
# Pass criteria (the script exits 1 when one fails):
#   - pgbench: no failed transaction, no aborted client;
#   - the cancelled session saw no error other than the cancel;
#   - the server log shows no crash (a process terminated by a signal or
#     exiting abnormally, PANIC, a restart) and the worker kept its pid;
#   - llm_stats: no slot in use, nothing queued or running at the end;
#   - the worker's RssAnon and VmRSS grew by at most MAX_GROWTH percent
#     from the sample WARMUP seconds into the run to the end.
# It prints p50/p99 latency per script (pgbench -l transaction logs), the
# transaction and cancel counts and the memory samples at the start, after
# the warm-up and at the end, and the worker's PostgreSQL memory contexts
# (pg_log_backend_memory_contexts) after the warm-up and at the end.
#
# Usage: test/bench/soak.sh [DURATION]
# Environment: DURATION (600), CLIENTS (16), THREADS (llm.threads, 2),
# WARMUP (20), SAMPLE (2), CANCEL_EVERY (0.3), MAX_GROWTH (10),
# MAX_TOKENS (16, the pgbench requests), CANCEL_TOKENS (128, the cancelled
# session's requests), KEEP (a directory: the samples, transaction logs
# and server log are copied there), WEIGHTS (of the scripts generate chat
# chat_json embed tokenize: "3 2 1 3 2"), EMBED_VOCAB (1: the embedded
# texts are random words of the embedding model's vocabulary, which touches
# its whole token-embedding table), SOAK_GUCS (more "-o guc=value"
# options for the cluster, e.g. "-o llm.kv_cache_mb=64").
set -euo pipefail
. "$(dirname "$0")/../pg/common.sh"
LLM_PG_THREADS=${THREADS:-2}
export LLM_PG_THREADS
llm_pg_prepare

DURATION=${1:-${DURATION:-600}}
CLIENTS=${CLIENTS:-16}
WARMUP=${WARMUP:-20}
SAMPLE=${SAMPLE:-2}
CANCEL_EVERY=${CANCEL_EVERY:-0.3}
MAX_GROWTH=${MAX_GROWTH:-10}
MAX_TOKENS=${MAX_TOKENS:-16}
CANCEL_TOKENS=${CANCEL_TOKENS:-128}
KEEP=${KEEP:-}
work=$(mktemp -d /tmp/llm-soak.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# --- the pgbench scripts (numbered in this order in the -l logs)
scripts="generate chat chat_json embed tokenize"
weights=${WEIGHTS:-3 2 1 3 2}

cat >"$work/generate.sql" <<SQL
\set id random(1, 12)
\set t random(0, 9)
\set n random(0, 40)
SELECT length(llm_generate('Write about topic ' || :id || '. ' || repeat('Some context here. ', :n) || 'A short note:',
       max_tokens => $MAX_TOKENS, temperature => :t / 10.0, seed => :id, stop => ARRAY[E'\n\n']));
SQL
cat >"$work/chat.sql" <<SQL
\set id random(1, 12)
SELECT length(llm_chat(jsonb_build_array(
         jsonb_build_object('role', 'system', 'content', 'You are terse.'),
         jsonb_build_object('role', 'user', 'content', 'Name a colour, number ' || :id || '.')),
       max_tokens => $MAX_TOKENS));
SQL
cat >"$work/chat_json.sql" <<SQL
\set id random(1, 12)
SELECT length(llm_chat(jsonb_build_array(
         jsonb_build_object('role', 'user', 'content', 'Give a name and an age for person ' || :id || ' as JSON.')),
       max_tokens => $MAX_TOKENS,
       json_schema => '{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}'));
SQL
if [ "${EMBED_VOCAB:-0}" = 1 ]; then
	# words drawn from the whole vocabulary of the embedding model
	cat >"$work/embed.sql" <<SQL
\set n random(1, 60)
SELECT array_length(llm_embed((SELECT string_agg(w, ' ') FROM soak_vocab
         WHERE id IN (SELECT 1 + (random() * (SELECT max(id) - 1 FROM soak_vocab))::int
                        FROM generate_series(1, :n)))), 1);
SQL
else
	cat >"$work/embed.sql" <<SQL
\set n random(1, 60)
\set id random(1, 1000)
SELECT array_length(llm_embed(repeat('soak word ', :n) || :id), 1);
SQL
fi
cat >"$work/tokenize.sql" <<SQL
\set n random(1, 200)
SELECT array_length(llm_tokenize(repeat('Tokenize this, ', :n) || :n), 1);
SQL

# --- what runs inside the throw-away cluster
cat >"$work/run.sh" <<'SH'
#!/bin/bash
set -uo pipefail
cd "$W"
q() { psql -X -At -c "$1"; }
log=/var/log/postgresql/postgresql-15-regress.log
[ -r "$log" ] || log=$(ls "${LOGDIR:-/nonexistent}"/*.log 2>/dev/null | head -1)
echo "$log" >serverlog.path
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS llm" >/dev/null || exit 1
if [ "$EMBED_VOCAB" = 1 ]; then
	grep -v '^\[' "$LLM_EMBED_MODEL/vocab.txt" | sed 's/^##//' | tr -d '\\' >vocab.txt
	psql -X -q -v ON_ERROR_STOP=1 -c "CREATE TABLE soak_vocab(id serial PRIMARY KEY, w text)" \
		-c "\\copy soak_vocab(w) FROM '$W/vocab.txt'" || exit 1
fi
# warm-up of every path, so that the models are loaded before the samples
q "SELECT length(llm_generate('Hello', max_tokens => 2)), array_length(llm_embed('hello'), 1),
          array_length(llm_tokenize('hello'), 1)" >/dev/null || exit 1
read -r wpid wstart < <(q "SELECT worker_pid, extract(epoch FROM started_at) FROM llm_stats" | tr '|' ' ')
echo "$wpid $wstart" >worker.start
log_off=$(stat -c %s "$log" 2>/dev/null || echo 0)
echo "$log_off" >serverlog.offset
t0=$(date +%s.%N)
echo "$t0" >t0
cat "/proc/$wpid/smaps" >smaps.start 2>/dev/null

# memory sampler: t VmRSS RssAnon RssFile RssShmem VmHWM Threads (kB)
(
	while [ ! -e stop.sampler ]; do
		now=$(date +%s.%N)
		awk -v t="$now" -v t0="$t0" '
			/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2}
			/^RssShmem:/ {s=$2} /^VmHWM:/ {h=$2} /^Threads:/ {n=$2}
			END {if (r != "") printf "%.1f %d %d %d %d %d %d\n", t - t0, r, a, f, s, h, n}' \
			"/proc/$wpid/status" >>rss.samples 2>/dev/null
		sleep "$SAMPLE"
	done
) &
sampler=$!

# the cancelled session: one longer generation after another, each in a
# fresh connection (the canceller picks the active one)
(
	while [ ! -e stop.victim ]; do
		PGAPPNAME=soak_cancel psql -X -At -c "SELECT length(llm_generate('Here is a long numbered list of fruits:\n1.', max_tokens => $CANCEL_TOKENS))" \
			>>victim.out 2>>victim.err
	done
) &
victim=$!

# the canceller: cancels the soak_cancel session's running statement
(
	while [ ! -e stop.canceller ]; do
		q "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity
		    WHERE application_name = 'soak_cancel' AND state = 'active' AND pid <> pg_backend_pid()" \
			>>cancels.out 2>>canceller.err
		sleep "$CANCEL_EVERY"
	done
) &
canceller=$!

# the worker's PostgreSQL memory contexts and its mappings after the warm-up
( sleep "$WARMUP"; q "SELECT pg_log_backend_memory_contexts($wpid)" >/dev/null
  cat "/proc/$wpid/smaps" >smaps.warm 2>/dev/null ) &
ctx1=$!

fargs=()
set -- $WEIGHTS
for s in $SCRIPTS; do fargs+=(-f "$s.sql@$1"); shift; done
pgbench -n -c "$CLIENTS" -j 4 -T "$DURATION" -l --log-prefix=tx "${fargs[@]}" >pgbench.out 2>pgbench.err
echo $? >pgbench.rc
touch stop.sampler stop.canceller stop.victim
cat "/proc/$wpid/smaps" >smaps.end 2>/dev/null
wait "$sampler"
wait "$canceller"
wait "$victim"
wait "$ctx1"
q "SELECT pg_log_backend_memory_contexts($wpid)" >/dev/null

# the end state: slots, queue and running requests; polled for at most
# 10 s because a cancelled request's slot is freed by the worker's next
# round
for i in $(seq 20); do
	q "SELECT slots_in_use, queue_depth, running, worker_pid, extract(epoch FROM started_at) FROM llm_stats" >end.state
	IFS='|' read -r slots queued running _ _ <end.state
	[ "$slots" = 0 ] && [ "$queued" = 0 ] && [ "$running" = 0 ] && break
	sleep 0.5
done
echo "$i" >end.polls
# idle: the worker gives free heap pages back after a second without work
sleep 3
awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} /^RssShmem:/ {s=$2}
     /^VmHWM:/ {h=$2} /^Threads:/ {n=$2} END {print r, a, f, s, h, n}' "/proc/$wpid/status" >idle.sample
cat "/proc/$wpid/smaps" >smaps.idle 2>/dev/null
q "SELECT requests, prompt_tokens, generated_tokens, steps, round(avg_batch::numeric, 2),
          embedded_texts, embed_batches, cached_prompt_tokens FROM llm_stats" >end.stats
sleep 1   # let the memory context dump reach the log
tail -c +"$((log_off + 1))" "$log" >server.log
exit 0
SH
chmod 755 "$work/run.sh"

cd /tmp
EMBED_VOCAB=${EMBED_VOCAB:-0}
export W=$work CLIENTS DURATION SAMPLE CANCEL_EVERY CANCEL_TOKENS WARMUP EMBED_VOCAB
export SCRIPTS=$scripts WEIGHTS=$weights
echo "soak: $CLIENTS clients, $DURATION s, llm.threads=$LLM_PG_THREADS, cancel every $CANCEL_EVERY s"
# shellcheck disable=SC2086
llm_pg_virtualenv -o llm.max_batch=16 -o llm.queue_size=64 ${SOAK_GUCS:-} "$work/run.sh"

if [ -n "$KEEP" ]; then
	mkdir -p "$KEEP"
	cp "$work"/rss.samples "$work"/pgbench.out "$work"/pgbench.err "$work"/server.log \
		"$work"/end.* "$work"/victim.err "$work"/smaps.* "$KEEP"/ 2>/dev/null || true
	cat "$work"/tx.* >"$KEEP/tx.log" 2>/dev/null || true
fi

python3 - "$work" "$MAX_GROWTH" "$WARMUP" "$scripts" <<'PY'
import glob, os, re, sys

w, max_growth, warmup, names = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split()
fails = []
def rd(name, default=""):
    try:
        return open(os.path.join(w, name), errors="replace").read()
    except OSError:
        return default

# pgbench
out = rd("pgbench.out") + rd("pgbench.err")
rc = rd("pgbench.rc", "?").strip()
def grab(pat, default=None):
    m = re.search(pat, out)
    return m.group(1) if m else default
processed = int(grab(r"number of transactions actually processed: (\d+)", "0"))
failed = int(grab(r"number of failed transactions: (\d+)", "-1"))
aborted = len(re.findall(r"client \d+ .*aborted", out))
print(f"pgbench: {processed} transactions, {failed} failed, {aborted} clients aborted, exit {rc}")
if rc != "0" or failed != 0 or aborted or processed == 0:
    fails.append("pgbench reported failed or aborted transactions (or none ran)")
    print("\n".join(l for l in out.splitlines() if "ERROR" in l or "abort" in l)[:2000])

# latency per script from the transaction logs: client tx time_us script ...
lat = {}
bad = 0
for f in glob.glob(os.path.join(w, "tx.*")):
    for line in open(f):
        p = line.split()
        if len(p) < 4:
            continue
        if not p[2].isdigit():
            bad += 1          # "failed" or "skipped"
            continue
        lat.setdefault(int(p[3]), []).append(int(p[2]) / 1000.0)
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]
print("| script | transactions | p50 ms | p99 ms |")
print("|---|---:|---:|---:|")
for i, n in enumerate(names):
    v = lat.get(i, [])
    if v:
        print(f"| {n} | {len(v)} | {pct(v, 0.5):.0f} | {pct(v, 0.99):.0f} |")
    else:
        print(f"| {n} | 0 | - | - |")
if bad:
    fails.append(f"{bad} transactions logged as failed")

# the cancelled session
cancels = sum(int(x) for x in rd("cancels.out").split() if x.isdigit())
verr = [l for l in rd("victim.err").splitlines() if l.startswith("ERROR")]
vcancel = sum("canceling statement due to user request" in l for l in verr)
vother = [l for l in verr if "canceling statement due to user request" not in l]
vdone = len(rd("victim.out").split())
print(f"cancelled session: {cancels} cancels sent, {vcancel} statements cancelled, "
      f"{vdone} completed, {len(vother)} other errors")
if vother:
    fails.append("the cancelled session saw errors other than the cancel: " + vother[0])
if rd("canceller.err").strip():
    fails.append("the canceller failed: " + rd("canceller.err").splitlines()[0])
if cancels == 0:
    fails.append("no cancel was sent")

# the server log
log = rd("server.log")
crash = [l for l in log.splitlines()
         if re.search(r"terminated by signal|PANIC|was terminated|exited with exit code [^01]|"
                      r"terminating any other active server processes|"
                      r"all server processes terminated|reinitializing|"
                      r"\"llm worker\".*exited", l)]
print(f"server log: {len(log.splitlines())} lines, {len(crash)} crash lines")
if not log.strip():
    fails.append("the server log could not be read (" + rd("serverlog.path").strip() + ")")
if crash:
    fails.append("crash in the server log: " + crash[0])
wpid, wstart = rd("worker.start").split()
st = rd("end.state").strip().split("|")
print(f"end state (slots_in_use|queue_depth|running|worker_pid|started_at): {rd('end.state').strip()}"
      f" after {rd('end.polls').strip()} polls of 0.5 s")
if len(st) < 5 or st[0] != "0" or st[1] != "0" or st[2] != "0":
    fails.append("llm_stats shows requests left at the end: " + "|".join(st))
if len(st) >= 5 and (st[3] != wpid or st[4] != wstart):
    fails.append(f"the worker restarted (pid {wpid} -> {st[3]})")
print("llm_stats (requests|prompt_tokens|generated_tokens|steps|avg_batch|embedded_texts|"
      "embed_batches|cached_prompt_tokens): " + rd("end.stats").strip())

# the worker's memory contexts (Grand total lines of the two dumps)
tot = re.findall(r"Grand total: (\d+) bytes in (\d+) blocks; (\d+) free", log)
for label, t in zip(("after warm-up", "at the end"), tot):
    print(f"worker memory contexts {label}: {int(t[0]) / 1048576:.2f} MiB in {t[1]} blocks, "
          f"{int(t[2]) / 1048576:.2f} MiB free")

# memory samples
rows = [list(map(float, l.split())) for l in rd("rss.samples").splitlines() if len(l.split()) == 7]
if not rows:
    fails.append("no memory samples")
else:
    first = rows[0]
    warm = next((r for r in rows if r[0] >= warmup), rows[-1])
    last = rows[-1]
    mb = lambda kb: kb / 1024.0
    print("| worker memory, MB | t s | VmRSS | RssAnon | RssFile | RssShmem | VmHWM | threads |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    idle = rd("idle.sample").split()
    show = [("start", first), ("after warm-up", warm), ("end", last)]
    if len(idle) == 6:
        show.append(("idle 3 s after the end", [last[0] + 3] + [float(x) for x in idle]))
    for label, r in show:
        print(f"| {label} | {r[0]:.0f} | {mb(r[1]):.1f} | {mb(r[2]):.1f} | {mb(r[3]):.1f} | "
              f"{mb(r[4]):.1f} | {mb(r[5]):.1f} | {r[6]:.0f} |")
    # the second half of the run against the first: a plateau has none
    mid = next((r for r in rows if r[0] >= (warm[0] + last[0]) / 2), last)
    for name, k in (("VmRSS", 1), ("RssAnon", 2), ("RssShmem", 4), ("RssFile", 3)):
        g = 100.0 * (last[k] - warm[k]) / warm[k] if warm[k] else 0.0
        print(f"{name}: {mb(warm[k]):.1f} -> {mb(last[k]):.1f} MB after warm-up ({g:+.1f}%), "
              f"first half {mb(mid[k] - warm[k]):+.1f} MB, second half {mb(last[k] - mid[k]):+.1f} MB")
        if k in (1, 2) and g > max_growth:
            fails.append(f"{name} grew {g:.1f}% after the warm-up (limit {max_growth}%)")

# where the resident memory is, by mapping, after the warm-up and at the end
def smaps(name):
    cat = {}
    key = None
    for line in rd(name).splitlines():
        p = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            path = " ".join(p[5:]) if len(p) > 5 else ""
            if path.startswith("/dev/shm") or path.startswith("/SYSV") or "(deleted)" in path:
                key = "shared memory"
            elif path == "":
                key = "anonymous mappings (mmap'd chunks, thread arenas)"
            elif path.startswith("["):
                key = path
            elif ".gguf" in path or ".safetensors" in path:
                key = os.path.basename(path)
            else:
                key = "other files (binaries, libraries)"
        elif key and p and p[0] == "Rss:":
            cat[key] = cat.get(key, 0) + int(p[1])
    return cat
z, a, b, c = (smaps("smaps." + x) for x in ("start", "warm", "end", "idle"))
if a and b:
    print("| worker mapping, Rss MB | start | after warm-up | end | change after warm-up | idle |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in sorted(set(a) | set(b), key=lambda k: -b.get(k, 0)):
        if b.get(k, 0) < 64 and a.get(k, 0) < 64:
            continue
        print(f"| {k} | {z.get(k, 0) / 1024:.1f} | {a.get(k, 0) / 1024:.1f} | {b.get(k, 0) / 1024:.1f} | "
              f"{(b.get(k, 0) - a.get(k, 0)) / 1024:+.1f} | {c.get(k, 0) / 1024:.1f} |")

if fails:
    print("FAIL: " + "; ".join(fails))
    sys.exit(1)
print("PASS: no failed transaction, no crash, no slot left, worker memory within bounds")
PY
