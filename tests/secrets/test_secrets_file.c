/* The secrets service with the file and none providers, settings, and value extraction. */
#define _GNU_SOURCE /* setenv, mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonx.h"
#include "common/sbuf.h"
#include "secrets/secrets.h"
#include "tests/harness.h"
#include "tests/secrets/vdouble.h"

static char dir[64];

static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static const char *SECRETS_JSON =
    "{\"shop\": {\"db\": \"{\\\"password\\\": \\\"pw1\\\", \\\"port\\\": 5432, \\\"tls\\\": true,"
    " \\\"opt\\\": null, \\\"hosts\\\": [\\\"a\\\", \\\"b\\\"], \\\"nested\\\": {\\\"k\\\": 1}}\","
    "            \"api-key\": \"key-1\","
    "            \"obj\": {\"value\": \"v\", \"user\": \"u\", \"n\": 7}},"
    " \"shop/web\": {\"token\": \"web-token\"},"
    " \"env:prod\": {\"db\": {\"password\": \"prod-pw\"}},"
    " \"project:p:env:e\": {\"cert\": \"{\\\"pem\\\": \\\"PEM\\\"}\"}}";

static struct secrets *make_file(const char *path, struct err *err)
{
    struct secrets_settings s;
    memset(&s, 0, sizeof(s));
    s.kind = SECRETS_FILE;
    s.file_path = path;
    s.cache_ttl_ms = 30000;
    s.log_level = LOG_ERROR;
    return secrets_create(&s, err);
}

/* Resolve `values` in scope "shop"; on success return the value of `want_ref` (copied). */
static int resolve(struct secrets *sec, const char *const *values, size_t n, json_t **vals,
                   json_t **list, struct err *err)
{
    struct render_secret_refs refs;
    if (refs_make(&refs, "shop", values, n)) {
        return -2;
    }
    int rc = secrets_resolve(sec, &refs, vals, list, err);
    render_secret_refs_release(&refs);
    return rc;
}

static void test_file_grammar_and_fields(void)
{
    const char *path = write_file("s.json", SECRETS_JSON, 0600);
    struct err err;
    err_init(&err);
    struct secrets *sec = make_file(path, &err);
    CHECK(sec != NULL);
    if (!sec) {
        return;
    }
    CHECK_STR(secrets_provider_name(sec), "file");
    const char *refs[] = {"$S:api-key",     "$S:db/password", "$S:db/port",     "$S:db/tls",
                          "$S:db/opt",      "$S:db/hosts",    "$S:db/nested",   "$S:obj",
                          "$S:obj/user",    "$S:obj/n",       "$S:@web/token",  "$S::prod/db/password",
                          "$S:p:e/cert/pem"};
    json_t *vals = NULL, *list = NULL;
    CHECK_INT(resolve(sec, refs, ARRAY_LEN(refs), &vals, &list, &err), 0);
    if (vals) {
        CHECK_STR(jsonx_get_str(vals, "$S:api-key"), "key-1");
        CHECK_STR(jsonx_get_str(vals, "$S:db/password"), "pw1");
        CHECK_STR(jsonx_get_str(vals, "$S:db/port"), "5432");
        CHECK_STR(jsonx_get_str(vals, "$S:db/tls"), "true");
        CHECK_STR(jsonx_get_str(vals, "$S:db/opt"), "");
        CHECK_STR(jsonx_get_str(vals, "$S:db/hosts"), "[\"a\",\"b\"]");
        CHECK_STR(jsonx_get_str(vals, "$S:db/nested"), "{\"k\":1}");
        CHECK_STR(jsonx_get_str(vals, "$S:obj"), "v");
        CHECK_STR(jsonx_get_str(vals, "$S:obj/user"), "u");
        CHECK_STR(jsonx_get_str(vals, "$S:obj/n"), "7");
        CHECK_STR(jsonx_get_str(vals, "$S:@web/token"), "web-token");
        CHECK_STR(jsonx_get_str(vals, "$S::prod/db/password"), "prod-pw");
        CHECK_STR(jsonx_get_str(vals, "$S:p:e/cert/pem"), "PEM");
    }
    CHECK_INT(json_array_size(list), ARRAY_LEN(refs));
    const json_t *item = json_array_get(list, 11);
    CHECK_STR(jsonx_get_str(item, "env"), "E11");
    CHECK_STR(jsonx_get_str(item, "ref"), "$S::prod/db/password");
    CHECK_STR(jsonx_get_str(item, "scope"), "env:prod");
    CHECK_STR(jsonx_get_str(item, "provider"), "file");
    CHECK(json_is_null(json_object_get(item, "version")));
    CHECK(json_object_get(item, "value") == NULL);
    secrets_values_free(vals);
    json_decref(list);
    secrets_destroy(sec);
}

static void test_file_missing_things(void)
{
    const char *path = write_file("s.json", SECRETS_JSON, 0600);
    struct err err;
    err_init(&err);
    struct secrets *sec = make_file(path, &err);
    CHECK(sec != NULL);
    if (!sec) {
        return;
    }
    static const struct {
        const char *ref, *msg;
    } cases[] = {
        {"$S:nope", "does not exist"},
        {"$S:db/nofield", "no field 'nofield'"},
        {"$S:api-key/x", "not a JSON object"},
        {"$S:db@2", "no versions"},
        {"$S:@other/token", "scope 'shop/other'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *refs[] = {"$S:api-key", cases[i].ref};
        json_t *vals = NULL, *list = NULL;
        err_init(&err);
        CHECK_INT(resolve(sec, refs, 2, &vals, &list, &err), -1);
        CHECK(vals == NULL && list == NULL); /* never a partial set */
        CHECK_INT(err.code, ERR_SECRET_NOT_FOUND);
        CHECK_INT(err_http_status(err.code), 422);
        CHECK_CONTAINS(err_message(&err), cases[i].ref);
        CHECK_CONTAINS(err_message(&err), cases[i].msg);
        CHECK_STR(err_path(&err), "services.t.env.E1");
        CHECK(!strstr(err_message(&err), "key-1"));
    }
    secrets_destroy(sec);
}

static void test_file_mode_refused(void)
{
    const char *path = write_file("open.json", SECRETS_JSON, 0644);
    struct err err;
    err_init(&err);
    struct secrets *sec = make_file(path, &err);
    CHECK(sec == NULL);
    CHECK_CONTAINS(err_message(&err), "readable or writable by group or others");
    CHECK_CONTAINS(err_message(&err), "0644");
    CHECK_CONTAINS(err_message(&err), "install -m 0600 "); /* the way out for a git checkout */
    secrets_destroy(sec);
    path = write_file("g.json", SECRETS_JSON, 0640);
    err_init(&err);
    CHECK(make_file(path, &err) == NULL);
    err_init(&err);
    CHECK(make_file("/nonexistent/secrets.json", &err) == NULL);
    CHECK_INT(err.code, ERR_IO);
}

static void test_file_reload(void)
{
    const char *path = write_file("r.json", "{\"shop\": {\"a\": \"one\"}}", 0600);
    char saved[128];
    snprintf(saved, sizeof(saved), "%s", path);
    struct err err;
    err_init(&err);
    struct secrets *sec = make_file(saved, &err);
    CHECK(sec != NULL);
    if (!sec) {
        return;
    }
    const char *refs[] = {"$S:a"};
    json_t *vals = NULL, *list = NULL;
    CHECK_INT(resolve(sec, refs, 1, &vals, &list, &err), 0);
    CHECK_STR(jsonx_get_str(vals, "$S:a"), "one");
    secrets_values_free(vals);
    json_decref(list);

    write_file("r.json", "{\"shop\": {\"a\": \"two\"}}", 0600);
    CHECK_INT(secrets_reload(sec, &err), 0);
    CHECK_INT(resolve(sec, refs, 1, &vals, &list, &err), 0);
    CHECK_STR(jsonx_get_str(vals, "$S:a"), "two");
    secrets_values_free(vals);
    json_decref(list);

    /* A broken file keeps the old contents and reports the problem (without quoting it). */
    write_file("r.json", "{\"shop\": {\"a\": \"three-secret\"", 0600);
    err_init(&err);
    CHECK_INT(secrets_reload(sec, &err), -1);
    CHECK_CONTAINS(err_message(&err), "not valid JSON");
    CHECK(!strstr(err_message(&err), "three-secret"));
    write_file("r.json", "{\"shop\": {\"a\": \"four\"}}", 0644);
    err_init(&err);
    CHECK_INT(secrets_reload(sec, &err), -1);
    CHECK_INT(resolve(sec, refs, 1, &vals, &list, &err), 0);
    CHECK_STR(jsonx_get_str(vals, "$S:a"), "two");
    secrets_values_free(vals);
    json_decref(list);
    CHECK_INT(secrets_ready(sec, &err), 0);
    secrets_destroy(sec);
}

static void test_file_shapes_refused(void)
{
    struct err err;
    const char *bad[] = {"[]", "{\"shop\": \"flat\"}", "{\"a\": 1, \"a\": 2}", ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        const char *path = write_file("bad.json", bad[i], 0600);
        err_init(&err);
        struct secrets *sec = make_file(path, &err);
        CHECK(sec == NULL);
        CHECK_INT(err.code, ERR_SPEC_INVALID);
        secrets_destroy(sec);
    }
}

static void test_none_provider(void)
{
    struct secrets_settings s;
    memset(&s, 0, sizeof(s));
    s.kind = SECRETS_NONE;
    struct err err;
    err_init(&err);
    struct secrets *sec = secrets_create(&s, &err);
    CHECK(sec != NULL);
    CHECK_STR(secrets_provider_name(sec), "none");
    const char *refs[] = {"$S:db/password"};
    json_t *vals = NULL, *list = NULL;
    CHECK_INT(resolve(sec, refs, 1, &vals, &list, &err), -1);
    CHECK_INT(err.code, ERR_SECRET_NOT_FOUND);
    CHECK_CONTAINS(err_message(&err), "$S:db/password");
    CHECK_CONTAINS(err_message(&err), "no secrets provider");
    /* No references: empty results, whatever the provider. */
    CHECK_INT(resolve(sec, refs, 0, &vals, &list, &err), 0);
    CHECK(json_object_size(vals) == 0 && json_array_size(list) == 0);
    secrets_values_free(vals);
    json_decref(list);
    CHECK_INT(secrets_ready(sec, &err), 0);
    struct sbuf m;
    sbuf_init(&m, 1 << 16);
    CHECK_INT(secrets_metrics(sec, &m), 0);
    CHECK_CONTAINS(sbuf_str(&m), "ocirender_secret_requests_total{provider=\"none\",result=\"not_found\"} 1");
    sbuf_free(&m);
    secrets_destroy(sec);
}

static void test_settings_from_env(void)
{
    const char *vars[] = {"OCIRENDER_SECRETS", "OCIRENDER_SECRETS_FILE", "VAULT_ADDR",
                          "VAULT_TOKEN", "VAULT_CLIENT_TIMEOUT", "VAULT_MAX_RETRIES",
                          "VAULT_SKIP_VERIFY", "OCIRENDER_SECRET_CACHE_TTL", "BAO_ADDR",
                          "VAULT_MOUNT", "OCIRENDER_LOG_LEVEL"};
    for (size_t i = 0; i < ARRAY_LEN(vars); i++) {
        unsetenv(vars[i]);
    }
    struct secrets_settings s;
    struct err err;
    err_init(&err);
    CHECK_INT(secrets_settings_from_env(&s, &err), 0);
    CHECK_INT(s.kind, SECRETS_NONE);
    CHECK_INT(s.cache_ttl_ms, 30000);
    CHECK_INT(s.vault_timeout_ms, 60000);
    CHECK_INT(s.vault_max_retries, 2);
    CHECK_STR(s.vault_mount, "secret");
    CHECK_STR(s.vault_addr, "https://127.0.0.1:8200");
    setenv("OCIRENDER_SECRETS_FILE", "/x.json", 1);
    CHECK_INT(secrets_settings_from_env(&s, &err), 0);
    CHECK_INT(s.kind, SECRETS_FILE);
    setenv("OCIRENDER_SECRETS", "vault", 1);
    setenv("BAO_ADDR", "https://bao:8200", 1);
    setenv("VAULT_CLIENT_TIMEOUT", "90s", 1);
    setenv("VAULT_MAX_RETRIES", "5", 1);
    setenv("VAULT_SKIP_VERIFY", "true", 1);
    setenv("OCIRENDER_SECRET_CACHE_TTL", "7", 1);
    setenv("OCIRENDER_LOG_LEVEL", "debug", 1);
    CHECK_INT(secrets_settings_from_env(&s, &err), 0);
    CHECK_INT(s.kind, SECRETS_VAULT);
    CHECK_STR(s.vault_addr, "https://bao:8200");
    CHECK_INT(s.vault_timeout_ms, 90000);
    CHECK_INT(s.vault_max_retries, 5);
    CHECK(s.vault_skip_verify);
    CHECK_INT(s.cache_ttl_ms, 7000);
    CHECK_INT(s.log_level, LOG_DEBUG);
    setenv("VAULT_ADDR", "https://vault:8200", 1);
    CHECK_INT(secrets_settings_from_env(&s, &err), 0);
    CHECK_STR(s.vault_addr, "https://vault:8200");
    setenv("VAULT_SKIP_VERIFY", "maybe", 1);
    CHECK_INT(secrets_settings_from_env(&s, &err), -1);
    unsetenv("VAULT_SKIP_VERIFY");
    setenv("OCIRENDER_SECRETS", "consul", 1);
    err_init(&err);
    CHECK_INT(secrets_settings_from_env(&s, &err), -1);
    CHECK_CONTAINS(err_message(&err), "consul");
    for (size_t i = 0; i < ARRAY_LEN(vars); i++) {
        unsetenv(vars[i]);
    }
}

static void test_vault_settings_refused(void)
{
    struct secrets_settings s;
    struct vdouble d;
    memset(&d, 0, sizeof(d));
    snprintf(d.addr, sizeof(d.addr), "http://127.0.0.1:1");
    vd_settings(&d, &s);
    struct err err;
    /* plain http without the explicit test switch */
    s.vault_allow_http = false;
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "must be an https:// URL");
    /* no credentials */
    vd_settings(&d, &s);
    s.vault_token = NULL;
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "needs credentials");
    /* a token file others can read */
    vd_settings(&d, &s);
    s.vault_token = NULL;
    s.vault_token_file = write_file("token", "hvs.abc\n", 0644);
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "group or others");
    /* a token with a newline inside (header injection) */
    vd_settings(&d, &s);
    s.vault_token = "abc\r\nX-Evil: 1";
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    /* a mount with '..' */
    vd_settings(&d, &s);
    s.vault_mount = "secret/../sys";
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    /* AppRole half configured */
    vd_settings(&d, &s);
    s.vault_role_id = "r";
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "VAULT_SECRET_ID");
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ocr-secrets-file.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void teardown(void)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    run_quiet(argv);
}

static void test_setup(void)
{
    setup();
}

static void test_teardown(void)
{
    teardown();
}

HARNESS_MAIN(TEST(test_setup), TEST(test_file_grammar_and_fields), TEST(test_file_missing_things),
             TEST(test_file_mode_refused), TEST(test_file_reload), TEST(test_file_shapes_refused),
             TEST(test_none_provider), TEST(test_settings_from_env),
             TEST(test_vault_settings_refused), TEST(test_teardown))
