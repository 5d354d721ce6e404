#!/usr/bin/env bash
# Checks of the tree's text that no compiler sees (ctest: check_tree):
# - no merge-conflict markers left in any tracked file (one once survived a
#   merge in docs/benchmarks.md, unseen because Markdown renders it);
#
#   scripts/check-tree.sh [SOURCE_DIR]
#
# Exits 1 and lists the offending lines. Without git (a tarball), checks the
# files find lists.
set -uo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT" || exit 2
pat='^(<<<<<<< |>>>>>>> |=======$)'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    hits=$(git grep -nE "$pat" -- . 2>/dev/null)
else
    hits=$(grep -rnE "$pat" --exclude-dir='build*' --exclude-dir=.git . 2>/dev/null)
fi
if [ -n "$hits" ]; then
    echo "check-tree: merge-conflict markers left in the tree:"
    echo "$hits"
    exit 1
fi
echo "check-tree: no conflict markers"
