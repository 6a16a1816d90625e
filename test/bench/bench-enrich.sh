#!/bin/bash
# test/bench/bench-enrich.sh - rows/s of enrichment jobs against a plain
# UPDATE ... SET c = llm_generate(...) over the same rows, in one
# throw-away cluster (not a CI test).
#
# Three tables get the same ROWS rows ('Item N is', MAX_TOKENS greedy
# tokens of 'Summarize: {body}'):
#   plain  UPDATE plain SET summary = llm_generate('Summarize: ' || body, ...)
#          (one request at a time: the executor calls the function per row)
#   sync   one INSERT of all rows into a table with a sync job (the
#          statement trigger computes them with one llm_generate_batch)
#   async  one INSERT into a table with an async job, timed until the
#          drain worker has emptied the queue
# and checks that the three give the same outputs. The order of the
# three rotates over ROUNDS rounds; each figure is the mean of its rounds.
#
# Environment: ROWS (256), MAX_TOKENS (4), ROUNDS (2), THREADS (1),
# MAX_BATCH (16, llm.max_batch), BATCH (64, llm.enrich_batch_size).
set -euo pipefail
. "$(dirname "$0")/../pg/common.sh"
LLM_PG_THREADS=${THREADS:-1}
export LLM_PG_THREADS
llm_pg_prepare
ROWS=${ROWS:-256}
MAX_TOKENS=${MAX_TOKENS:-4}
ROUNDS=${ROUNDS:-2}
MAX_BATCH=${MAX_BATCH:-16}
BATCH=${BATCH:-64}
work=$(mktemp -d /tmp/llm-benchenrich.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

cat >"$work/run.sh" <<SH
#!/bin/bash
set -euo pipefail
q() { psql -X -At -v ON_ERROR_STOP=1 -c "\$1"; }
q 'CREATE EXTENSION IF NOT EXISTS llm' >/dev/null
rows="SELECT i, 'Item ' || i || ' is' FROM generate_series(1, $ROWS) AS i"
declare -A total
for r in \$(seq 1 $ROUNDS); do
	order="plain sync async"
	[ \$((r % 3)) = 2 ] && order="sync async plain"
	[ \$((r % 3)) = 0 ] && order="async plain sync"
	for kind in \$order; do
		q "DROP TABLE IF EXISTS \$kind; CREATE TABLE \$kind (id int PRIMARY KEY, body text, summary text)" >/dev/null
		case \$kind in
		plain)
			q "INSERT INTO plain (id, body) \$rows" >/dev/null
			t0=\$(date +%s.%N)
			q "UPDATE plain SET summary = llm_generate('Summarize: ' || body, max_tokens => $MAX_TOKENS)" >/dev/null
			t1=\$(date +%s.%N) ;;
		sync)
			job=\$(q "SELECT llm_enrich('sync', 'summary', 'Summarize: {body}', mode => 'sync', max_tokens => $MAX_TOKENS)")
			t0=\$(date +%s.%N)
			q "INSERT INTO sync (id, body) \$rows" >/dev/null
			t1=\$(date +%s.%N)
			q "SELECT llm_enrich_drop(\$job)" >/dev/null ;;
		async)
			job=\$(q "SELECT llm_enrich('async', 'summary', 'Summarize: {body}', max_tokens => $MAX_TOKENS)")
			t0=\$(date +%s.%N)
			q "INSERT INTO async (id, body) \$rows" >/dev/null
			while [ "\$(q "SELECT pending FROM llm_enrich_jobs WHERE job = \$job")" != 0 ]; do sleep 0.05; done
			t1=\$(date +%s.%N)
			q "SELECT llm_enrich_drop(\$job)" >/dev/null ;;
		esac
		rate=\$(awk -v n=$ROWS -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.1f", n / (b - a) }')
		echo "round \$r \$kind: $ROWS rows in \$(awk -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.2f", b - a }') s = \$rate rows/s"
		total[\$kind]=\$(awk -v s="\${total[\$kind]:-0}" -v x=\$rate 'BEGIN { print s + x }')
	done
	same=\$(q "SELECT count(*) FROM plain p JOIN sync s USING (id) JOIN async a USING (id) WHERE p.summary = s.summary AND p.summary = a.summary")
	echo "round \$r: \$same of $ROWS rows have the same output in all three"
	[ "\$same" = $ROWS ] || { echo "FAIL: outputs differ"; exit 1; }
done
for kind in plain sync async; do
	m=\$(awk -v s=\${total[\$kind]} -v n=$ROUNDS 'BEGIN { printf "%.1f", s / n }')
	eval "mean_\$kind=\$m"
	echo "mean \$kind: \$m rows/s"
done
awk -v p=\$mean_plain -v s=\$mean_sync -v a=\$mean_async \
	'BEGIN { printf "sync/plain = %.2fx, async/plain = %.2fx\n", s / p, a / p }'
SH
chmod 755 "$work/run.sh"
cd /tmp
llm_pg_virtualenv -o llm.enrich_naptime=20 -o "llm.max_batch=$MAX_BATCH" \
	-o "llm.enrich_batch_size=$BATCH" "$work/run.sh"
