/* The wire format: config text, envelope, digest, ETag, and the envelope check. */
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/jsonx.h"
#include "render/render.h"
#include "tests/harness.h"

static struct render_request *result_request; /* the results below borrow from it */

/* A real render: a config with warnings and bundle files. */
static void result_of(struct render_result *res)
{
    static const char spec[] = "image:\n  name: alpine:3.19\nlabels:\n  team: infra\n"
                               "dns: [10.0.0.1]\nstdin_open: true\n";
    struct err err;
    err_init(&err);
    render_request_free(result_request);
    result_request = NULL;
    CHECK_INT(render_request_parse(spec, sizeof(spec) - 1, RENDER_FMT_AUTO, NULL, &result_request,
                                   &err), 0);
    CHECK_INT(render_execute(result_request, NULL, NULL, res, &err), 0);
    CHECK(res->n_warnings > 0 && json_object_size(res->files) > 0);
}

/* The compact form of a pretty text, through jansson. */
static char *compact_of(const char *pretty, size_t len)
{
    json_error_t je;
    json_t *doc = jsonx_loadb(pretty, len, &je);
    char *text = doc ? jsonx_dump(doc, JSONX_COMPACT, NULL) : NULL;
    json_decref(doc);
    return text;
}

static void sha256_of(const char *text, size_t len, char out[65])
{
    CHECK_INT(digest_sha256_hex(text, len, out), 0);
}

/* Every warning is {code, message, path}, in that order (docs/api.md). */
static void check_warning_members(const json_t *warnings)
{
    static const char *const order[] = {"code", "message", "path"};
    CHECK(json_array_size(warnings) > 0);
    for (size_t i = 0; i < json_array_size(warnings); i++) {
        json_t *w = json_array_get(warnings, i);
        void *it = json_object_iter(w);
        for (size_t k = 0; k < 3; k++) {
            CHECK(it != NULL);
            if (!it) {
                break;
            }
            CHECK_STR(json_object_iter_key(it), order[k]);
            it = json_object_iter_next(w, it);
        }
        CHECK(it == NULL);
    }
}

/* A render with no bundle files still has "files": {} in its envelope. */
static void envelope_without_files(void)
{
    static const char spec[] = "image:\n  name: alpine:3.19\n";
    struct err err;
    err_init(&err);
    struct render_request *req = NULL;
    struct render_result res = {0};
    struct render_output out = {0};
    CHECK_INT(render_request_parse(spec, sizeof(spec) - 1, RENDER_FMT_AUTO, NULL, &req, &err), 0);
    CHECK_INT(render_execute(req, NULL, NULL, &res, &err), 0);
    CHECK(res.files == NULL);
    CHECK_INT(render_output_text(&res, RENDER_OUT_ENVELOPE, NULL, &out, &err), 0);
    json_error_t je;
    json_t *env = jsonx_loadb(out.text, out.len, &je);
    const json_t *files = json_object_get(env, "files");
    CHECK(json_is_object(files) && json_object_size(files) == 0);
    CHECK(json_object_get(env, "secret_files") == NULL);
    json_decref(env);
    render_output_release(&out);
    render_result_release(&res);
    render_request_free(req);
}

static void config_forms_and_etag(void)
{
    struct render_result res = {0};
    result_of(&res);
    struct err err;
    err_init(&err);
    struct render_output out;
    CHECK_INT(render_output_text(&res, 0, NULL, &out, &err), 0);
    size_t len = out.len;
    char *pretty = strndup(out.text, out.len);
    json_error_t je;
    json_t *config = jsonx_loadb(pretty, len, &je);
    char *again = jsonx_dump(config, JSONX_PRETTY, NULL);
    CHECK_STR(pretty, again); /* the writer's bytes are jansson's */
    free(again);
    static const char head[] = "{\n  \"ociVersion\": \"1.0.2\",\n";
    CHECK(strncmp(pretty, head, sizeof(head) - 1) == 0);
    CHECK(pretty[len - 1] == '\n');
    char hex[65];
    sha256_of(pretty, len, hex);
    CHECK_STR(out.etag, hex);
    render_output_release(&out);
    CHECK(out.text == NULL && out.len == 0);

    CHECK_INT(render_output_text(&res, RENDER_OUT_COMPACT, NULL, &out, &err), 0);
    char *compact = compact_of(pretty, len);
    CHECK_STR(out.text, compact);
    free(compact);
    sha256_of(out.text, out.len, hex);
    CHECK_STR(out.etag, hex);
    render_output_release(&out);

    /* the envelope's digest covers the pretty config text, whatever the envelope's form */
    json_t *secrets = json_pack("[{s:s}]", "env", "DB");
    char want[80];
    sha256_of(pretty, len, hex);
    snprintf(want, sizeof(want), "sha256:%s", hex);
    unsigned forms[] = {RENDER_OUT_ENVELOPE, RENDER_OUT_ENVELOPE | RENDER_OUT_COMPACT};
    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(render_output_text(&res, forms[i], secrets, &out, &err), 0);
        json_t *env = jsonx_loadb(out.text, out.len, &je);
        CHECK_STR(jsonx_get_str(env, "digest"), want);
        CHECK(jsonx_equal(json_object_get(env, "config"), config));
        CHECK(json_equal(json_object_get(env, "secrets"), secrets));
        json_t *warnings = render_result_warnings_json(&res);
        CHECK(json_equal(json_object_get(env, "warnings"), warnings));
        json_decref(warnings);
        check_warning_members(json_object_get(env, "warnings"));
        CHECK(json_equal(json_object_get(env, "files"), res.files));
        const char *first = json_object_iter_key(json_object_iter(env));
        CHECK_STR(first, "config");
        CHECK((strchr(out.text, '\n') == NULL) == (i == 1));
        sha256_of(out.text, out.len, hex);
        CHECK_STR(out.etag, hex);

        struct render_output cfg;
        CHECK_INT(render_envelope_verify(env, &cfg, &err), 0);
        CHECK(cfg.len == len && memcmp(cfg.text, pretty, len) == 0);
        render_output_release(&cfg);
        json_decref(env);
        render_output_release(&out);
    }
    /* the secrets list is borrowed, and NULL gives [] */
    CHECK_INT(secrets->refcount, 1);
    CHECK_INT(render_output_text(&res, RENDER_OUT_ENVELOPE, NULL, &out, &err), 0);
    CHECK(strstr(out.text, "\"secrets\": []") != NULL);
    render_output_release(&out);
    json_decref(secrets);
    json_decref(config);
    free(pretty);
    render_result_release(&res);
}

static void envelope_digest_refusals(void)
{
    struct render_result res = {0};
    result_of(&res);
    struct err err;
    err_init(&err);
    struct render_output out;
    CHECK_INT(render_output_text(&res, RENDER_OUT_ENVELOPE, NULL, &out, &err), 0);
    json_error_t je;
    json_t *env = jsonx_loadb(out.text, out.len, &je);
    render_output_release(&out);
    struct render_output cfg;

    json_t *changed = json_deep_copy(env);
    CHECK_INT(jsonx_set_str(json_object_get(changed, "config"), "ociVersion", "1.0.3"), 0);
    CHECK_INT(render_envelope_verify(changed, &cfg, &err), -1);
    CHECK_INT(err.code, ERR_SPEC_INVALID);
    CHECK_STR(err_path(&err), "digest");
    CHECK(strstr(err_message(&err), "digest mismatch") != NULL);
    json_decref(changed);

    const char *bad[] = {"sha256:ABC", "md5:00", "", "sha256:" /* + 64 upper-case below */};
    for (size_t i = 0; i < 4; i++) {
        char d[80];
        snprintf(d, sizeof(d), "%s%s", bad[i],
                 i == 3 ? "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789" : "");
        CHECK_INT(jsonx_set_str(env, "digest", d), 0);
        err_init(&err);
        CHECK_INT(render_envelope_verify(env, &cfg, &err), -1);
        CHECK(strstr(err_message(&err), "64 lower-case hex digits") != NULL);
    }
    json_object_del(env, "digest");
    err_init(&err);
    CHECK_INT(render_envelope_verify(env, &cfg, &err), -1);
    CHECK(strstr(err_message(&err), "no `digest`") != NULL);
    json_t *num = json_integer(1);
    CHECK_INT(render_envelope_digest_check(num), -1);
    json_decref(num);
    json_decref(env);
    render_result_release(&res);
    render_request_free(result_request);
    result_request = NULL;
}

HARNESS_MAIN(TEST(config_forms_and_etag), TEST(envelope_without_files),
             TEST(envelope_digest_refusals))
