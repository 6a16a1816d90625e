#!/usr/bin/env bash
# Run the whole test suite: the layout checks (layers kept apart, no
# call cycles, no file over 1,500 lines), engine unit tests (normal build and under
# AddressSanitizer + UBSan), golden comparisons against llama.cpp's data,
# the malformed-file checks of llm-cli, llm-cli generate, embed and bench
# on the real models (test/cli/run.sh) and on random-weight models of
# every type (test/cli/synthetic.sh), the libFuzzer targets
# (test/fuzz/run.sh, 20 s each), and the PostgreSQL extension's
# pg_regress, TAP, concurrency and isolation suites (throw-away clusters run as the
# postgres user by pg_virtualenv), and the scale-out suite (test/scaleout/run.sh:
# four clusters of its own, as the postgres user). Ends with one line
# "total: N passed, N failed, N skipped" (a skip is not a pass; see
# test/summary.sh for how each suite's own summary line is read); exits
# non-zero if anything failed, or if a suite ran no test.
# Stops at once (non-zero) if the dependencies or the models cannot be
# installed: the suites would otherwise skip the work they cannot do.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/install-deps.sh; then
  echo "FAIL: scripts/install-deps.sh failed; nothing was tested" >&2
  exit 1
fi
if ! scripts/fetch-models.sh; then
  echo "FAIL: scripts/fetch-models.sh failed (models missing); nothing was tested" >&2
  exit 1
fi
export LLM_MODEL_DIR=${LLM_CACHE:-$HOME/.cache/llm}
export LLM_MODEL=$LLM_MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf

. test/summary.sh
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
status=0

# run_suite NAME KIND COMMAND...: run and show its output, then keep the
# one line test/summary.sh reads from the runner's own summary (KIND)
run_suite() {
  local name=$1 kind=$2 rc; shift 2
  echo "##### $name"
  "$@" 2>&1 | tee "$out"; rc=${PIPESTATUS[0]}
  [ $rc -eq 0 ] || status=1
  suite_summary "$name" "$kind" $rc <"$out" | tee -a "$log"
}

make -j2 all unit fixtures || exit 1
export LLM_FIXTURE_DIR=$PWD/build/fixtures
run_suite layout         tap        test/layout/check.sh
run_suite unit           tap        make --no-print-directory check
# the kernels once more as on a CPU without AVX2 (the scalar dispatch path)
run_suite unit-scalar    tap        env LLM_TEST_NO_AVX2=1 test/run-unit.sh build/test/test_kernels
run_suite cli-fixtures   tap        test/test-fixtures.sh build/llm-cli build/fixtures
run_suite cli-perplexity tap        test/cli/perplexity.sh build/llm-cli
run_suite cli-models     tap        test/cli/run.sh build/llm-cli "$LLM_MODEL_DIR"
# random-weight models of every type (test/fixtures/make_synthetic.py)
run_suite cli-synthetic  tap        test/cli/synthetic.sh build/llm-cli
# scripts/device-check.sh without a GPU: usage, the summary writer, a dry run
run_suite cli-device     tap        test/cli/device-check.sh
run_suite pg-regress     pg_regress test/pg/run-regress.sh
run_suite pg-tap         prove      test/pg/run-tap.sh
run_suite pg-concurrency verdict    test/pg/run-concurrency.sh
run_suite pg-isolation   pg_regress test/pg/run-isolation.sh
# coordinator + two shards + a standby: llm_cluster over PL/Proxy and postgres_fdw
run_suite scaleout       verdict    test/scaleout/run.sh

make -j2 SAN=1 unit fixtures BUILD=build-san || exit 1
run_suite unit-asan      tap        make --no-print-directory SAN=1 check
# libFuzzer targets (clang), 20 s each on their seed corpora
run_suite fuzz           tap        test/fuzz/run.sh 20

# totals only from the lines suite_summary wrote
read -r pass fail skip < <(awk '{p+=$2; f+=$4; s+=$6} END {print p+0, f+0, s+0}' "$log")
[ "$fail" -eq 0 ] || status=1
echo "total: $pass passed, $fail failed, $skip skipped"
exit $status
