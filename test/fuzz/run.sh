#!/usr/bin/env bash
# test/fuzz/run.sh [SECONDS] [TARGET...] - build the libFuzzer targets
# (make fuzz, and the fixtures the tokenizer targets load) and run each
# for SECONDS (default 20) on a scratch copy of test/fuzz/corpus/<target>
# (the committed seeds are never changed). Prints TAP:
#   ok N - fuzz_x: M execs in S s, C coverage
# and a last line "fuzz: N passed, N failed" for test/summary.sh. A crash,
# leak, sanitizer report or timeout fails that target; libFuzzer's
# reproducer is kept under build/fuzz/findings/<target>/.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in test/fuzz/fuzz_*.c; do t=${f##*/}; targets+=("${t%.c}"); done
fi
blog=$(mktemp)
if ! make --no-print-directory -j2 fuzz fixtures >"$blog" 2>&1; then
  cat "$blog"; rm -f "$blog"
  echo "not ok 1 - make fuzz failed"; echo "fuzz: 0 passed, 1 failed"; exit 1
fi
rm -f "$blog"
echo "1..${#targets[@]}"
pass=0 fail=0 i=0
for t in "${targets[@]}"; do
  i=$((i + 1)); name=${t#fuzz_}
  work=$(mktemp -d); find_dir=build/fuzz/findings/$name
  mkdir -p "$find_dir"
  cp -r "test/fuzz/corpus/$name/." "$work/" 2>/dev/null
  log=$find_dir/last.log
  build/fuzz/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$find_dir/" \
    "$work" >"$log" 2>&1
  rc=$?
  rm -rf "$work"
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
  took=$(sed -nE 's/.*Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
  if [ $rc -eq 0 ] && [ -n "$execs" ]; then
    pass=$((pass + 1))
    echo "ok $i - $t: $execs execs in ${took:-$secs} s, ${cov:-cov: ?}"
  else
    fail=$((fail + 1))
    echo "not ok $i - $t: exit $rc (log and reproducer in $find_dir)"
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5 | sed 's/^/# /'
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
