/*
 * The vault provider's HTTP layer: requests to VAULT_ADDR through the project's retrying
 * client (common/httpc.h: handle pool, shared DNS cache and TLS sessions, retries).
 *
 * The token travels only to the configured origin: automatic redirects are off, and a redirect
 * is followed by hand only when its scheme, host and port equal VAULT_ADDR's.
 */
#include "secrets/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/httpc.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"

#define MAX_REDIRECTS 3
#define MAX_POOLED_HANDLES 32
#define RETRY_AFTER_CAP_S 60
#define DEFAULT_RETRY_AFTER_S 2

struct vault_http {
    char *base;   /* VAULT_ADDR without trailing '/' */
    char *origin; /* "scheme://host:port", lower case */
    char *ns_header;
    char *cacert, *capath, *client_cert, *client_key;
    bool skip_verify;
    bool allow_http;
    unsigned timeout_ms, connect_timeout_ms, max_retries, wait_min_ms, wait_max_ms;
    const struct log_hook *log;
    struct httpc *client;
};

/* ---- origins ---- */

static void lower(char *s)
{
    for (; s && *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            *s = (char)(*s - 'A' + 'a');
        }
    }
}

/* "scheme://host:port" of an absolute URL (default ports filled in), or NULL. */
static char *url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
        out = malloc(n);
        if (out) {
            snprintf(out, n, "%s://%s:%s", scheme, host, port);
            lower(out);
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* A short printable copy of untrusted text for messages. */
static void printable(char *dst, size_t size, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch <= 0x20) { /* Vault's multi-error texts carry "\n\t* ": one space each */
            if (j > 0 && dst[j - 1] != ' ') {
                dst[j++] = ' ';
            }
            continue;
        }
        dst[j++] = ch < 0x7f ? (char)ch : '?';
    }
    while (j > 0 && dst[j - 1] == ' ') {
        j--;
    }
    if (size) {
        dst[j] = '\0';
    }
}

/* ---- create / destroy ---- */

static int copy_opt(char **dst, const char *src, struct err *err)
{
    if (!src || !*src) {
        return 0;
    }
    *dst = str_dup(src);
    return *dst ? 0 : err_nomem(err);
}

static int check_addr(struct vault_http *h, const char *addr, struct err *err)
{
    size_t n = strlen(addr);
    while (n > 0 && addr[n - 1] == '/') {
        n--;
    }
    if (!(h->base = str_ndup(addr, n))) {
        return err_nomem(err);
    }
    h->origin = url_origin(h->base);
    if (!h->origin) {
        return err_set(err, ERR_SPEC_INVALID, "VAULT_ADDR", "VAULT_ADDR '%s' is not a valid URL",
                       h->base);
    }
    if (str_has_prefix(h->origin, "https://")) {
        return 0;
    }
    if (str_has_prefix(h->origin, "http://") && h->allow_http) {
        log_hookf(h->log, LOG_WARN,
                     "VAULT_ADDR %s is plain http (OCIRENDER_VAULT_ALLOW_HTTP): the vault token "
                     "and secrets cross the network unencrypted; use this for tests only",
                     h->origin);
        return 0;
    }
    return err_set(err, ERR_SPEC_INVALID, "VAULT_ADDR",
                   "VAULT_ADDR '%s' must be an https:// URL (plain http only with "
                   "OCIRENDER_VAULT_ALLOW_HTTP=1, for tests)",
                   h->base);
}

struct vault_http *vault_http_create(const struct secrets_settings *s,
                                     const struct log_hook *log, struct err *err)
{
    struct vault_http *h = calloc(1, sizeof(*h));
    if (!h) {
        err_nomem(err);
        return NULL;
    }
    h->log = log;
    h->allow_http = s->vault_allow_http;
    h->skip_verify = s->vault_skip_verify;
    h->timeout_ms = s->vault_timeout_ms ? s->vault_timeout_ms : 60000;
    h->connect_timeout_ms = s->vault_connect_timeout_ms ? s->vault_connect_timeout_ms : 10000;
    h->max_retries = s->vault_max_retries;
    h->wait_min_ms = s->vault_retry_wait_min_ms ? s->vault_retry_wait_min_ms : 1000;
    h->wait_max_ms = s->vault_retry_wait_max_ms ? s->vault_retry_wait_max_ms : 1500;
    if (h->wait_max_ms < h->wait_min_ms) {
        h->wait_max_ms = h->wait_min_ms;
    }
    h->client = httpc_create(MAX_POOLED_HANDLES);
    int rc = h->client ? 0 : err_set(err, ERR_INTERNAL, NULL, "cannot set up the HTTP client");
    if (!rc) {
        rc = check_addr(h, s->vault_addr ? s->vault_addr : "https://127.0.0.1:8200", err);
    }
    if (!rc && s->vault_namespace && *s->vault_namespace) {
        struct sbuf b;
        sbuf_init(&b, 1024);
        rc = sbuf_add(&b, "X-Vault-Namespace: ") || sbuf_add(&b, s->vault_namespace) ||
             !(h->ns_header = sbuf_take(&b, NULL));
        if (rc || strpbrk(s->vault_namespace, "\r\n")) {
            rc = err_set(err, ERR_SPEC_INVALID, "VAULT_NAMESPACE", "VAULT_NAMESPACE is invalid");
        }
    }
    if (!rc) {
        rc = copy_opt(&h->cacert, s->vault_cacert, err) ||
             copy_opt(&h->capath, s->vault_capath, err) ||
             copy_opt(&h->client_cert, s->vault_client_cert, err) ||
             copy_opt(&h->client_key, s->vault_client_key, err);
    }
    if (!rc && h->skip_verify) {
        log_hookf(log, LOG_WARN,
                     "VAULT_SKIP_VERIFY is set: the vault's TLS certificate is NOT verified, so "
                     "anyone on the path can impersonate it and collect the token");
    }
    if (rc) {
        vault_http_destroy(h);
        return NULL;
    }
    return h;
}

void vault_http_abort(struct vault_http *h)
{
    httpc_abort(h->client);
}

void vault_http_destroy(struct vault_http *h)
{
    if (!h) {
        return;
    }
    httpc_destroy(h->client);
    free(h->base);
    free(h->origin);
    free(h->ns_header);
    free(h->cacert);
    free(h->capath);
    free(h->client_cert);
    free(h->client_key);
    free(h);
}

/* ---- paths ---- */

int vault_path_add_segment(struct sbuf *b, const char *seg, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)seg[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        int rc = keep ? sbuf_addc(b, (char)ch)
                      : sbuf_addc(b, '%') || sbuf_addc(b, hex[ch >> 4]) ||
                            sbuf_addc(b, hex[ch & 15]);
        if (rc) {
            return -1;
        }
    }
    return 0;
}

int vault_path_add(struct sbuf *b, const char *path)
{
    const char *p = path;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            return -1;
        }
        if (vault_path_add_segment(b, p, n)) {
            return -1;
        }
        if (!p[n]) {
            return 0;
        }
        if (sbuf_addc(b, '/')) {
            return -1;
        }
        p += n + 1;
    }
}

/* ---- one request ---- */

static struct curl_slist *headers_build(const struct vault_http *h, const struct vault_req *req)
{
    struct curl_slist *list = NULL, *next;
    const char *fixed[] = {"X-Vault-Request: true", "Accept: application/json", "Expect:",
                           req->body ? "Content-Type: application/json" : NULL,
                           (!req->no_namespace) ? h->ns_header : NULL};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        if (!fixed[i]) {
            continue;
        }
        if (!(next = curl_slist_append(list, fixed[i]))) {
            httpc_headers_free(list);
            return NULL;
        }
        list = next;
    }
    if (req->token) {
        struct sbuf t;
        sbuf_init_secret(&t, 8192);
        if (sbuf_add(&t, "X-Vault-Token: ") || sbuf_add(&t, req->token)) {
            httpc_headers_free(list);
            return NULL;
        }
        next = curl_slist_append(list, sbuf_str(&t));
        sbuf_free_secret(&t);
        if (!next) {
            httpc_headers_free(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

/* httpc's configure hook: the VAULT_* TLS settings. */
static void set_tls(CURL *c, void *ctx)
{
    const struct vault_http *h = ctx;
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (h->cacert) {
        curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
    }
    if (h->capath) {
        curl_easy_setopt(c, CURLOPT_CAPATH, h->capath);
    }
    if (h->client_cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
    }
    if (h->client_key) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
    }
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->skip_verify ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->skip_verify ? 0L : 2L);
}

/* ---- retry policy ---- */

static bool status_retryable(long status)
{
    return status == 412 || status == 429 || (status >= 500 && status <= 599 && status != 501);
}

static bool tls_trust_failure(CURLcode code)
{
    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CIPHER: return true;
    default: return false;
    }
}

/* The final transport failure as an error. */
static int transport_error(const struct vault_http *h, const struct httpc_reply *r,
                           const char *what, struct err *err)
{
    char detail[CURL_ERROR_SIZE];
    printable(detail, sizeof(detail), r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code));
    if (r->too_large) {
        return err_set(err, ERR_SECRET_BACKEND, NULL,
                       "%s: the vault's answer is larger than %u bytes", what,
                       LIMIT_VAULT_RESPONSE);
    }
    if (r->code == CURLE_OPERATION_TIMEDOUT && r->deadline) {
        return err_set(err, ERR_SECRET_TIMEOUT, NULL,
                       "%s: the vault at %s did not answer within %u ms", what, h->origin,
                       h->timeout_ms);
    }
    if (tls_trust_failure(r->code)) {
        return err_set(err, ERR_SECRET_BACKEND, NULL,
                       "%s: TLS verification of the vault at %s failed: %s (check "
                       "VAULT_CACERT/VAULT_CAPATH)",
                       what, h->origin, detail);
    }
    if (httpc_transient(r->code)) {
        err_set(err, ERR_SECRET_UNAVAILABLE, NULL, "%s: the vault at %s is unreachable: %s", what,
                h->origin, detail);
        if (err && err->code == ERR_SECRET_UNAVAILABLE) {
            err->retry_after = DEFAULT_RETRY_AFTER_S;
        }
        return -1;
    }
    return err_set(err, ERR_SECRET_BACKEND, NULL, "%s: request to the vault at %s failed: %s",
                   what, h->origin, detail);
}

/* What the redirect judge needs, and what it found. */
struct redirects {
    const struct vault_http *h;
    const char *what;
    char *url; /* the current target (malloc) */
    unsigned followed;
    int rc; /* -1 once a redirect was refused: err says why */
    struct err *err;
};

/* Refuse a redirect (err set): the token must never reach another origin. */
static enum httpc_verdict refuse_redirect(struct redirects *rd, const char *target)
{
    char shown[128];
    printable(shown, sizeof(shown), target ? target : "(no usable Location)");
    log_hookf(rd->h->log, LOG_WARN,
              "%s: the vault redirected to another origin (%s); not followed, so the token "
              "is never sent there",
              rd->what, shown);
    rd->rc = err_set(rd->err, ERR_SECRET_BACKEND, NULL,
                     "%s: the vault at %s redirected to another origin (%s); not followed so the "
                     "vault token stays with the vault",
                     rd->what, rd->h->origin, shown);
    return HTTPC_DONE;
}

/* httpc's judge: follow a redirect by hand when it stays within VAULT_ADDR's origin. */
static enum httpc_verdict judge_redirect(void *ctx, struct httpc_request *rq,
                                         struct httpc_reply *r, enum httpc_verdict verdict)
{
    struct redirects *rd = ctx;
    if (r->code != CURLE_OK || !r->location) {
        return verdict;
    }
    if (++rd->followed > MAX_REDIRECTS) {
        rd->rc = err_set(rd->err, ERR_SECRET_BACKEND, NULL, "%s: too many vault redirects",
                         rd->what);
        return HTTPC_DONE;
    }
    char *target = url_origin(r->location);
    if (!target || strcmp(target, rd->h->origin) != 0) {
        enum httpc_verdict v = refuse_redirect(rd, target);
        free(target);
        return v;
    }
    free(target);
    free(rd->url);
    rd->url = r->location;
    r->location = NULL;
    rq->url = rd->url;
    return HTTPC_AGAIN;
}

static char *url_for(const struct vault_http *h, const char *path)
{
    size_t n = strlen(h->base) + strlen(path) + 8;
    char *url = malloc(n);
    if (url) {
        snprintf(url, n, "%s/v1/%s", h->base, path);
    }
    return url;
}

static void policy_init(const struct vault_http *h, const struct vault_req *req, const char *what,
                        const char *label, struct redirects *rd, struct httpc_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->retries = req->max_retries >= 0 ? (unsigned)req->max_retries : h->max_retries;
    p->wait_min_ms = h->wait_min_ms;
    p->wait_max_ms = h->wait_max_ms;
    p->retry_after_cap_s = RETRY_AFTER_CAP_S;
    p->budget_ms = req->timeout_ms ? req->timeout_ms : h->timeout_ms;
    p->retry_status = status_retryable;
    p->judge = judge_redirect;
    p->judge_ctx = rd;
    p->log = h->log;
    p->what = what;
    p->label = label;
    p->peer = "the vault";
}

/* The answer, moved into the provider's response (the body stays in secret mode). */
static void take_answer(struct httpc_reply *r, struct vault_resp *resp)
{
    resp->status = r->status;
    resp->json = str_has_prefix(r->content_type, "application/json");
    resp->retry_after = r->retry_after > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : r->retry_after;
    resp->attempts = r->attempts;
    resp->body = r->body;
    sbuf_init_secret(&r->body, LIMIT_VAULT_RESPONSE);
}

int vault_http_do(struct vault_http *h, const struct vault_req *req, const char *what,
                  struct vault_resp *resp, struct err *err)
{
    memset(resp, 0, sizeof(*resp));
    sbuf_init_secret(&resp->body, LIMIT_VAULT_RESPONSE);
    struct redirects rd = {h, what, url_for(h, req->path), 0, 0, err};
    struct curl_slist *headers = headers_build(h, req);
    if (!headers || !rd.url) {
        httpc_headers_free(headers);
        free(rd.url);
        return err_nomem(err);
    }
    struct httpc_request rq = {
        .url = rd.url,
        .headers = headers,
        .body = req->body,
        .body_len = req->body ? strlen(req->body) : 0,
        .protocols = h->allow_http ? "http,https" : "https",
        .connect_timeout_ms = h->connect_timeout_ms,
        .max_body = LIMIT_VAULT_RESPONSE,
        .configure = set_tls,
        .ctx = h,
    };
    char label[512];
    snprintf(label, sizeof(label), "vault %s /v1/%s", req->method, req->path);
    struct httpc_policy policy;
    policy_init(h, req, what, label, &rd, &policy);
    struct httpc_reply reply;
    int rc = httpc_send(h->client, &rq, &policy, &reply);
    if (rd.rc) {
        rc = -1; /* a redirect was refused; err says why */
    } else if (rc) {
        transport_error(h, &reply, what, err);
    } else {
        take_answer(&reply, resp);
    }
    httpc_reply_release(&reply);
    httpc_headers_free(headers);
    free(rd.url);
    return rc;
}

void vault_resp_release(struct vault_resp *resp)
{
    sbuf_free_secret(&resp->body);
}

json_t *vault_resp_json(const struct vault_resp *resp, const char *what, struct err *err)
{
    if (!resp->json) {
        err_set(err, ERR_SECRET_BACKEND, NULL,
                "%s: the vault answered %ld without a JSON content type", what, resp->status);
        return NULL;
    }
    json_error_t jerr;
    json_t *v = jsonx_loadb(sbuf_str(&resp->body), sbuf_len(&resp->body), &jerr);
    mem_wipe(jerr.text, sizeof(jerr.text)); /* may quote the (secret) input */
    if (!v || !json_is_object(v)) {
        secret_json_decref(v);
        err_set(err, ERR_SECRET_BACKEND, NULL,
                "%s: the vault's answer (%ld) is not a well-formed JSON object", what,
                resp->status);
        return NULL;
    }
    return v;
}

void vault_resp_error_text(const struct vault_resp *resp, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!resp->json || resp->status < 400) {
        return; /* only error envelopes: a success body holds secrets */
    }
    json_error_t jerr;
    json_t *v = jsonx_loadb(sbuf_str(&resp->body), sbuf_len(&resp->body), &jerr);
    const json_t *first = json_array_get(json_object_get(v, "errors"), 0);
    if (json_is_string(first)) {
        char tmp[160];
        printable(tmp, sizeof(tmp), json_string_value(first));
        snprintf(buf, size, "%s", tmp);
    }
    json_decref(v);
}

int vault_status_error(const struct vault_resp *resp, const char *what, struct err *err)
{
    char text[160];
    vault_resp_error_text(resp, text, sizeof(text));
    const char *sep = text[0] ? ": " : "";
    long st = resp->status;
    enum err_code code = ERR_SECRET_BACKEND;
    const char *why = "the vault answered with an error";
    if (st == 403) {
        code = ERR_SECRET_DENIED;
        why = "the vault denied access";
    } else if (st == 404) {
        code = ERR_SECRET_NOT_FOUND;
        why = "not found in the vault";
    } else if (st == 429) {
        code = ERR_SECRET_UNAVAILABLE;
        why = "the vault is rate-limiting us";
    } else if (st == 503) {
        code = ERR_SECRET_UNAVAILABLE;
        why = strstr(text, "sealed") ? "the vault is sealed" : "the vault is unavailable";
    } else if (st == 412) {
        code = ERR_SECRET_UNAVAILABLE;
        why = "the vault node is not yet consistent";
    } else if (st >= 200 && st < 300) {
        why = "the vault's answer is not what a KV v2 read returns";
    }
    err_set(err, code, NULL, "%s: %s (HTTP %ld%s%s)", what, why, st, sep, text);
    if (err && err->code == ERR_SECRET_UNAVAILABLE) {
        err->retry_after = resp->retry_after ? resp->retry_after : DEFAULT_RETRY_AFTER_S;
    }
    return -1;
}
