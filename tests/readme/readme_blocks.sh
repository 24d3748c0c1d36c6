#!/bin/sh
# README.md's and docs/*.md's commands work verbatim on a fresh clone: every fenced block
# marked `sh runnable` runs, in order and in one shell per document (blocks share variables, as
# in a reader's terminal), from
# the top of a copy of the source tree that has only what git would check out (files 0644 or
# 0755) plus the built binaries in build/. A `text output` block right after a runnable one is
# what that block must print on stdout, exactly. Blocks marked `root` (runc) run when this
# test is root and runc and a static busybox are installed; otherwise they are skipped with a
# notice. As root the blocks run in their own network and PID namespaces: the ports the README
# names are then free even while `make run` or another copy of this test runs, and every
# process a block leaves behind ends with the namespace.
set -u

BIN="${OCIRENDER_BIN:?set by ctest: the build directory}"
SRC="${OCIRENDER_SRC:?set by ctest: the source directory}"
if [ "${OCIRENDER_SANITIZED:-0}" = 1 ]; then
    : "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
    : "${UBSAN_OPTIONS:=halt_on_error=1:print_stacktrace=1}"
    export ASAN_OPTIONS UBSAN_OPTIONS
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/ocr-readme.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }

run_root=1
why=""
if [ "$(id -u)" != 0 ]; then
    run_root=0 why="not root"
elif ! command -v runc >/dev/null 2>&1; then
    run_root=0 why="runc is not installed (apt-get install runc)"
elif [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
    run_root=0 why="/bin/busybox is missing or not static (apt-get install busybox-static)"
elif ! unshare --net --pid --fork --mount --mount-proc true 2>/dev/null; then
    run_root=0 why="cannot make network and PID namespaces (unshare)"
fi

# ---- a fresh clone: the files git would check out, with git's modes, and the built binaries ----
CLONE="$T/clone"
mkdir -p "$CLONE"
if git -C "$SRC" rev-parse --show-toplevel >/dev/null 2>&1; then
    # The working tree's versions (so an edited README is what gets tested), untracked files
    # that are not ignored included, nothing git ignores (build directories).
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' sh) >"$T/files"
    tar -C "$SRC" -cf - -T "$T/files" | tar -C "$CLONE" -xf - || fail "cannot copy the source tree"
else
    note "the source is not a git checkout: copying it without build directories"
    tar -C "$SRC" --exclude='./build*' -cf - . | tar -C "$CLONE" -xf - || fail "cannot copy the source tree"
fi
find "$CLONE" -type f -perm -u+x -exec chmod 0755 {} + && find "$CLONE" -type f ! -perm -u+x -exec chmod 0644 {} +
[ "$(stat -c %a "$CLONE/examples/secrets.json")" = 644 ] || fail "the copy does not have git's modes"
mkdir -p "$CLONE/build"
cp "$BIN/ocirenderd" "$BIN/ocirender" "$CLONE/build/" || fail "the binaries are not built in $BIN"
# The sudo pass (below) starts from the same fresh copy, not from what the root pass left.
cp -a "$CLONE" "$T/clone-sudo" || fail "cannot copy the tree for the sudo pass"

# ---- each document: one script, every block in order, each block's stdout kept apart -----------
total=0
ran=0
checked=0
# run_doc DOC (relative to the source): fails the test on the first failing block. RUN_AS (a
# user name, for the sudo pass) runs the blocks as that user in CLONE, with their outputs in
# BLOCKS; both must then be that user's.
RUN_AS=""
BLOCKS="$T/blocks"
run_doc() {
    doc=$1
    B="$BLOCKS/$(printf '%s' "$doc" | tr '/' '_')"
    n=$(python3 "$SRC/tests/readme/extract_blocks.py" "$SRC/$doc" "$B") ||
        fail "cannot extract $doc's blocks"
    [ "$n" -gt 0 ] || return 0
    [ -z "$RUN_AS" ] || chown -R "$RUN_AS" "$B" || fail "cannot hand $B to $RUN_AS"
    note "$doc has $n runnable blocks"
    total=$((total + n))
    S="$B/script.sh"
    {
        echo 'set -e'
        echo "cd '$CLONE'"
        echo '[ "$(id -u)" != 0 ] || ip link set lo up 2>/dev/null || true'
    } >"$S"
    for b in "$B"/[0-9]*.sh; do
        id=${b%.sh}
        where="$doc line $(cat "$id.line")"
        if [ -e "$id.root" ] && [ "$run_root" = 0 ]; then
            note "SKIP $where: needs root, runc and a static busybox ($why)"
            continue
        fi
        ran=$((ran + 1))
        {
            echo "echo '$where' >'$T/current'; echo \"### $where (\$(date +%T))\" >&2"
            echo '{'
            cat "$b"
            echo "} >'$id.out'"
        } >>"$S"
    done
    echo "echo done >'$T/current'" >>"$S"
    if [ -n "$RUN_AS" ]; then
        (cd "$CLONE" && unshare --net --pid --fork --mount --mount-proc \
            sh -c 'ip link set lo up && exec runuser -u "$1" -- sh "$2"' sh "$RUN_AS" "$S") \
            >"$T/stdout" 2>"$T/stderr"
    elif [ "$run_root" = 1 ]; then
        (cd "$CLONE" && unshare --net --pid --fork --mount --mount-proc sh "$S") >"$T/stdout" 2>"$T/stderr"
    else
        (cd "$CLONE" && sh "$S") >"$T/stdout" 2>"$T/stderr"
    fi
    rc=$?
    if [ "$rc" -ne 0 ] || [ "$(cat "$T/current")" != "done" ]; then
        echo "--- stderr ---" >&2
        tail -n 40 "$T/stderr" >&2
        fail "the block at $(cat "$T/current" 2>/dev/null) failed (exit status $rc)"
    fi
    for e in "$B"/*.expected; do
        [ -e "$e" ] || continue
        id=${e%.expected}
        [ -e "$id.out" ] || continue # its block was skipped
        where="$doc line $(cat "$id.line")"
        if ! diff -u "$e" "$id.out" >"$T/diff"; then
            cat "$T/diff" >&2
            fail "$where: the block's output is not the one the document shows"
        fi
        echo "ok - $where prints what the document shows${RUN_AS:+ (as a sudo user)}"
        checked=$((checked + 1))
    done
}

mkdir -p "$T/blocks"
run_doc README.md
[ "$total" -ge 2 ] || fail "README.md has $total runnable blocks; expected the local render and the runc walk-through"
for d in "$SRC"/docs/*.md; do
    [ -f "$d" ] && run_doc "docs/${d##*/}"
done
[ "$ran" -gt 0 ] || fail "every runnable block was skipped"
echo "ok - $ran of $total runnable blocks ran ($checked outputs compared)"

# ---- the same README blocks as a user who has sudo, on a fresh copy ----------------------------
# The README's root lines are written `$SUDO cmd` with SUDO=sudo unless the reader is root; a
# throwaway system user with password-less sudo (removed at exit) runs them the second way.
if [ "$run_root" = 0 ]; then
    note "SKIP the sudo-user pass: $why"
elif ! command -v sudo >/dev/null 2>&1 || ! command -v useradd >/dev/null 2>&1; then
    note "SKIP the sudo-user pass: sudo or useradd is not installed (make deps-test)"
else
    SUDO_USER_NAME="ocr-readme-$$"
    SUDOERS="/etc/sudoers.d/ocr-readme-$$"
    trap 'userdel "$SUDO_USER_NAME" 2>/dev/null; rm -f "$SUDOERS"; rm -rf "$T"' EXIT
    useradd --system --no-create-home --shell /bin/sh "$SUDO_USER_NAME" ||
        fail "cannot create a user for the sudo pass"
    printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$SUDO_USER_NAME" >"$SUDOERS" && chmod 0440 "$SUDOERS" ||
        fail "cannot give $SUDO_USER_NAME sudo"
    chmod 0711 "$T"
    mkdir -p "$T/blocks-sudo"
    chown -R "$SUDO_USER_NAME" "$T/clone-sudo" "$T/blocks-sudo"
    : >"$T/current" && chown "$SUDO_USER_NAME" "$T/current"
    RUN_AS=$SUDO_USER_NAME CLONE="$T/clone-sudo" BLOCKS="$T/blocks-sudo"
    before=$ran
    run_doc README.md
    RUN_AS="" CLONE="$T/clone" BLOCKS="$T/blocks"
    echo "ok - $((ran - before)) README blocks ran again as a sudo user"
fi

# ---- README.md's curl transcripts, against the server `make run` starts ------------------------
# Each "$ " command of a console transcript runs in order; where the transcript shows an HTTP
# status line, the command must print that status. The server is started with `make run`'s own
# commands (taken from `make -n run`), on its port 8080, in a network namespace of its own.
(cd "$SRC" && python3 tests/readme/extract_transcripts.py README.md) >"$T/transcripts.sh" 2>"$T/err" ||
    fail "cannot extract README.md's transcripts: $(cat "$T/err")"
if [ ! -s "$T/transcripts.sh" ]; then
    note "README.md has no console transcript"
elif [ "$(id -u)" != 0 ] || ! unshare --net --pid --fork --mount --mount-proc true 2>/dev/null; then
    note "SKIP README.md's transcripts: they use port 8080, which needs a network namespace (root)"
else
    make -s -n -C "$CLONE" run BUILD_DIR=build 2>/dev/null | sed -e :a -e '/\\$/N; s/\\\n//; ta' |
        grep -E '^(install -m 0600 |exec \./build/ocirenderd )' >"$T/make-run" || true
    [ "$(grep -c . "$T/make-run")" = 2 ] || fail "make -n run does not show its install and exec lines"
    {
        echo 'set -e'
        echo "cd '$CLONE'"
        echo 'ip link set lo up'
        grep '^install ' "$T/make-run"
        printf '%s 2>"%s" &\n' "$(sed -n 's/^exec //p' "$T/make-run")" "$T/make-run.log"
        echo 'curl -s --retry 30 --retry-delay 1 --retry-connrefused http://127.0.0.1:8080/readyz >/dev/null'
        echo "CURRENT='$T/current' sh -e '$T/transcripts.sh'"
    } >"$T/run-transcripts.sh"
    echo "make run's server" >"$T/current"
    (cd "$CLONE" && unshare --net --pid --fork --mount --mount-proc sh "$T/run-transcripts.sh") \
        >"$T/stdout" 2>"$T/stderr" || {
        echo "--- stderr ---" >&2
        tail -n 30 "$T/stderr" >&2
        tail -n 5 "$T/make-run.log" >&2 2>/dev/null
        fail "the transcript command at $(cat "$T/current") failed"
    }
    grep '^ok - ' "$T/stdout"
    [ "$(grep -c '^ok - ' "$T/stdout")" -ge 5 ] || fail "fewer transcript commands ran than README.md shows"
fi
