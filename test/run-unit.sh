#!/usr/bin/env bash
# Run TAP-producing test programs, show their output, and end with one line
# "unit: N passed, N failed, N skipped" (checks counted over all programs;
# an "ok N # SKIP reason" line is a skip, never a pass). A program that
# exits non-zero, prints no plan before its first check (tap_plan in
# test/unit/tap.h), runs a number of checks other than its plan, or runs
# no check at all (only skips, or nothing) counts as one more failure, and
# so does a run with no pass.
set -u
pass=0; fail=0; skip=0
for t in "$@"; do
  echo "=== $t"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  s=$(printf '%s\n' "$out" | grep -ciE '^ok [0-9]*[^#]*# *skip')
  p=$(( $(printf '%s\n' "$out" | grep -cE '^ok ') - s ))
  f=$(printf '%s\n' "$out" | grep -cE '^not ok ')
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"; fail=$((fail + 1))
  fi
  plan=$(printf '%s\n' "$out" | grep -m1 -E '^1\.\.[0-9]+$' | cut -c4-)
  first=$(printf '%s\n' "$out" | grep -m1 -E '^(1\.\.[0-9]+$|ok |not ok )')
  if [ -z "$plan" ]; then
    echo "not ok - $t printed no plan"; fail=$((fail + 1))
  elif [ "$first" != "1..$plan" ]; then
    echo "not ok - $t printed no plan before its first check"; fail=$((fail + 1))
  elif [ "$plan" -ne $((p + f + s)) ]; then
    echo "not ok - $t planned $plan checks, ran $((p + f + s))"; fail=$((fail + 1))
  fi
  if [ $((p + f)) -eq 0 ]; then
    echo "not ok - $t ran no check ($s skipped)"; fail=$((fail + 1))
  fi
done
if [ $pass -eq 0 ]; then
  echo "not ok - no check passed (zero tests run)"; fail=$((fail + 1))
fi
echo "unit: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
