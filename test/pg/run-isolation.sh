#!/bin/bash
# test/pg/run-isolation.sh - isolation tests (test/isolation/specs/*.spec
# against test/isolation/expected/*.out) with pg_isolation_regress on a
# throw-away cluster with llm preloaded. Extra arguments name the specs
# (default: all).
set -euo pipefail
. "$(dirname "$0")/common.sh"
llm_pg_prepare
cd "$LLM_REPO"

regress=$(dirname "$(pg_config --pgxs)")/../test/isolation/pg_isolation_regress
specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
	for f in test/isolation/specs/*.spec; do specs+=("$(basename "$f" .spec)"); done
fi
out=$(mktemp -d /tmp/llm-isolation.XXXXXX)
chmod 755 "$out"
status=0
(cd /tmp && llm_pg_virtualenv -o llm.enrich_naptime=50 \
	"$regress" --inputdir="$LLM_REPO/test/isolation" --outputdir="$out" \
	--load-extension=llm "${specs[@]}") || status=$?
if [ $status -ne 0 ] && [ -f "$out/regression.diffs" ]; then
	cat "$out/regression.diffs"
	echo "output kept in $out"
else
	rm -rf "$out"
fi
exit $status
