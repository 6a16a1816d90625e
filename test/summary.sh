# test/summary.sh - how scripts/test.sh reads each suite's result (sourced).
#
# suite_summary NAME KIND RC < OUTPUT prints one line
#   "NAME: N passed, N failed, N skipped"
# taken only from the runner's own summary line in OUTPUT, by KIND:
#   tap         the last "WORD: N passed, N failed[, N skipped]" line
#               (test/run-unit.sh, test/layout/check.sh, test-fixtures.sh)
#   pg_regress  pg_regress's "All N tests passed." / "N of M tests failed."
#               (an ignored failure counts as a failure)
#   prove       prove's "Files=N, Tests=M" and "Failed X/Y subtests"
#   verdict     one check: a "PASS: ..." line and exit status 0
# RC is the suite's exit status: non-zero with no failure counted counts
# one failure; so does a missing summary line, and a suite that ran no
# test at all.
suite_summary() {
  local name=$1 kind=$2 rc=$3 out line p=0 f=0 s=0 found=0
  out=$(cat)
  case $kind in
    tap)
      line=$(printf '%s\n' "$out" |
        grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' | tail -n 1)
      if [ -n "$line" ]; then
        found=1
        read -r p f s < <(printf '%s\n' "$line" |
          sed -E 's/^[a-z-]+: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/')
        s=${s:-0}
      fi ;;
    pg_regress)
      line=$(printf '%s\n' "$out" | grep -E '^ *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests (passed|failed))' | tail -n 1)
      if [[ $line =~ All\ ([0-9]+)\ tests\ passed ]]; then
        found=1; p=${BASH_REMATCH[1]}
      elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ passed ]]; then
        found=1; p=${BASH_REMATCH[1]}; f=$((BASH_REMATCH[2] - p))
      elif [[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
        found=1; f=${BASH_REMATCH[1]}; p=$((BASH_REMATCH[2] - f))
      fi ;;
    prove)
      line=$(printf '%s\n' "$out" | sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' | tail -n 1)
      if [ -n "$line" ]; then
        found=1
        f=$(printf '%s\n' "$out" | sed -nE 's/.*Failed ([0-9]+)\/[0-9]+ subtests.*/\1/p' |
          awk '{s+=$1} END {print s+0}')
        p=$((line - f))
      fi ;;
    verdict)
      found=1
      if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -qE '^PASS: '; then p=1; else f=1; fi ;;
  esac
  if [ $found -eq 0 ]; then
    echo "not ok - $name printed no summary line" >&2; f=$((f + 1))
  elif [ $((p + f)) -eq 0 ]; then
    echo "not ok - $name ran zero tests" >&2; f=1
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $name exited with status $rc" >&2; f=1
  fi
  echo "$name: $p passed, $f failed, $s skipped"
}
