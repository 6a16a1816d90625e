#!/usr/bin/env bash
# test/scaleout/run.sh - scale-out on existing engines (issue 14).
#
# Starts four PostgreSQL 15 clusters on localhost (initdb/pg_ctl, as the
# postgres user when run as root): a coordinator (no llm preload: it
# computes nothing itself), two shards with shared_preload_libraries=llm
# and llm.threads=1 each, and a hot standby of the first shard. Installs
# llm and llm_cluster (ext/llm_cluster) and PL/Proxy (through
# scripts/install-deps.sh), distributes ROWS rows by hash of the key
# (PL/Proxy SPLIT), runs the fan-out enrichment UPDATE
# (llm_cluster_update: PL/Proxy RUN ON ALL) and a distributed SELECT over
# shard-side views that call llm_generate (postgres_fdw, async_capable).
# Checks: every row filled, and equal to what the shard computes again
# for the same prompt in the SELECT; the per-node row counts are the hash
# placement; each shard's llm_stats counted the requests and the
# coordinator ran no llm worker; the shards' UPDATEs overlapped in time;
# the SELECT ran as Async Foreign Scans; the standby's llm worker runs,
# answers llm_generate as its primary does, and logged no error (the
# worker writes nothing: it has no database connection, and the
# enrichment launcher, which writes, does not start in recovery). Then
# the pg_regress file ext/llm_cluster/sql/llm_cluster_errors.sql checks
# the error paths (SQLSTATE and hint).
#
# With COMPARE=1 (default) it also times the same UPDATE of all ROWS rows
# on one shard alone (llm.threads=1) and prints the ratio.
#
# Ends with "scaleout: nodes=N rows=R per-node=a,b overlap=yes|no"
# (N: the shards); exits non-zero on any failure.
#
# Environment: ROWS (200), MAX_TOKENS (8), SCALEOUT_PORT (55432: uses
# 55432..55435), COMPARE (1), SCALEOUT_KEEP=1 leaves the clusters running.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

ROWS=${ROWS:-200}
MAX_TOKENS=${MAX_TOKENS:-8}
BASE=${SCALEOUT_PORT:-55432}
COMPARE=${COMPARE:-1}
PROMPT='Give a short title for: {body}'

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

if ! dpkg -s postgresql-15-plproxy >/dev/null 2>&1; then
	scripts/install-deps.sh || fail "scripts/install-deps.sh could not install PL/Proxy"
fi
[ -r "$(pg_config --pkglibdir)/plproxy.so" ] || fail "PL/Proxy is not installed (postgresql-15-plproxy)"

T0=$(date +%s)
. test/pg/common.sh
echo "lock taken after $(($(date +%s) - T0)) s"
llm_pg_prepare
make -s -C ext/llm_cluster install >/dev/null

BIN=$(pg_config --bindir)
work=$(mktemp -d /tmp/llm-scaleout.XXXXXX)
chmod 755 "$work"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$work"
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi

NODES=(coord shard1 shard2 standby)
port_of() {
	case $1 in
	coord) echo "$BASE" ;;
	shard1) echo $((BASE + 1)) ;;
	shard2) echo $((BASE + 2)) ;;
	standby) echo $((BASE + 3)) ;;
	esac
}

cleanup() {
	local n
	if [ "${SCALEOUT_KEEP:-0}" = 1 ]; then
		echo "kept: $work (ports $BASE..$((BASE + 3)))" >&2
		return
	fi
	for n in "${NODES[@]}"; do
		[ -f "$work/$n/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$work/$n" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT

# q NODE SQL: run SQL on a node, unaligned output, stop on error
q() {
	local node=$1
	shift
	as_pg psql -X -q -At -F ' ' -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$node")" -d postgres -c "$*"
}

# configure NODE [llm]: append the settings of a node to postgresql.conf
configure() {
	local node=$1 llm=${2:-}
	{
		echo "port = $(port_of "$node")"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$work'"
		echo "max_connections = 40"
		echo "shared_buffers = 32MB"
		echo "logging_collector = off"
		if [ -n "$llm" ]; then
			echo "shared_preload_libraries = 'llm'"
			echo "llm.model_dir = '$LLM_PG_MODEL_DIR'"
			echo "llm.default_model = '$LLM_MODEL_FILE'"
			echo "llm.default_embedding_model = '$LLM_EMBED_NAME'"
			echo "llm.threads = 1"
			echo "llm.ctx_size = 1024"
		fi
	} >>"$work/$node/postgresql.conf"
}

start() {
	as_pg "$BIN/pg_ctl" -D "$work/$1" -l "$work/$1.log" -w -t 60 start >/dev/null ||
		{ cat "$work/$1.log" >&2; fail "$1 did not start"; }
}

for n in coord shard1 shard2; do
	as_pg "$BIN/initdb" -D "$work/$n" --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
done
configure coord
configure shard1 llm
configure shard2 llm
for n in coord shard1 shard2; do start $n; done

for n in shard1 shard2; do
	q $n "CREATE EXTENSION llm_cluster CASCADE" 2>/dev/null
done
q coord "CREATE EXTENSION llm_cluster CASCADE; CREATE EXTENSION postgres_fdw" 2>/dev/null

# the standby: a base backup of shard1 (llm extension included), streaming
as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$(port_of shard1)" -D "$work/standby" -R -X stream --no-sync
sed -i "s/^port = .*/port = $(port_of standby)/" "$work/standby/postgresql.conf"
start standby

# --- distribute ROWS rows by hash of id
q coord "SELECT llm_cluster_add_shard('shard1', '127.0.0.1', $(port_of shard1), 'postgres');
         SELECT llm_cluster_add_shard('shard2', '127.0.0.1', $(port_of shard2), 'postgres')" >/dev/null
q coord "CREATE TABLE docs (id integer PRIMARY KEY, body text NOT NULL, summary text)"
q coord "SELECT llm_cluster_distribute('docs', 'id')" >/dev/null
ROWS_SQL="SELECT i, 'item ' || i || ': ' || (ARRAY['a red bicycle with a bell', 'fresh bread from the bakery',
          'a cold winter morning', 'the history of the printing press', 'how to grow tomatoes'])[1 + i % 5]
          FROM generate_series(1, $ROWS) AS i"
ti0=$(date +%s.%N)
inserted=$(q coord "SELECT sum(n) FROM docs_cluster_insert(ARRAY(SELECT ROW(i, b, NULL)::docs FROM ($ROWS_SQL) AS r(i, b))) AS n")
ti1=$(date +%s.%N)
[ "$inserted" = "$ROWS" ] || fail "inserted $inserted rows, expected $ROWS"
want1=$(q coord "SELECT count(*) FROM generate_series(1, $ROWS) i WHERE llm_cluster_node_of(i::text) = 'shard1'")
want2=$((ROWS - want1))
have1=$(q shard1 "SELECT count(*) FROM docs")
have2=$(q shard2 "SELECT count(*) FROM docs")
[ "$have1,$have2" = "$want1,$want2" ] || fail "rows per shard $have1,$have2, hash placement says $want1,$want2"
[ "$have1" -gt 0 ] && [ "$have2" -gt 0 ] || fail "a shard got no row ($have1,$have2)"
echo "distributed: shard1=$have1 shard2=$have2"

# the models are loaded before anything is timed
for n in shard1 shard2; do
	[ -n "$(q $n "SELECT llm_generate('Warm up', max_tokens => 1)")" ] || fail "$n does not generate"
done

# --- one node alone (shard1, llm.threads=1): the same UPDATE of all rows
if [ "$COMPARE" = 1 ]; then
	one_gen0=$(q shard1 "SELECT generated_tokens FROM llm_stats")
	q shard1 "CREATE TABLE docs_one (id integer PRIMARY KEY, body text NOT NULL, summary text);
	          INSERT INTO docs_one SELECT * , NULL FROM ($ROWS_SQL) AS r"
	t0=$(date +%s.%N)
	one=$(q shard1 "UPDATE docs_one AS t SET summary = llm_generate(concat('Give a short title for: ', t.body), max_tokens => $MAX_TOKENS)" ; q shard1 "SELECT count(*) FROM docs_one WHERE summary IS NOT NULL")
	t1=$(date +%s.%N)
	[ "$one" = "$ROWS" ] || fail "one-node UPDATE filled $one rows"
	one_s=$(echo "$t1 - $t0" | bc -l)
	one_gen=$(($(q shard1 "SELECT generated_tokens FROM llm_stats") - one_gen0))
	printf 'one node: %d rows in %.2f s (%.1f rows/s, %.1f generated tok/s)\n' "$ROWS" "$one_s" \
		"$(echo "$ROWS / $one_s" | bc -l)" "$(echo "$one_gen / $one_s" | bc -l)"
fi

# --- the fan-out UPDATE
read -r req0_1 gen0_1 < <(q shard1 "SELECT requests, generated_tokens FROM llm_stats")
read -r req0_2 gen0_2 < <(q shard2 "SELECT requests, generated_tokens FROM llm_stats")
t0=$(date +%s.%N)
q coord "SELECT node, rows, extract(epoch FROM started_at), extract(epoch FROM finished_at)
         FROM llm_cluster_update('docs', 'summary', '$PROMPT', max_tokens => $MAX_TOKENS)" >"$work/update.out"
t1=$(date +%s.%N)
two_s=$(echo "$t1 - $t0" | bc -l)
cat "$work/update.out"
read -r n1 r1 s1 e1 < <(sed -n 1p "$work/update.out")
read -r n2 r2 s2 e2 < <(sed -n 2p "$work/update.out")
[ "$n1,$n2" = "shard1,shard2" ] || fail "llm_cluster_update answered for nodes $n1,$n2"
[ "$r1,$r2" = "$want1,$want2" ] || fail "llm_cluster_update updated $r1,$r2 rows, expected $want1,$want2"
overlap=no
if [ "$(echo "$s1 < $e2 && $s2 < $e1" | bc -l)" = 1 ]; then overlap=yes; fi
if [ "$overlap" = no ]; then
	echo "FAIL: the shards' UPDATEs did not overlap in time" >&2
	echo "scaleout: nodes=2 rows=$((r1 + r2)) per-node=$r1,$r2 overlap=no"
	exit 1
fi
gen1=$(($(q shard1 "SELECT generated_tokens FROM llm_stats") - gen0_1))
gen2=$(($(q shard2 "SELECT generated_tokens FROM llm_stats") - gen0_2))
printf 'shard1 %.2f s (%.1f rows/s, %.1f generated tok/s), shard2 %.2f s (%.1f rows/s, %.1f generated tok/s), overlapping %.2f s\n' \
	"$(echo "$e1 - $s1" | bc -l)" "$(echo "$r1 / ($e1 - $s1)" | bc -l)" "$(echo "$gen1 / ($e1 - $s1)" | bc -l)" \
	"$(echo "$e2 - $s2" | bc -l)" "$(echo "$r2 / ($e2 - $s2)" | bc -l)" "$(echo "$gen2 / ($e2 - $s2)" | bc -l)" \
	"$(echo "m=$e1; if ($e2 < m) m=$e2; s=$s1; if ($s2 > s) s=$s2; m - s" | bc -l)"

# a second run has nothing left to do (only rows whose target is NULL)
again=$(q coord "SELECT string_agg(rows::text, ',' ORDER BY node) FROM llm_cluster_update('docs', 'summary', '$PROMPT', max_tokens => $MAX_TOKENS)")
[ "$again" = "0,0" ] || fail "a second llm_cluster_update updated $again rows"

# --- the distributed SELECT: shard-side views compute llm_generate again
q coord "SELECT * FROM llm_cluster_run(\$\$CREATE VIEW docs_check AS SELECT id, summary,
           llm_generate(concat('Give a short title for: ', body), max_tokens => $MAX_TOKENS) AS again FROM docs\$\$)" >/dev/null
q coord "SELECT llm_cluster_fdw_import('docs_check', 'docs_check_all')" >/dev/null
plan=$(q coord "EXPLAIN (COSTS OFF) SELECT * FROM docs_check_all")
[ "$(grep -c 'Async Foreign Scan' <<<"$plan")" = 2 ] || { echo "$plan" >&2; fail "the distributed SELECT does not scan the shards asynchronously"; }
# one query: each scan of the view computes llm_generate on the shards
read -r total filled same per_node < <(q coord "SELECT sum(c), sum(f), sum(s), string_agg(c::text, ',' ORDER BY llm_node)
    FROM (SELECT llm_node, count(*) AS c, count(*) FILTER (WHERE summary IS NOT NULL AND summary <> '') AS f,
                 count(*) FILTER (WHERE summary = again) AS s
          FROM docs_check_all GROUP BY llm_node) AS x")
echo "distributed SELECT: rows=$total filled=$filled same-as-recomputed=$same per-node=$per_node"
[ "$total" = "$ROWS" ] || fail "the distributed SELECT saw $total rows"
[ "$filled" = "$ROWS" ] || fail "$((ROWS - filled)) rows have no summary"
[ "$same" = "$ROWS" ] || fail "$((ROWS - same)) summaries differ from the shard's own llm_generate of the same prompt"
[ "$per_node" = "$want1,$want2" ] || fail "the distributed SELECT read $per_node rows per shard"

# --- what the coordinator itself costs: a fan-out round trip, and reading
# the rows through postgres_fdw without llm calls (the plain table)
q coord "SELECT llm_cluster_fdw_import('docs', 'docs_all')" >/dev/null
coord_costs=$(q coord "SELECT count(*) FROM llm_cluster_run('SELECT 1')" >/dev/null
	as_pg psql -X -q -At -h 127.0.0.1 -p "$BASE" -d postgres <<'SQL'
\timing on
SELECT count(*) FROM llm_cluster_run('SELECT 1');
SELECT count(*) FROM llm_cluster_run('SELECT 1');
SELECT count(*) FROM llm_cluster_run('SELECT 1');
SELECT sum(length(summary)) FROM docs_all;
SELECT sum(length(summary)) FROM docs_all;
SELECT sum(length(summary)) FROM docs_all;
SQL
)
rt_ms=$(grep -o 'Time: [0-9.]*' <<<"$coord_costs" | sed -n 3p | cut -d' ' -f2)
rd_ms=$(grep -o 'Time: [0-9.]*' <<<"$coord_costs" | sed -n 6p | cut -d' ' -f2)
printf 'coordinator: RUN ON ALL round trip %s ms; insert of %d rows %.0f ms; reading %d rows through postgres_fdw %s ms\n' \
	"$rt_ms" "$ROWS" "$(echo "($ti1 - $ti0) * 1000" | bc -l)" "$ROWS" "$rd_ms"

# --- each node's llm_stats: the shards computed their rows (UPDATE and
# SELECT), the coordinator has no llm worker at all
for n in 1 2; do
	eval "want=\$want$n; r0=\$req0_$n"
	read -r req gen < <(q shard$n "SELECT requests, generated_tokens FROM llm_stats")
	echo "shard$n llm_stats: requests=$req generated_tokens=$gen"
	[ $((req - r0)) -eq $((2 * want)) ] || fail "shard$n llm_stats counted $((req - r0)) requests for $want rows (UPDATE + SELECT: $((2 * want)))"
	[ "$gen" -gt 0 ] || fail "shard$n generated no token"
done
cw=$(q coord "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'llm worker'")
[ "$cw" = 0 ] || fail "the coordinator runs an llm worker"

# --- the standby
q standby "SELECT pg_is_in_recovery()" | grep -qx t || fail "the standby is not in recovery"
for i in $(seq 1 60); do
	[ "$(q standby "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'llm worker'")" = 1 ] && break
	sleep 0.5
done
[ "$i" -lt 60 ] || fail "no llm worker on the standby"
launcher=$(q standby "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'llm enrich%'")
[ "$launcher" = 0 ] || fail "an enrichment worker runs on the standby"
wpid0=$(q standby "SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'")
sb=$(q standby "SELECT llm_generate('The capital of France is', max_tokens => $MAX_TOKENS)")
pr=$(q shard1 "SELECT llm_generate('The capital of France is', max_tokens => $MAX_TOKENS)")
[ -n "$sb" ] || fail "llm_generate on the standby returned nothing"
[ "$sb" = "$pr" ] || fail "the standby generated '$sb', its primary '$pr'"
wpid1=$(q standby "SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'")
[ "$wpid0" = "$wpid1" ] || fail "the standby's llm worker restarted"
sreq=$(q standby "SELECT requests FROM llm_stats")
[ "$sreq" -ge 1 ] || fail "the standby's llm_stats counted no request"
# the replicated rows carry the summaries the shard wrote
sfill=$(q standby "SELECT count(*) FILTER (WHERE summary IS NOT NULL) FROM docs")
[ "$sfill" = "$want1" ] || fail "the standby has $sfill summaries, shard1 wrote $want1"
# a SELECT over many rows (batched by LlmBatch) on the standby recomputes
# what the primary's UPDATE wrote
sb_same=$(q standby "SELECT count(*) FROM (SELECT summary, llm_generate(concat('Give a short title for: ', body),
    max_tokens => $MAX_TOKENS) AS again FROM docs ORDER BY id LIMIT 16) AS d WHERE summary = again")
[ "$sb_same" = 16 ] || fail "on the standby $sb_same of 16 summaries equal llm_generate of their prompt"
sreq=$(q standby "SELECT requests FROM llm_stats")
[ "$sreq" -ge 17 ] || fail "the standby's llm_stats counted $sreq requests, expected at least 17"
wpid1=$(q standby "SELECT pid FROM pg_stat_activity WHERE backend_type = 'llm worker'")
[ "$wpid0" = "$wpid1" ] || fail "the standby's llm worker restarted"
if grep -E '(ERROR|FATAL|PANIC):' "$work/standby.log" >&2; then
	fail "the standby logged errors"
fi
echo "standby: llm worker pid $wpid1, requests=$sreq, 16 of 16 summaries recomputed, generated '${sb//$'\n'/\\n}'"

# --- error paths (pg_regress, SQLSTATE and hint)
mkdir -p "$work/regress/sql" "$work/regress/expected" "$work/regress/out"
cp ext/llm_cluster/sql/*.sql "$work/regress/sql/"
cp ext/llm_cluster/expected/*.out "$work/regress/expected/"
chown -R --reference="$work" "$work/regress"
if ! as_pg env PGHOST=127.0.0.1 LLMC_SHARD1_PORT="$(port_of shard1)" \
	"$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
	--host=127.0.0.1 --port="$BASE" --dbname=llmc_regress \
	--inputdir="$work/regress" --outputdir="$work/regress/out" llm_cluster_errors; then
	cat "$work/regress/out/regression.diffs" >&2 || true
	fail "ext/llm_cluster error-path regression test"
fi

if [ "$COMPARE" = 1 ]; then
	printf 'compare: 1 node %.2f s, 2 nodes %.2f s (%d rows, max_tokens %d, llm.threads=1 each): %.2fx\n' \
		"$one_s" "$two_s" "$ROWS" "$MAX_TOKENS" "$(echo "$one_s / $two_s" | bc -l)"
fi
echo "elapsed: $(($(date +%s) - T0)) s"
echo "PASS: scale-out over PL/Proxy, postgres_fdw and a hot standby"
echo "scaleout: nodes=2 rows=$total per-node=$r1,$r2 overlap=$overlap"
