#!/usr/bin/env bash
# corio's error codes have one source, CORIO_ERRNO_MAP in include/corio.h
# (issue 12). The table of them in docs/reference/core.md is generated from
# it, between the markers "<!-- errors:begin" and "<!-- errors:end -->".
#
#   scripts/check-errors.sh [SOURCE_DIR]           check (ctest: check_errors)
#   scripts/check-errors.sh --write [SOURCE_DIR]   regenerate the table
#
# Exits 1, showing the difference, when the table is not what the list gives.
set -euo pipefail
write=0
if [ "${1:-}" = --write ]; then
    write=1
    shift
fi
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
HDR=$ROOT/include/corio.h
DOC=$ROOT/docs/reference/core.md

# perl is Essential on Debian (perl-base), so CI always has it.
table=$(perl -0ne '
    /^#define CORIO_ERRNO_MAP\(X\)((?:[^\n]*\\\n)*[^\n]*)/m or die "no CORIO_ERRNO_MAP in corio.h\n";
    my $m = $1; $m =~ s/\\\n/ /g;
    print "| code | value | `corio_strerror` | returned when |\n| --- | --- | --- | --- |\n";
    my $n = 0;
    while ($m =~ /X\(\s*(\w+)\s*,\s*(-?\d+)\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"\s*\)/g) {
        print "| `CORIO_$1` | $2 | $3 | $4 |\n"; $n++;
    }
    die "CORIO_ERRNO_MAP has no entries\n" unless $n;
' "$HDR")

current=$(sed -n '/^<!-- errors:begin/,/^<!-- errors:end -->/p' "$DOC" | sed '1d;$d')
if [ "$write" = 1 ]; then
    TABLE=$table perl -0pi -e 's/(^<!-- errors:begin[^\n]*\n).*?(^<!-- errors:end -->)/$1$ENV{TABLE}\n$2/ms' "$DOC"
    grep -q '^<!-- errors:begin' "$DOC" || { echo "no <!-- errors:begin --> marker in $DOC" >&2; exit 1; }
    echo "docs/reference/core.md: error table regenerated"
    exit 0
fi
if [ "$current" != "$table" ]; then
    echo "docs/reference/core.md's error table differs from CORIO_ERRNO_MAP (include/corio.h);"
    echo "run scripts/check-errors.sh --write. Difference (- docs, + header):"
    diff <(echo "$current") <(echo "$table") || true
    exit 1
fi
echo "error table: $(grep -c '^| `CORIO_' <<<"$table") codes, as in CORIO_ERRNO_MAP"
