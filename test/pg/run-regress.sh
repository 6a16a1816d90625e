#!/bin/bash
# test/pg/run-regress.sh - run the pg_regress suite (sql/*.sql against
# expected/*.out) on a throw-away cluster with llm preloaded.
#
# Works as root (pg_virtualenv runs the server as the postgres user) and
# as an ordinary user. Extra arguments are passed to make, e.g.
#   test/pg/run-regress.sh REGRESS=llm_generate
set -euo pipefail
. "$(dirname "$0")/common.sh"
llm_pg_prepare
cd "$LLM_REPO"
status=0
llm_pg_virtualenv -o llm.queue_size=8 make -s -f pg.mk installcheck "$@" || status=$?
if [ $status -ne 0 ] && [ -f regression.diffs ]; then
	cat regression.diffs
fi
exit $status
