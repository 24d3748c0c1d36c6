/* The vault provider over TLS: CA file and directory, failed verification, VAULT_SKIP_VERIFY
 * (works, and warns), client certificates, and the redirect rule under https. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "secrets/secrets.h"
#include "tests/harness.h"
#include "tests/secrets/vdouble.h"

static struct vdouble D;     /* TLS */
static struct vdouble M;     /* TLS, client certificates required */
static int started = -1;

static char *read_api(const struct secrets_settings *s, struct err *err)
{
    err_init(err);
    struct secrets *sec = secrets_create(s, err);
    if (!sec) {
        return NULL;
    }
    struct render_secret_refs refs;
    const char *values[] = {"$S:api"};
    refs_make(&refs, "shop", values, 1);
    json_t *vals = NULL, *list = NULL;
    char *out = NULL;
    if (secrets_resolve(sec, &refs, &vals, &list, err) == 0) {
        out = str_dup(jsonx_get_str(vals, "$S:api"));
    }
    secrets_values_free(vals);
    json_decref(list);
    render_secret_refs_release(&refs);
    secrets_destroy(sec);
    return out;
}

static void path_in(const struct vdouble *d, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", d->dir, name);
}

static void test_start(void)
{
    started = vd_start(&D, true, false);
    if (started == 77) {
        SKIP("python3 or openssl missing");
    }
    CHECK_INT(started, 0);
    if (started == 0) {
        CHECK_INT(vd_put(&D, "shop/api", "{\"value\": \"tls-value\"}"), 0);
    }
}

static void test_ca_file(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    struct secrets_settings s;
    char ca[300];
    vd_settings(&D, &s);
    path_in(&D, "ca.pem", ca, sizeof(ca));
    s.vault_cacert = ca;
    struct err err;
    char *v = read_api(&s, &err);
    CHECK_STR(v, "tls-value");
    free(v);
}

static void test_ca_dir(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    char dir[300], ca[300], link[320];
    snprintf(dir, sizeof(dir), "%s/cadir", D.dir);
    path_in(&D, "ca.pem", ca, sizeof(ca));
    snprintf(link, sizeof(link), "%s/ca.pem", dir);
    const char *mk[] = {"mkdir", "-p", dir, NULL};
    const char *cp[] = {"cp", ca, link, NULL};
    const char *rehash[] = {"openssl", "rehash", dir, NULL};
    if (run_quiet(mk) || run_quiet(cp) || run_quiet(rehash)) {
        SKIP("openssl rehash unavailable");
    }
    struct secrets_settings s;
    vd_settings(&D, &s);
    s.vault_capath = dir;
    struct err err;
    char *v = read_api(&s, &err);
    if (!v) {
        fprintf(stderr, "  %s\n", err_message(&err));
    }
    CHECK_STR(v, "tls-value");
    free(v);
}

static void test_untrusted_refused(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    vd_ctl(&D, "stats/clear", NULL);
    struct secrets_settings s;
    vd_settings(&D, &s);
    s.vault_cacert = "/etc/ssl/certs/ca-certificates.crt"; /* public CAs: not ours */
    struct err err;
    CHECK(read_api(&s, &err) == NULL);
    CHECK_INT(err.code, ERR_SECRET_BACKEND);
    CHECK_CONTAINS(err_message(&err), "TLS verification");
    CHECK_CONTAINS(err_message(&err), "$S:api");
    /* A TLS failure is not retried: the same answer would come back. */
    CHECK_INT(vd_count(&D, "GET /v1/secret/data/shop/api"), 0);
}

static void test_skip_verify_warns(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    struct secrets_settings s;
    struct log_capture logs = {NULL, 0};
    vd_settings(&D, &s);
    s.vault_skip_verify = true;
    s.log = log_capture_fn;
    s.log_ctx = &logs;
    s.log_level = LOG_WARN;
    struct err err;
    char *v = read_api(&s, &err);
    CHECK_STR(v, "tls-value");
    free(v);
    CHECK_CONTAINS(logs.text, "VAULT_SKIP_VERIFY");
    CHECK_CONTAINS(logs.text, "NOT verified");
    log_capture_free(&logs);
}

static void test_http_refused_for_https_only(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    /* Without the test switch, an http:// address is refused at start-up. */
    struct secrets_settings s;
    vd_settings(&D, &s);
    char addr[96];
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%d", D.port);
    s.vault_addr = addr;
    s.vault_allow_http = false;
    struct err err;
    err_init(&err);
    CHECK(secrets_create(&s, &err) == NULL);
    CHECK_CONTAINS(err_message(&err), "https://");
}

static void test_cross_origin_redirect_tls(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    vd_ctl(&D, "stats/clear", NULL);
    vd_ctl(&D, "fault", "{\"match\": \"shop/api\", \"count\": -1, \"kind\": \"redirect\"}");
    struct secrets_settings s;
    char ca[300];
    vd_settings(&D, &s);
    path_in(&D, "ca.pem", ca, sizeof(ca));
    s.vault_cacert = ca;
    struct err err;
    CHECK(read_api(&s, &err) == NULL);
    CHECK_INT(err.code, ERR_SECRET_BACKEND);
    CHECK_INT(vd_other_requests(&D), 0);
    CHECK(!vd_other_saw(&D, "root"));
    vd_ctl(&D, "faults/clear", NULL);
}

static void test_client_certificate(void)
{
    if (started != 0) {
        SKIP("no double");
    }
    int rc = vd_start(&M, true, true);
    CHECK_INT(rc, 0);
    if (rc) {
        return;
    }
    vd_put(&M, "shop/api", "{\"value\": \"mtls-value\"}");
    struct secrets_settings s;
    char ca[300], cert[300], key[300];
    vd_settings(&M, &s);
    path_in(&M, "ca.pem", ca, sizeof(ca));
    path_in(&M, "client.pem", cert, sizeof(cert));
    path_in(&M, "client.key", key, sizeof(key));
    s.vault_cacert = ca;
    s.vault_max_retries = 0;
    struct err err;
    CHECK(read_api(&s, &err) == NULL); /* no client certificate: the handshake fails */
    s.vault_client_cert = cert;
    s.vault_client_key = key;
    char *v = read_api(&s, &err);
    if (!v) {
        fprintf(stderr, "  %s\n", err_message(&err));
    }
    CHECK_STR(v, "mtls-value");
    free(v);
    vd_stop(&M);
}

static void test_stop(void)
{
    if (started == 0) {
        vd_stop(&D);
    }
}

HARNESS_MAIN(TEST(test_start), TEST(test_ca_file), TEST(test_ca_dir), TEST(test_untrusted_refused),
             TEST(test_skip_verify_warns), TEST(test_http_refused_for_https_only),
             TEST(test_cross_origin_redirect_tls), TEST(test_client_certificate), TEST(test_stop))
