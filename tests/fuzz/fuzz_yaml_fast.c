/*
 * libFuzzer target: the YAML fast path (render/yaml_fast.c) against libyaml. Any input the
 * fast path takes must give libyaml's events exactly; a difference aborts.
 * Build and run: FUZZ_TARGET=fuzz_yaml_fast tests/fuzz/run.sh (make fuzz-yaml).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/yaml_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (ydiff_check((const char *)data, size, why, sizeof(why)) == YDIFF_DIFFERENT) {
        fprintf(stderr, "yaml fast path differs from libyaml: %s\n", why);
        abort();
    }
    return 0;
}
