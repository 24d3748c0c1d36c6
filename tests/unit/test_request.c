/* Request-level APIs: $S: references parsed once, and the CDI entry check. */
#include <string.h>

#include "common/jsonx.h"
#include "tests/unit/rtest.h"

#define TWO_REFS                                                                             \
    "version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: \"x:1\"}\n"         \
    "    env: {A: \"$S:db/password\", B: \"$S:a b\", C: \"$S:also bad\", D: \"$E:NODE\"}\n"

static void malformed_reference_reported_where_it_was(void)
{
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    /* parsing succeeds: the references are the verdict of secret_refs and execute */
    CHECK_INT(render_request_parse(TWO_REFS, strlen(TWO_REFS), RENDER_FMT_AUTO, NULL, &req, &err),
              0);
    struct render_secret_refs refs = {0};
    CHECK_INT(render_request_secret_refs(req, &refs, &err), -1);
    CHECK_INT(err.code, ERR_SPEC_INVALID);
    CHECK_STR(err_path(&err), "services.web.env.B"); /* the first bad one, in key order */
    CHECK(strstr(err_message(&err), "invalid secret reference '$S:a b'") != NULL);
    CHECK(refs.n == 0 && refs.items == NULL);
    render_request_free(req);

    /* rendering stops at the same reference, after the good ones */
    struct rt t;
    json_t *values = json_pack("{s:s}", "$S:db/password", "pw");
    struct rt_in in = {.spec = TWO_REFS, .secrets = values};
    CHECK_INT(rt_render(&t, &in), -1);
    CHECK_INT(t.err.code, ERR_SPEC_INVALID);
    CHECK_STR(rt_err_path(&t), "services.web.env.B");
    CHECK(strstr(rt_err_msg(&t), "'$S:a b'") != NULL);
    rt_free(&t);
    json_decref(values);

    /* an earlier problem in key order still comes first */
    const char *e_first = "image: {name: \"x:1\"}\nenv: {A: \"$E:MISSING\", B: \"$S:a b\"}\n";
    CHECK_INT(rt_spec(&t, e_first), -1);
    CHECK_STR(rt_err_path(&t), "env.A");
    rt_free(&t);
}

static void references_are_copies_of_the_parsed_ones(void)
{
    const char *spec = "image: {name: \"x:1\"}\nenv: {K: \"$S:@svc/key@3/f\", P: plain}\n";
    struct render_params p = {.scope = "acme"};
    struct render_request *req = NULL;
    struct err err;
    err_init(&err);
    CHECK_INT(render_request_parse(spec, strlen(spec), RENDER_FMT_AUTO, &p, &req, &err), 0);
    struct render_secret_refs a, b;
    CHECK_INT(render_request_secret_refs(req, &a, &err), 0);
    CHECK_INT(render_request_secret_refs(req, &b, &err), 0);
    CHECK_INT(a.n, 1);
    CHECK_INT(b.n, 1);
    if (a.n == 1 && b.n == 1) {
        CHECK_STR(a.items[0].env, "K");
        CHECK_STR(a.items[0].scope, "acme/svc");
        CHECK_STR(a.items[0].name, "key");
        CHECK_STR(a.items[0].field, "f");
        CHECK_INT(a.items[0].version, 3);
        CHECK_STR(a.items[0].path, "env.K");
        CHECK(a.items[0].ref != b.items[0].ref); /* each caller owns its copy */
    }
    render_secret_refs_release(&a);
    render_secret_refs_release(&b);
    render_request_free(req);
}

#define CDI_OK                                                                               \
    "{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": "     \
    "\"0\", \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidia0\"}]}}]}"

static void cdi_entry_check(void)
{
    const char *good[] = {
        CDI_OK,
        "{\"priority\": 1, \"path\": \"/etc/cdi/a.json\", \"spec\": " CDI_OK "}",
    };
    for (size_t i = 0; i < 2; i++) {
        json_t *entry = json_loads(good[i], 0, NULL);
        struct err err;
        err_init(&err);
        CHECK_INT(render_cdi_entry_check(entry, "host.cdi[0]", &err), 0);
        CHECK(!err_is_set(&err));
        json_decref(entry);
    }
    struct {
        const char *json, *path, *text;
    } bad[] = {
        {"{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [{\"name\": "
         "\"0\", \"containerEdits\": {\"hooks\": {\"createContainer\": []}}}]}",
         "host.cdi[0].devices[0].containerEdits.hooks", NULL},
        {"{\"cdiVersion\": \"0.6.0\", \"kind\": \"nvidia.com/gpu\", \"devices\": [], "
         "\"surprise\": 1}",
         "x.surprise", NULL},
        {"{\"kind\": \"nvidia.com/gpu\", \"devices\": []}", "x", "cdiVersion"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *entry = json_loads(bad[i].json, 0, NULL);
        struct err err;
        err_init(&err);
        CHECK_INT(render_cdi_entry_check(entry, i == 0 ? "host.cdi[0]" : "x", &err), -1);
        CHECK_INT(err.code, ERR_SPEC_INVALID);
        if (bad[i].text) {
            CHECK_CONTAINS(err_message(&err), bad[i].text);
        } else {
            CHECK_STR(err_path(&err), bad[i].path);
        }
        json_decref(entry);
    }
}

RT_MAIN(TEST(malformed_reference_reported_where_it_was),
        TEST(references_are_copies_of_the_parsed_ones), TEST(cdi_entry_check))
