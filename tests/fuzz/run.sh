#!/bin/sh
# Build the libFuzzer target with CMake (-DOCIRENDER_FUZZ=ON, clang, ASan + UBSan, in
# build-fuzz/) and run it for a while over a working corpus seeded from the examples, the
# bad-input corpus, the golden specs and tests/fuzz/crashes. `make fuzz` runs it.
# Usage: tests/fuzz/run.sh [SECONDS]   (needs clang and libclang-rt-14-dev: scripts/deps.sh fuzz)
# FUZZ_TARGET=fuzz_yaml_fast runs the YAML fast path's differential target instead.
# A crash leaves its input as build-fuzz/crash-*: fix the bug, then add the input to
# tests/fuzz/crashes/, which fuzz_corpus_replay runs in every `make test`.
set -eu
cd "$(dirname "$0")/../.."
out=${FUZZ_DIR:-build-fuzz}
CC=clang cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Debug -DOCIRENDER_FUZZ=ON >/dev/null
target=${FUZZ_TARGET:-fuzz_render}
cmake --build "$out" --target "$target" -j"${JOBS:-2}"
mkdir -p "$out/corpus"
for f in examples/* tests/corpus/bad/* tests/fuzz/crashes/* tests/fuzz/yaml-seeds/* \
         tests/render/cases/*/spec*; do
    [ -f "$f" ] && cp "$f" "$out/corpus/seed-$(printf '%s' "$f" | tr '/' '_')"
done
exec "$out/tests/fuzz/$target" -max_total_time="${1:-60}" -max_len=65536 -timeout=10 \
    -artifact_prefix="$out/" "$out/corpus"
