#!/bin/sh
# Write a man page from its template and the program's own --help, so the options in the page
# are the ones the program prints (the help text lives once, in the C source that prints it).
#
#   genman.sh PROGRAM TEMPLATE > PAGE
#
# In TEMPLATE, @VERSION@ becomes the version `PROGRAM --version` prints, and a line
# `@HELP@ ARGS...` becomes the output of `PROGRAM ARGS...` set in roff: an entry indented by
# two spaces ("  --flag ARG   text", "  command   text") becomes a tagged paragraph, a line
# indented further continues it (on a new line when it is indented past the text column), a
# blank line starts a paragraph, and any other line is text. tests/install/test_man.sh checks
# that the page, as man shows it, holds the whole --help text.
set -eu
prog=$1
template=$2
version=$("$prog" --version | awk '{print $NF}')

help_to_roff() {
    awk '
    function esc(s) {
        gsub(/\\/, "\\e", s)
        gsub(/-/, "\\-", s)
        return s
    }
    function line(s) { # a text line that roff must not take for a request
        if (s ~ /^[.\047]/) s = "\\&" s
        print s
    }
    BEGIN { col = 0; para = 0 }
    /^[ \t]*$/ { if (!para) print ".PP"; para = 1; col = 0; next }
    /^  [^ ]/ {
        text = substr($0, 3)
        split_at = match(text, /  +/)
        if (split_at) {
            tag = substr(text, 1, split_at - 1)
            desc = substr(text, split_at + RLENGTH)
            col = 2 + split_at - 1 + RLENGTH
        } else {
            tag = text; desc = ""; col = 0
        }
        n = split(tag, w, " ")
        out = "\\fB" esc(w[1]) "\\fR"
        for (i = 2; i <= n; i++) out = out " \\fI" esc(w[i]) "\\fR"
        print ".TP"
        line(out)
        if (desc != "") line(esc(desc))
        para = 0
        next
    }
    /^   */ && col > 0 {
        match($0, /^ +/)
        if (RLENGTH > col) print ".br"
        line(esc(substr($0, RLENGTH + 1)))
        next
    }
    {
        if (col > 0) { print ".PP"; col = 0 }
        sub(/^ +/, "")
        line(esc($0))
        para = 0
    }'
}

while IFS= read -r l || [ -n "$l" ]; do
    case "$l" in
    @HELP@*)
        # shellcheck disable=SC2086 # the arguments are words on purpose
        "$prog" ${l#@HELP@} | help_to_roff
        ;;
    *)
        printf '%s\n' "$l" | sed "s/@VERSION@/$version/g"
        ;;
    esac
done <"$template"
