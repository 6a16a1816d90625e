#!/usr/bin/env bash
# Every malformed GGUF file listed in FIXTURES/cases.tsv must make
# `llm-cli info` exit 1 with a message containing the expected text, within
# a time limit (no crash, no hang); every valid tiny model must load.
set -u
CLI=$1; DIR=$2
pass=0; fail=0
while IFS=$'\t' read -r file want; do
  [ -n "$file" ] || continue
  out=$(timeout 20 "$CLI" info -m "$DIR/$file" 2>&1); rc=$?
  if [ $rc -eq 1 ] && printf '%s' "$out" | grep -qiF -- "$want"; then
    echo "ok - $file rejected: $(printf '%s' "$out" | tail -n 1)"; pass=$((pass+1))
  else
    echo "not ok - $file: exit $rc, wanted exit 1 and \"$want\", got: $out"; fail=$((fail+1))
  fi
done < "$DIR/cases.tsv"
for f in "$DIR"/tiny-*.gguf; do
  out=$(timeout 20 "$CLI" info -m "$f" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then echo "ok - $(basename "$f") loads"; pass=$((pass+1))
  else echo "not ok - $(basename "$f") failed to load: $out"; fail=$((fail+1)); fi
done
echo "cli-fixtures: $pass passed, $fail failed"
[ $fail -eq 0 ]
