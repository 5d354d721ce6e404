#!/usr/bin/env bash
# The API reference is docs/reference/*.md (issue 12): every public function
# declared in include/*.h must have an entry there, in a ```c block, with the
# same declaration (whitespace, comments, attributes and CORIO_API aside).
# Run by ctest (check_reference); by hand:
#
#   scripts/check-reference.sh [SOURCE_DIR]
#
# Prints each missing or differing function and exits 1 if there is any.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT"

# perl is Essential on Debian (perl-base), so CI always has it.
exec perl -e '
use strict; use warnings;
sub norm {
    my ($s) = @_;
    $s =~ s{/\*.*?\*/}{}gs;                        # comments
    $s =~ s{^\s*#.*$}{}gm;                         # #if around attributes
    $s =~ s{\b__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)\s*}{}gs; # attributes
    $s =~ s{\bCORIO_API\b\s*}{}g;
    $s =~ s{\bCORIO_DEPRECATED\s*\(".*?"\)\s*}{}g;
    $s =~ s{\s+}{ }g; $s =~ s{\( }{(}g; $s =~ s{ \)}{)}g; $s =~ s{ ,}{,}g; $s =~ s{ ;}{;}g;
    $s =~ s{^ | $}{}g;
    return $s;
}
# Top-level declarations: from a line starting a type to the next ";".
sub decls {
    my ($text, $out) = @_;
    while ($text =~ m{^(?!typedef|static|\#|struct|enum|union|extern)([A-Za-z_][^;{}()\#\n]*?[ *]((corio_[a-z0-9_]+))\s*\([^;{}]*?;)}mgs) {
        push @{$out->{$2}}, norm($1);
    }
}
my (%h, %r);
for my $f (glob "include/*.h") {
    local $/; open my $fh, "<", $f or die; decls(<$fh>, \%h);
}
for my $f (glob "docs/reference/*.md") {
    local $/; open my $fh, "<", $f or die; my $t = <$fh>;
    decls($1, \%r) while $t =~ m{^```c\n(.*?)^```}mgs;
}
my $bad = 0;
for my $n (sort keys %h) {
    if (!$r{$n}) { print "missing in docs/reference: $n\n  $h{$n}[0]\n"; $bad++; next; }
    my %have = map { $_ => 1 } @{$r{$n}};
    for my $d (@{$h{$n}}) {
        next if $have{$d};
        print "differs: $n\n  header:    $d\n  reference: $r{$n}[0]\n"; $bad++;
    }
}
for my $n (sort keys %r) {
    print "reference entry without a declaration: $n\n" and $bad++ unless $h{$n};
}
printf "%d public functions, %d problems\n", scalar(keys %h), $bad;
exit($bad ? 1 : 0);
'
