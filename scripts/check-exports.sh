#!/usr/bin/env bash
# Only the public API leaves corio's shared libraries (issue 12): for each
# LIB.so given, `nm -D --defined-only` must list nothing but public corio_*
# symbols (never corio__*, llhttp_*, ...), and every function its header
# declares must be there. Run by ctest (check_exports); by hand:
#
#   scripts/check-exports.sh SOURCE_DIR libcorio.so:corio.h libcorio_http.so:corio_http.h ...
#
# Prints a summary line per library, the offending symbols, and exits 1 if
# there is any.
set -euo pipefail
SRC=$1
shift
bad=0
for arg in "$@"; do
    lib=${arg%%:*}
    hdr=$SRC/include/${arg#*:}
    # Defined dynamic symbols, without the version nodes (type A).
    dyn=$(nm -D --defined-only "$lib")
    syms=$(awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' <<<"$dyn" | sort -u)
    private=$(grep -vE '^corio_[a-zA-Z0-9]' <<<"$syms" || true)
    declared=$(grep -hE '^[A-Za-z_][^(#]*[ *]corio_[a-z0-9_]+\(' "$hdr" |
        grep -vE '^(typedef|static)' |
        sed -E 's/^([^(]*[ *])(corio_[a-z0-9_]+)\(.*/\2/' | sort -u)
    missing=$(comm -23 <(echo "$declared") <(echo "$syms"))
    nsyms=$(grep -c . <<<"$syms" || true)
    nprivate=$(grep -c . <<<"$private" || true)
    nmissing=$(grep -c . <<<"$missing" || true)
    echo "$(basename "$lib"): $nsyms exported, $nprivate not public, $nmissing declared in $(basename "$hdr") but not exported"
    if [ "$nprivate" -gt 0 ]; then
        echo "  not public:" $private
        bad=1
    fi
    if [ "$nmissing" -gt 0 ]; then
        echo "  not exported:" $missing
        bad=1
    fi
    # The version node.
    if ! grep -qE ' A CORIO[A-Z_]*_[0-9]+\.[0-9]+$' <<<"$dyn"; then
        echo "  no CORIO_* version node (is the version script applied?)"
        bad=1
    fi
done
exit $bad
