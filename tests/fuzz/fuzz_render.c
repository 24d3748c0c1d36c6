/*
 * libFuzzer target: any bytes as a request body (plain spec or envelope, YAML or JSON) through
 * parse, secret-reference listing, render (placeholder secrets) and exact output; and the YAML
 * fast path against libyaml on the same bytes (fuzz_yaml_fast.c does only that).
 * Build: tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/render.h"
#include "tests/fuzz/yaml_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (ydiff_check((const char *)data, size, why, sizeof(why)) == YDIFF_DIFFERENT) {
        abort(); /* the YAML fast path must give libyaml's events exactly */
    }
    struct err err;
    err_init(&err);
    struct render_request *req = NULL;
    if (render_request_parse((const char *)data, size, RENDER_FMT_AUTO, NULL, &req, &err) == 0) {
        struct render_secret_refs refs;
        if (render_request_secret_refs(req, &refs, &err) == 0) {
            render_secret_refs_release(&refs);
        }
        json_t *needs = render_request_fact_needs(req, &err);
        json_decref(needs);
        struct render_settings s = {.placeholder_secrets = true, .default_cgroup_parent = "/f"};
        struct render_result res = {0};
        if (render_execute(req, &s, NULL, &res, &err) == 0) {
            struct render_output out;
            if (render_output_text(&res, 0, NULL, &out, &err) == 0) {
                json_error_t je;
                json_t *back = jsonx_loadb(out.text, out.len, &je);
                char *again = back ? jsonx_dump(back, JSONX_PRETTY, NULL) : NULL;
                if (!again || strcmp(again, out.text) != 0) {
                    abort(); /* our own output must read back to the same text */
                }
                free(again);
                json_decref(back);
                render_output_release(&out);
            }
            render_result_release(&res);
        }
        render_request_free(req);
    }
    return 0;
}
