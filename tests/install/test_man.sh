#!/bin/sh
# The man pages say what --help says: each page, as man shows it, holds the complete output of
# every --help its template includes (word for word, in order), and groff formats it without a
# warning. The pages are generated at build time by dist/man/genman.sh.
set -u
BIN="${OCIRENDER_BIN:?set by ctest: the build directory}"
SRC="${OCIRENDER_SRC:?set by ctest: the source directory}"
if [ "${OCIRENDER_SANITIZED:-0}" = 1 ]; then
    : "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
    export ASAN_OPTIONS
fi
command -v groff >/dev/null 2>&1 || { echo "1..0 # SKIP groff is not installed (apt-get install groff-base)"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ocr-man.XXXXXX")
trap 'rm -rf "$T"' EXIT
FAILED=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL: $*" >&2; FAILED=$((FAILED + 1)); }

# words FILE: the whitespace-separated words of FILE, one a line.
words() { tr -s ' \t\n' '\n\n\n' <"$1" | grep -v '^$'; }

for page in ocirender.1 ocirenderd.8; do
    prog=${page%.*}
    file="$BIN/man/$page"
    [ -f "$file" ] || { fail "$file was not generated"; continue; }
    # As man shows it: ASCII, no hyphenation (the page sets .nh), no bold or underline.
    if ! LC_ALL=C groff -man -Tascii -ww -P-c -P-b -P-u -P-o "$file" >"$T/$page.txt" 2>"$T/$page.warn" ||
        [ -s "$T/$page.warn" ]; then
        fail "$page: groff warns: $(head -5 "$T/$page.warn")"
    else
        ok "$page: groff formats it without a warning"
    fi
    words "$T/$page.txt" >"$T/$page.words"
    version=$("$BIN/$prog" --version | awk '{print $NF}')
    grep -q "ocirender $version" "$T/$page.txt" && ok "$page: names version $version" ||
        fail "$page: does not name version $version"
    n=0
    for args in $(sed -n 's/^@HELP@ //p' "$SRC/dist/man/$page.in" | tr ' ' '+'); do
        args=$(printf '%s' "$args" | tr '+' ' ')
        # shellcheck disable=SC2086 # words on purpose
        "$BIN/$prog" $args >"$T/help" 2>&1
        words "$T/help" >"$T/help.words"
        [ -s "$T/help.words" ] || { fail "$prog $args printed nothing"; continue; }
        # The help's words must appear as one contiguous run in the page's words.
        if python3 - "$T/help.words" "$T/$page.words" <<'PY'; then
import sys
help_words = open(sys.argv[1]).read().split("\n")[:-1]
page = open(sys.argv[2]).read().split("\n")[:-1]
n = len(help_words)
if any(page[i:i + n] == help_words for i in range(len(page) - n + 1)):
    sys.exit(0)
# Say where they part: the longest prefix of the help found in the page.
best = 0
for i in range(len(page)):
    k = 0
    while k < n and i + k < len(page) and page[i + k] == help_words[k]:
        k += 1
    best = max(best, k)
print("  the page follows the help for %d of %d words; then the help has: %s"
      % (best, n, " ".join(help_words[best:best + 12])), file=sys.stderr)
sys.exit(1)
PY
            ok "$page: holds '$prog $args' word for word"
        else
            fail "$page: does not hold the output of '$prog $args'"
        fi
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] && ok "$page: $n --help outputs checked" || fail "$page: its template includes no --help"
done
[ "$FAILED" -eq 0 ] || { echo "$FAILED check(s) failed" >&2; exit 1; }
echo "all checks passed"
