#!/usr/bin/env bash
# The layers of the nginx glue (docs/architecture.md): no call or data
# reference circle between the module's source files, and no C file in
# src/ or tools/ over 1,200 lines.  The graph comes from the objects of
# the last module build (nm: which file defines each symbol another one
# uses); the module structs (ngx_http_session_module ...), which every
# file names to reach its configuration, are not edges.
#
#   test/build/test_layers.sh [OBJS_DIR]   default: build/'s debug tree
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
objs=${1:-$(ls -d "$root"/build/nginx-*-debug/objs 2>/dev/null | head -n 1)}
[ -n "$objs" ] && [ -f "$objs/Makefile" ] || {
    echo "not ok 1 - no module build under build/ (run make first)"; exit 1; }

# the objects of the module as config lists it now (old .o files of
# renamed sources may still lie around)
list=$(sed -n 's#^\(objs/addon/src/[a-z_]*\.o\):.*#\1#p' "$objs/Makefile" \
       | sort -u)
cd "$objs/.."

rc=0
python3 - $list <<'PY' || rc=1
import collections, subprocess, sys

files = sys.argv[1:]
skip = {'ngx_http_session_module', 'ngx_http_session_filter_module',
        'ngx_http_session_registry_module'}
owner, uses = {}, {}
for f in files:
    uses[f] = set()
    for line in subprocess.run(['nm', f], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'TDBRC':
            owner[p[2]] = f
        elif len(p) == 2 and p[0] == 'U':
            uses[f].add(p[1])

edges = collections.defaultdict(set)
for f, u in uses.items():
    for s in u - skip:
        if s in owner and owner[s] != f:
            edges[f].add((owner[s], s))

# Tarjan's strongly connected components
index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]

def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1
    stack.append(v); on.add(v)
    for w, _ in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        comps.append(c)

sys.setrecursionlimit(10000)
for f in files:
    if f not in index:
        visit(f)

short = lambda f: f.split('/')[-1][:-2]
bad = [c for c in comps if len(c) > 1]
if not bad:
    print('ok 1 - no circle between the %d source files of the module'
          % len(files))
    sys.exit(0)
for c in bad:
    print('not ok 1 - a circle between %s' % ', '.join(sorted(map(short, c))))
    for a in sorted(c):
        for b, s in sorted(edges[a]):
            if b in c:
                print('#   %s -> %s (%s)' % (short(a), short(b), s))
sys.exit(1)
PY

cd "$root"
over=$(wc -l src/*.c tools/*.c tools/*/*.c 2>/dev/null \
       | awk '$2 != "total" && $1 > 1200 { print $2 " (" $1 ")" }')
if [ -z "$over" ]; then
    echo "ok 2 - no C file in src/ or tools/ over 1,200 lines"
else
    echo "not ok 2 - over 1,200 lines: $over"
    rc=1
fi
exit $rc
