#!/bin/sh
# build/bench/render_bench: the line format the side-by-side comparison reads, clear errors with
# exit 1, and that one iteration's output is byte for byte what `ocirender render` prints for
# the same spec and secret values (so the benchmark times the real path, not a shortcut).
set -eu
BENCH="$OCIRENDER_BIN/bench/render_bench"
CLI="$OCIRENDER_BIN/ocirender"
SRC="$OCIRENDER_SRC"
SPEC="$SRC/examples/web.yaml"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Timed mode: one `run` line per run, the digest's share, then the summary, nothing else on
# stdout.
"$BENCH" "$SPEC" --runs 3 --secs 0.02 > "$T/out" 2> "$T/err" || fail "timed run exited $?: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "stderr not empty: $(cat "$T/err")"
python3 - "$T/out" "$SPEC" <<'PY' || fail "output lines"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
spec = sys.argv[2]
num = r"[0-9]+(?:\.[0-9]+)?"
run = re.compile(r"run (\d+) renders=(\d+) secs=(%s) renders/s=(%s) us/render=(%s) "
                 r"cpu_us/render=(%s) out_bytes=(\d+)$" % (num, num, num, num))
assert len(lines) == 5, lines
rates = []
for i, line in enumerate(lines[:3]):
    m = run.match(line)
    assert m, line
    assert int(m.group(1)) == i + 1, line
    n, secs, rate = int(m.group(2)), float(m.group(3)), float(m.group(4))
    assert n > 0 and n % 64 == 0 and secs >= 0.02, line
    # renders/s is renders / secs, with secs printed rounded to the millisecond
    assert n / (secs + 0.0006) <= rate <= n / (secs - 0.0006), line
    assert int(m.group(7)) > 1000, line  # the pretty config of web.yaml
    rates.append(rate)
    m_last = m
summary = re.compile(r"summary impl=c-ocirender input=(\S+) runs=(\d+) median=(%s) min=(%s) "
                     r"max=(%s) us_per_render_median=(%s) cpu_us_per_render_median=(%s) "
                     r"cpu_us_min=(%s) cpu_us_max=(%s) out_bytes=(\d+)$" % ((num,) * 7))
digest = re.compile(r"digest cpu_us=(%s) out_bytes=(\d+) share_of_render=(%s)$" % (num, num))
d = digest.match(lines[3])
assert d, lines[3]
# The digest of the same output (its size is the runs'); timings are not judged here.
assert float(d.group(1)) > 0 and int(d.group(2)) == int(m_last.group(7)), lines[3]
assert float(d.group(3)) > 0, lines[3]
m = summary.match(lines[4])
assert m, lines[4]
assert m.group(1) == spec and m.group(2) == "3", lines[4]
med, lo, hi = (float(m.group(i)) for i in (3, 4, 5))
s = sorted(rates)
# Rates are printed rounded to 0.1: compare at that precision.
assert abs(med - s[1]) < 0.11 and abs(lo - s[0]) < 0.11 and abs(hi - s[2]) < 0.11, (lines[4], s)
assert float(m.group(8)) <= float(m.group(7)) <= float(m.group(9)), lines[4]
# The line the comparison script parses.
assert re.search(r"^summary.* median=([0-9.]*)", lines[4])
PY

# One iteration's output equals `ocirender render` with the benchmark's secret values in a file.
"$BENCH" "$SPEC" --dump-secrets > "$T/secrets.json" || fail "--dump-secrets"
chmod 600 "$T/secrets.json"
grep -q '"bench-secret:shop/db/password"' "$T/secrets.json" || fail "fake value for \$S:db/password"
"$BENCH" "$SPEC" --dump > "$T/bench.json" || fail "--dump"
env -u OCIRENDER_ALLOW_SERVER_ENV -u OCIRENDER_CGROUP_PARENT -u OCIRENDER_SECRETS \
    -u OCIRENDER_SECRETS_FILE \
    "$CLI" render --secrets file --secrets-file "$T/secrets.json" "$SPEC" > "$T/cli.json" \
    || fail "ocirender render"
cmp "$T/bench.json" "$T/cli.json" || fail "render_bench output differs from ocirender render"
grep -q '"DATABASE_PASSWORD=bench-secret:shop/db/password"' "$T/bench.json" \
    || fail "the secret value is not in the rendered env"

# Exactly N renders, no output.
"$BENCH" "$SPEC" --count 3 > "$T/count" || fail "--count"
[ ! -s "$T/count" ] || fail "--count printed something"

# Errors: a clear message naming the problem, exit 1, never a summary.
expect_error() { # expect_error PATTERN ARGS...
    pattern=$1; shift
    if "$BENCH" "$@" > "$T/e.out" 2> "$T/e.err"; then fail "accepted: $*"; else rc=$?; fi
    [ "$rc" -eq 1 ] || fail "exit $rc (not 1) for: $*"
    grep -q "$pattern" "$T/e.err" || fail "no '$pattern' in the error for $*: $(cat "$T/e.err")"
    ! grep -q '^summary' "$T/e.out" || fail "a summary after an error: $*"
}
printf 'version: v1\ndeployment: d\nservices:\n  web:\n    image: {name: "x:1"}\n    bogus: 1\n' > "$T/bad.yaml"
printf 'services: [\n' > "$T/syntax.yaml"
expect_error "$T/bad.yaml: .*bogus" "$T/bad.yaml" --secs 0.01
expect_error "$T/syntax.yaml: line 2, column 1" "$T/syntax.yaml" --secs 0.01
expect_error "cannot read $T/missing.yaml" "$T/missing.yaml"
expect_error "unknown service 'nope'" "$SPEC" --service nope
expect_error "\-\-runs wants a whole number" "$SPEC" --runs 0
expect_error "\-\-secs wants seconds" "$SPEC" --secs abc
expect_error "usage: render_bench" "$SPEC" --no-such-flag
expect_error "expected exactly one SPEC" "$SPEC" "$SPEC"
"$BENCH" --help | grep -q "usage: render_bench SPEC" || fail "--help"
echo "render_bench: ok"
