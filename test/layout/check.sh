#!/usr/bin/env bash
# test/layout/check.sh - the source tree keeps its three layers apart.
#
#   src/engine  the engine library: its quoted includes are its own
#               headers, and no include resolves to a PostgreSQL header
#   src/cli     llm-cli: the engine's headers only, no PostgreSQL header
#   src/pg      the extension: reaches the engine only through its public
#               headers (llm_engine.h, llm_embed.h)
# plus: no loose files in src/, no source file over 1,500 lines, and no
# call cycle between the object files of the PostgreSQL layer or of the
# embedding front and its two paths (read from nm of the built objects:
# run after "make all").
#
# Prints TAP lines and ends with "layout: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
pass=0; fail=0; n=0
check() {		# check DESCRIPTION COMMAND...: ok when COMMAND succeeds
  local desc=$1; shift
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $desc"; pass=$((pass + 1))
  else
    echo "not ok $n - $desc"; printf '%s\n' "$out" | sed 's/^/#   /'; fail=$((fail + 1))
  fi
}

PG_INC=$(pg_config --includedir-server 2>/dev/null || echo /usr/include/postgresql/15/server)

# loose: no file directly under src/
loose() { local f; f=$(find src -maxdepth 1 -type f); [ -z "$f" ] || { echo "$f"; return 1; }; }

# quoted includes of DIR's files must name headers in one of the DIRS
own_headers() {
  local dir=$1; shift; local bad=0 f h d found
  for f in "$dir"/*.c "$dir"/*.h; do
    [ -e "$f" ] || continue
    for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f"); do
      found=0
      for d in "$@"; do [ -e "$d/$h" ] && found=1; done
      [ $found -eq 1 ] || { echo "$f includes \"$h\" (not in $*)"; bad=1; }
    done
  done
  return $bad
}

# no include of DIR's files names a file of the PostgreSQL server headers
no_pg_headers() {
  local dir=$1 bad=0 f h
  for f in "$dir"/*.c "$dir"/*.h; do
    [ -e "$f" ] || continue
    for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/p' "$f"); do
      if [ -e "$PG_INC/$h" ] && [ ! -e "$dir/$h" ]; then
        echo "$f includes $h, a PostgreSQL header"; bad=1
      fi
    done
  done
  return $bad
}

# src/pg includes from the engine only its public headers
pg_public_only() {
  local bad=0 f h
  for f in src/pg/*.c src/pg/*.h; do
    for h in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f"); do
      [ -e "src/engine/$h" ] || continue
      case $h in llm_engine.h|llm_embed.h) ;; *) echo "$f includes engine-internal $h"; bad=1 ;; esac
    done
  done
  return $bad
}

long_files() {
  local out
  out=$(find src kernels test -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.py' \
        -o -name '*.sh' -o -name '*.pl' -o -name '*.pm' \) -exec wc -l {} + |
        awk '$2 != "total" && $1 > 1500 {print $2 ": " $1 " lines"}')
  [ -z "$out" ] || { echo "$out"; return 1; }
}

# no_cycles OBJ...: the "calls" graph between the objects (an undefined
# symbol of one defined by another) has no cycle
no_cycles() {
  python3 - "$@" <<'PY'
import os, subprocess, sys
defs, uses = {}, {}
for o in sys.argv[1:]:
    name = os.path.basename(o)
    uses[name] = set()
    for line in subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBRC":
            defs[p[2]] = name
        elif len(p) == 2 and p[0] == "U":
            uses[name].add(p[1])
graph = {o: {defs[u] for u in us if u in defs and defs[u] != o} for o, us in uses.items()}
state, stack = {}, []
def visit(v):
    state[v] = 1; stack.append(v)
    for w in sorted(graph[v]):
        if state.get(w) == 1:
            print("cycle: " + " -> ".join(stack[stack.index(w):] + [w])); sys.exit(1)
        if w not in state:
            visit(w)
    state[v] = 2; stack.pop()
for v in sorted(graph):
    if v not in state:
        visit(v)
if len(graph) < 2:
    print("fewer than two objects: nothing was built"); sys.exit(1)
PY
}

check "no loose files in src/" loose
check "src/engine includes only its own headers" own_headers src/engine src/engine
check "src/engine includes no PostgreSQL header" no_pg_headers src/engine
check "src/cli includes only engine headers" own_headers src/cli src/engine src/cli
check "src/cli includes no PostgreSQL header" no_pg_headers src/cli
check "src/pg reaches the engine only through llm_engine.h and llm_embed.h" pg_public_only
check "no source file over 1,500 lines" long_files
BUILD=${BUILD:-build}
check "no call cycle in the PostgreSQL layer" no_cycles src/pg/*.o
check "no call cycle between the embedding front and its paths" \
  no_cycles "$BUILD"/obj/embed.o "$BUILD"/obj/embed_common.o "$BUILD"/obj/bert.o "$BUILD"/obj/embed_decoder.o
echo "1..$n"
echo "layout: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
