#!/usr/bin/env bash
# Run TAP-producing test programs, show their output, and end with one line
# "N passed, N failed" (checks counted over all programs). A program that
# exits non-zero or prints no plan counts as one more failure.
set -u
pass=0; fail=0
for t in "$@"; do
  echo "=== $t"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | grep -cE '^ok ')
  f=$(printf '%s\n' "$out" | grep -cE '^not ok ')
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"; fail=$((fail + 1))
  fi
  if ! printf '%s\n' "$out" | grep -qE '^1\.\.[0-9]+'; then
    echo "not ok - $t printed no plan"; fail=$((fail + 1))
  fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
