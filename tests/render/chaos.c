/*
 * Allocation-failure sweep (jansson's test_chaos idea): for each golden case, fail the Nth
 * jansson allocation for N = 1, 2, ... until a render succeeds. Every failing run must end in
 * a clean error (never a crash, and under ASan never a leak), and the successful run must
 * produce the expected bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "render/arena.h"
#include "render/render.h"
#include "tests/harness.h"

static long fail_at = -1;
static long calls;

static void *chaos_malloc(size_t n)
{
    if (fail_at >= 0 && ++calls == fail_at) {
        return NULL;
    }
    return malloc(n);
}

static void chaos_free(void *p)
{
    free(p);
}

/* Arena allocations count in the same sequence as jansson's. */
static bool chaos_arena_fails(void)
{
    return fail_at >= 0 && ++calls == fail_at;
}

/* Specs that render (from files), an envelope exercising facts, CDI and users, and a spec
 * whose own error is the expected end. */
static const char *const specs[] = {"examples/gpu.yaml", "examples/web.yaml",
                                    "examples/privileged.yaml", "tests/corpus/bad/wrong-types.yaml"};

static const char envelope[] =
    "{\"spec\": {\"image\": {\"name\": \"x:1\"}, \"user\": \"app\", \"env\": {\"A\": \"$E:A\"},"
    " \"resources\": {\"gpu\": {\"count\": 1}}, \"devices\": [{\"path\": \"/dev/fuse\"}],"
    " \"dns\": [\"10.0.0.1\"], \"ulimits\": {\"nofile\": {\"soft\": -1}}},"
    " \"host\": {\"env\": {\"A\": \"a\"}, \"rootfs\": {\"passwd\": \"app:x:5:6::/:/bin/sh\\n\","
    " \"group\": \"g:x:7:app\\n\"}, \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\","
    " \"major\": 10, \"minor\": 229}, {\"path\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195,"
    " \"minor\": 0}], \"cdi\": [{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\","
    " \"devices\": [{\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\":"
    " \"/dev/nvidia0\"}], \"env\": [\"V=0\"], \"hooks\": [{\"hookName\": \"poststop\","
    " \"path\": \"/bin/true\"}]}}]}]}, \"options\": {\"env\": [[\"B\", \"b\"]],"
    " \"bundle_dir\": \"/b\"}}";

/*
 * A WSL2 node: /dev/dxg, the WSL library mounts, LD_LIBRARY_PATH, a CDI spec with only `all`;
 * and a secret file (its entry, env path and /run/secrets bind).
 * YAML, because jansson's JSON lexer drops a byte of a token when growing its buffer fails
 * (lex_save ignores the error), which this sweep would otherwise report as ours.
 */
static const char wsl_envelope[] =
    "spec: {image: {name: \"x:1\"}, resources: {gpu: {count: 2}}, user: \"7:8\",\n"
    "       env: {DB_FILE: \"$S:db/password\"}}\n"
    "image_config: {Env: [\"LD_LIBRARY_PATH=/opt/lib\"]}\n"
    "host:\n"
    "  wsl: {kernel: 5.15.167.4-microsoft-standard-WSL2, dxg: {major: 10, minor: 63},\n"
    "        lib_dirs: [/usr/lib/wsl/lib, /usr/lib/wsl/drivers]}\n"
    "  devices: [{path: /dev/dxg, type: c, major: 10, minor: 63}]\n"
    "  cdi:\n"
    "    - cdiVersion: 0.5.0\n"
    "      kind: nvidia.com/gpu\n"
    "      devices:\n"
    "        - name: all\n"
    "          containerEdits:\n"
    "            deviceNodes: [{path: /dev/dxg}]\n"
    "            mounts: [{hostPath: /usr/lib/wsl/lib/libdxcore.so,\n"
    "                      containerPath: /usr/lib/wsl/lib/libdxcore.so, options: [ro, bind]}]\n";

/* The text of a render without injected failures (NULL when the spec itself is invalid). */
/* The pretty config text (as the server answers it), or NULL with `err` set. */
static char *pretty_text(const struct render_result *res, struct err *err)
{
    struct render_output out;
    if (render_output_text(res, 0, NULL, &out, err)) {
        return NULL;
    }
    char *text = strndup(out.text, out.len);
    render_output_release(&out);
    if (!text) {
        err_nomem(err);
    }
    return text;
}

static char *render_text(const char *body, const json_t *values)
{
    struct err err;
    err_init(&err);
    struct render_request *req = NULL;
    struct render_result res = {0};
    char *text = NULL;
    if (render_request_parse(body, strlen(body), RENDER_FMT_AUTO, NULL, &req, &err) == 0 &&
        render_execute(req, NULL, values, &res, &err) == 0) {
        text = pretty_text(&res, &err);
    }
    render_result_release(&res);
    render_request_free(req);
    return text;
}

/* Fail allocation 1, 2, ... of one render of `body` until a render completes. */
static void sweep_one(const char *name, const char *body, bool own_error_expected)
{
    json_t *values = json_pack("{s:s}", "$S:db/password", "x");
    char *reference = render_text(body, values);
    bool ok = false;
    long n;
    int nomem = 0;
    for (n = 1; n < 100000 && !ok; n++) {
        struct err err;
        err_init(&err);
        struct render_request *req = NULL;
        struct render_result res = {0};
        calls = 0;
        fail_at = n;
        int rc = render_request_parse(body, strlen(body), RENDER_FMT_AUTO, NULL, &req, &err);
        if (rc == 0) {
            rc = render_execute(req, NULL, values, &res, &err);
        }
        char *text = rc == 0 ? pretty_text(&res, &err) : NULL;
        if (rc == 0 && !text) {
            rc = -1; /* the output's own allocation failed: reported like any other */
        }
        fail_at = -1;
        if (rc == 0) {
            /* A failed allocation may be absorbed only if the output is still exactly right. */
            if (!text || !reference || strcmp(text, reference) != 0) {
                fprintf(stderr, "  %s: allocation %ld failed but the render succeeded with %s\n",
                        name, n, text ? "different output" : "no output");
                CHECK(false);
            }
            ok = calls < n; /* finished without reaching the failing allocation */
            CHECK(!own_error_expected);
        } else if (err.code == ERR_NOMEM) {
            nomem++;
        } else if (own_error_expected && calls < n) {
            ok = true; /* the spec's own error, reached without a failed allocation */
        } else {
            fprintf(stderr, "  %s: failing allocation %ld reported as %s: %s\n", name, n,
                    err_code_name(err.code), err_message(&err));
            CHECK(false);
            ok = true;
        }
        free(text);
        render_result_release(&res);
        render_request_free(req);
    }
    printf("# %s: %ld allocation points, %d reported out of memory\n", name, n - 1, nomem);
    CHECK(ok);
    CHECK(nomem > 0);
    json_decref(values);
    free(reference);
}

static void sweep(void)
{
    sweep_one("envelope", envelope, false);
    sweep_one("wsl envelope", wsl_envelope, false);
    for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", OCIRENDER_SOURCE_DIR, specs[s]);
        char *body = harness_slurp(path, NULL);
        CHECK(body != NULL);
        if (body) {
            sweep_one(specs[s], body, strstr(specs[s], "corpus") != NULL);
        }
        free(body);
    }
}

int main(void)
{
    json_set_alloc_funcs(chaos_malloc, chaos_free);
    arena_set_fail_hook(chaos_arena_fails);
    static const struct test_case cases[] = {{"allocation_failure_sweep", sweep}};
    return harness_main(cases, 1);
}
