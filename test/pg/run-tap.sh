#!/bin/bash
# test/pg/run-tap.sh - run the TAP tests (test/t/*.pl) with PGXS's
# PostgreSQL::Test::Cluster. Each test creates its own clusters.
#
# initdb refuses to run as root, so as root the tests run as the postgres
# user (the repository and the model directory must be readable by it).
# Arguments: test files (default: all), e.g.
#   test/pg/run-tap.sh test/t/001_cancel.pl
# LLM_TAP_REPEAT sets the repetitions of the cancel test (default 100).
# LLM_SERVER_PRELOAD (LD_PRELOAD of the servers), ASAN_OPTIONS and
# UBSAN_OPTIONS are passed on, so that a sanitizer build of llm.so can be
# tested (with LLM_PG_NO_BUILD=1). An UBSan build (engine and pg_*.c
# compiled with -fsanitize=undefined) needs no preload:
#   LLM_PG_NO_BUILD=1 UBSAN_OPTIONS=halt_on_error=1 test/pg/run-tap.sh
# (PostgreSQL 15's postgres binary hangs at start with libasan preloaded,
# so AddressSanitizer cannot be used for the server; use valgrind.)
set -euo pipefail
. "$(dirname "$0")/common.sh"
llm_pg_prepare
cd "$LLM_REPO"

pgxs=$(dirname "$(dirname "$(pg_config --pgxs)")")
bindir=$(pg_config --bindir)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test/t/*.pl)

testdir=$(mktemp -d /tmp/llm-tap.XXXXXX)
chmod 755 "$testdir"
run=(env PATH="$bindir:$PATH" TESTDIR="$testdir"
	PG_REGRESS="$pgxs/test/regress/pg_regress"
	LLM_PG_MODEL_DIR="$LLM_PG_MODEL_DIR" LLM_MODEL_FILE="$LLM_MODEL_FILE"
	LLM_EMBED_NAME="$LLM_EMBED_NAME"
	LLM_TAP_REPEAT="${LLM_TAP_REPEAT:-100}"
	${LLM_SERVER_PRELOAD:+LLM_SERVER_PRELOAD="$LLM_SERVER_PRELOAD"}
	${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"}
	${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"}
	prove -I "$pgxs/test/perl" -I test/t "${tests[@]}")
status=0
if [ "$(id -u)" = 0 ]; then
	chown postgres "$testdir"
	runuser -u postgres -- "${run[@]}" || status=$?
else
	"${run[@]}" || status=$?
fi
if [ $status -ne 0 ]; then
	echo "logs kept in $testdir/tmp_check/log"
else
	rm -rf "$testdir"
fi
exit $status
