#!/usr/bin/env python3
# Tags the public API of include/*.h with CORIO_API (idempotent), the tool
# behind the mechanical tagging commit. Run it from the source root after
# adding declarations (ctest check_exports names any untagged one), or to
# resolve a merge conflict in a header: take the other side's text, re-run.
#
#   scripts/tag-api.py         prefix every top-level function declaration
#                              with CORIO_API, re-aligning continuation lines
#                              that were aligned on its "(".
#   scripts/tag-api.py strip   the exact inverse.
import re, glob, sys
strip = len(sys.argv) > 1 and sys.argv[1] == 'strip'
T = 'CORIO_API '
decl = re.compile(r'^(?!typedef\b|static\b|#|CORIO_API\b|extern\b)[A-Za-z_][^(#\n]*[ *]corio_[a-z0-9_]+\(')
tagged = re.compile(r'^CORIO_API [A-Za-z_][^(#\n]*[ *]corio_[a-z0-9_]+\(')
for f in sorted(glob.glob('include/*.h')):
    lines = open(f).read().split('\n')
    out = []; i = 0; n = 0
    while i < len(lines):
        l = lines[i]
        m = (tagged if strip else decl).match(l)
        if not m:
            out.append(l); i += 1; continue
        n += 1
        col = l.index('(') + 1          # continuation column, in l as it is
        new = l[len(T):] if strip else T + l
        out.append(new); i += 1
        if ';' in l:
            continue
        while i < len(lines):
            c = lines[i]
            ind = len(c) - len(c.lstrip(' '))
            if ind == col and c.strip():
                c = c[len(T):] if strip else ' ' * len(T) + c
            out.append(c); i += 1
            if ';' in c:
                break
    open(f, 'w').write('\n'.join(out))
    print(f, n)
