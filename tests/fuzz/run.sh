#!/bin/sh
# Build and run the libFuzzer target for a while, seeded from the examples, the golden cases and
# the bad-input corpus. Usage: tests/fuzz/run.sh [SECONDS]   (needs clang and libclang-rt-14-dev)
set -eu
cd "$(dirname "$0")/../.."
out=build-fuzz
mkdir -p "$out/corpus"
cp examples/*.yaml tests/corpus/bad/* tests/render/cases/*/spec* "$out/corpus/" 2>/dev/null || true
srcs="common/err.c common/sbuf.c common/jsonx.c common/strutil.c $(ls render/*.c)"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_POSIX_C_SOURCE=200809L \
    -I. -I"$out" $srcs tests/fuzz/fuzz_render.c -ljansson -lyaml -lm -o "$out/fuzz_render"
"$out/fuzz_render" -max_total_time="${1:-60}" -max_len=65536 -timeout=10 "$out/corpus"
