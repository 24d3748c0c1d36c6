/*
 * The vault provider: KV v2 reads
 *   GET {VAULT_ADDR}/v1/{mount}/data/{VAULT_PATH_PREFIX}{scope}/{name}[?version=N]
 * with the token from vault_auth.c, over the HTTP layer of vault_http.c. Returns the secret's
 * data object and the version the vault's metadata names; extraction happens in secrets.c.
 */
#include "secrets/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"

struct vault_provider {
    struct vault_http *http;
    struct vault_auth *auth;
    char *mount_enc;  /* percent-encoded mount path, e.g. "secret" or "teams/kv" */
    char *prefix_enc; /* encoded VAULT_PATH_PREFIX with a trailing '/', or "" */
    const struct log_hook *log;
};

static char *encode_path(const char *raw, bool trailing_slash, struct err *err, const char *name)
{
    while (*raw == '/') {
        raw++;
    }
    size_t n = strlen(raw);
    while (n > 0 && raw[n - 1] == '/') {
        n--;
    }
    struct sbuf b;
    sbuf_init(&b, 2048);
    if (n == 0) {
        char *empty = str_dup("");
        if (!empty) {
            err_nomem(err);
        }
        return empty;
    }
    char *trimmed = str_ndup(raw, n);
    if (!trimmed) {
        err_nomem(err);
        return NULL;
    }
    int rc = vault_path_add(&b, trimmed) || (trailing_slash && sbuf_addc(&b, '/'));
    free(trimmed);
    if (rc) {
        sbuf_free(&b);
        err_set(err, ERR_SPEC_INVALID, name, "%s '%s' is not a usable vault path", name, raw);
        return NULL;
    }
    char *out = sbuf_take(&b, NULL);
    if (!out) {
        err_nomem(err);
    }
    return out;
}

void *vault_provider_create(const struct secrets_settings *s, const struct log_hook *log,
                            struct err *err)
{
    struct vault_provider *v = calloc(1, sizeof(*v));
    if (!v) {
        err_nomem(err);
        return NULL;
    }
    v->log = log;
    v->mount_enc = encode_path(s->vault_mount ? s->vault_mount : "secret", false, err,
                               "VAULT_MOUNT");
    bool ok = v->mount_enc != NULL;
    if (ok && !*v->mount_enc) {
        ok = false;
        err_set(err, ERR_SPEC_INVALID, "VAULT_MOUNT", "VAULT_MOUNT must not be empty");
    }
    if (ok) {
        v->prefix_enc = encode_path(s->vault_path_prefix ? s->vault_path_prefix : "", true, err,
                                    "VAULT_PATH_PREFIX");
        ok = v->prefix_enc != NULL;
    }
    if (ok) {
        v->http = vault_http_create(s, log, err);
    }
    if (v->http) {
        v->auth = vault_auth_create(s, v->http, log, err);
    }
    if (!v->auth) {
        vault_provider_ops.destroy(v);
        return NULL;
    }
    log_hookf(log, LOG_INFO, "vault provider ready for mount %s%s%s", v->mount_enc,
                 *v->prefix_enc ? ", prefix " : "", v->prefix_enc);
    return v;
}

static void vault_abort(void *impl)
{
    vault_http_abort(((struct vault_provider *)impl)->http);
}

static void vault_destroy(void *impl)
{
    struct vault_provider *v = impl;
    if (!v) {
        return;
    }
    vault_auth_destroy(v->auth);
    vault_http_destroy(v->http);
    free(v->mount_enc);
    free(v->prefix_enc);
    free(v);
}

static int read_path(const struct vault_provider *v, const char *scope, const char *name,
                     unsigned version, struct sbuf *path, struct err *err)
{
    sbuf_init(path, 4096);
    int rc = sbuf_add(path, v->mount_enc) || sbuf_add(path, "/data/") ||
             sbuf_add(path, v->prefix_enc);
    if (!rc && vault_path_add(path, scope)) {
        sbuf_free(path);
        return err_set(err, ERR_SPEC_INVALID, NULL,
                       "scope '%s' cannot be used as a vault path (empty, '.' or '..' segment)",
                       scope);
    }
    rc = rc || sbuf_addc(path, '/') || vault_path_add_segment(path, name, strlen(name));
    if (!rc && version) {
        rc = sbuf_addf(path, "?version=%u", version);
    }
    if (rc) {
        sbuf_free(path);
        return err_set(err, ERR_SPEC_INVALID, NULL, "the vault path of secret %s/%s is too long",
                       scope, name);
    }
    return 0;
}

/* A 404: missing secret or version, or a version that was deleted or destroyed. */
static int not_found(const struct vault_resp *resp, const char *what, unsigned version,
                     struct err *err)
{
    json_error_t jerr;
    json_t *doc = resp->json ? jsonx_loadb(sbuf_str(&resp->body), sbuf_len(&resp->body), &jerr)
                             : NULL;
    const json_t *meta = json_object_get(json_object_get(doc, "data"), "metadata");
    const char *deleted = jsonx_get_str(meta, "deletion_time");
    bool destroyed = json_is_true(json_object_get(meta, "destroyed"));
    long ver = json_is_integer(json_object_get(meta, "version"))
                   ? (long)json_integer_value(json_object_get(meta, "version"))
                   : (long)version;
    const json_t *warn = json_array_get(json_object_get(doc, "warnings"), 0);
    bool v1_path = json_is_string(warn) && strstr(json_string_value(warn), "versioned K/V");
    if (destroyed) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: version %ld is destroyed in the vault",
                what, ver);
    } else if (deleted && *deleted) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                "%s: version %ld was deleted in the vault (undelete it or pin another version)",
                what, ver);
    } else if (v1_path) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: not found (the vault warns the path is "
                "not valid for a versioned K/V engine; check VAULT_MOUNT)", what);
    } else if (version) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: version %u does not exist in the vault",
                what, version);
    } else {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: the secret does not exist in the vault",
                what);
    }
    json_decref(doc); /* a 404 envelope has data.data = null: nothing secret to wipe */
    return -1;
}

static int parse_secret(const struct vault_resp *resp, const char *what, unsigned version,
                        struct secret_doc *out, struct err *err)
{
    json_t *doc = vault_resp_json(resp, what, err);
    if (!doc) {
        return -1;
    }
    const json_t *data = json_object_get(doc, "data");
    json_t *values = json_object_get(data, "data");
    const json_t *meta = json_object_get(data, "metadata");
    const json_t *ver = json_object_get(meta, "version");
    int rc = -1;
    if (!json_is_object(data) || (values && !json_is_null(values) && !json_is_object(values))) {
        err_set(err, ERR_SECRET_BACKEND, NULL,
                "%s: the vault's answer is not a KV v2 secret (check VAULT_MOUNT)", what);
    } else if (!values || json_is_null(values) ||
               json_is_true(json_object_get(meta, "destroyed"))) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: the vault holds no data for this version",
                what);
    } else {
        out->data = json_incref(values);
        out->version = json_is_integer(ver) ? (long)json_integer_value(ver)
                                            : (version ? (long)version : -1);
        rc = 0;
    }
    secret_json_decref(doc);
    return rc;
}

static int vault_get(void *impl, const char *scope, const char *name, unsigned version,
                     struct secret_doc *out, struct err *err)
{
    struct vault_provider *v = impl;
    char what[256];
    snprintf(what, sizeof(what), "secret %s/%s%s%.0u", scope, name, version ? "@" : "", version);
    struct sbuf path;
    if (read_path(v, scope, name, version, &path, err)) {
        return -1;
    }
    struct vault_resp resp;
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *token = NULL;
        unsigned gen = 0;
        if (vault_auth_token(v->auth, &token, &gen, err)) {
            break;
        }
        struct vault_req req = {.method = "GET", .path = sbuf_str(&path), .token = token,
                                .max_retries = -1};
        rc = vault_http_do(v->http, &req, what, &resp, err);
        secret_str_free(token);
        if (rc) {
            break;
        }
        /* A 403 may mean an expired token rather than a policy: one retry with a new one. */
        if (resp.status == 403 && attempt == 0 && vault_auth_recover(v->auth, gen, &resp)) {
            vault_resp_release(&resp);
            rc = -1;
            continue;
        }
        if (resp.status == 200) {
            rc = parse_secret(&resp, what, version, out, err);
        } else if (resp.status == 404) {
            rc = not_found(&resp, what, version, err);
        } else {
            rc = vault_status_error(&resp, what, err);
        }
        vault_resp_release(&resp);
        break;
    }
    sbuf_free(&path);
    return rc;
}

static int vault_reload(void *impl, struct err *err)
{
    struct vault_provider *v = impl;
    return vault_auth_reload(v->auth, err);
}

/* /readyz: reachable and unsealed (sys/health), then the token (lookup-self). */
static int vault_ready(void *impl, struct err *err)
{
    struct vault_provider *v = impl;
    struct vault_req req = {.method = "GET",
                            .path = "sys/health?standbyok=true&perfstandbyok=true",
                            .no_namespace = true,
                            .max_retries = 0,
                            .timeout_ms = 5000};
    struct vault_resp resp;
    if (vault_http_do(v->http, &req, "vault health check", &resp, err)) {
        return -1;
    }
    long st = resp.status;
    vault_resp_release(&resp);
    if (st == 200 || st == 429 || st == 472 || st == 473) { /* active or (perf) standby */
        return vault_auth_check(v->auth, err);
    }
    if (st == 503) {
        err_set(err, ERR_SECRET_UNAVAILABLE, NULL, "the vault is sealed");
    } else if (st == 501) {
        err_set(err, ERR_SECRET_UNAVAILABLE, NULL, "the vault is not initialized");
    } else {
        err_set(err, ERR_SECRET_UNAVAILABLE, NULL, "the vault's health check answered HTTP %ld",
                st);
    }
    if (err) {
        err->retry_after = 2;
    }
    return -1;
}

const struct provider_ops vault_provider_ops = {
    .name = "vault",
    .remote = true,
    .get = vault_get,
    .reload = vault_reload,
    .ready = vault_ready,
    .destroy = vault_destroy,
    .abort = vault_abort,
};
