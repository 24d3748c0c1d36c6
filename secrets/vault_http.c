/*
 * The vault provider's HTTP layer over libcurl (OpenSSL flavour).
 *
 * Connection reuse: libcurl 7.88 documents sharing the connection cache between threads
 * (CURL_LOCK_DATA_CONNECT) as unsafe, so the pool is a free list of easy handles, each keeping
 * its own live connection (curl_easy_reset keeps it), plus one share handle for the DNS cache
 * and TLS sessions, which are safe to share under the lock callbacks below. An easy handle is
 * used by one thread at a time. curl_global_init is the process's job (before threads).
 *
 * The token travels only to the configured origin: automatic redirects are off, and a redirect
 * is followed by hand only when its scheme, host and port equal VAULT_ADDR's.
 */
#include "secrets/vault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"
#include "version.h"

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
    const struct secrets_log *log;

    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

    pthread_mutex_t pool_lock;
    CURL *pool[MAX_POOLED_HANDLES];
    unsigned pooled;

    atomic_bool aborting; /* shutting down: transfers and retry waits stop at once */
};

void vault_http_abort(struct vault_http *h)
{
    atomic_store(&h->aborting, true);
}

/* libcurl calls this about once a second and on progress; non-zero aborts the transfer. */
static int on_progress(void *ptr, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&((struct vault_http *)ptr)->aborting) ? 1 : 0;
}

/* ---- share locks ---- */

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ptr)
{
    (void)handle;
    (void)access;
    struct vault_http *h = ptr;
    pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ptr)
{
    (void)handle;
    struct vault_http *h = ptr;
    pthread_mutex_unlock(&h->share_locks[data]);
}

/* ---- handle pool ---- */

static CURL *handle_get(struct vault_http *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->pool_lock);
    if (h->pooled) {
        c = h->pool[--h->pooled];
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (c) {
        curl_easy_reset(c); /* options back to defaults; the live connection stays */
        return c;
    }
    return curl_easy_init();
}

static void handle_put(struct vault_http *h, CURL *c)
{
    pthread_mutex_lock(&h->pool_lock);
    if (h->pooled < MAX_POOLED_HANDLES) {
        h->pool[h->pooled++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (c) {
        curl_easy_cleanup(c);
    }
}

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
        secrets_logf(h->log, SECRETS_LOG_WARN,
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

static int share_setup(struct vault_http *h, struct err *err)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&h->share_locks[i], NULL);
    }
    h->share = curl_share_init();
    if (!h->share ||
        curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        return err_set(err, ERR_INTERNAL, NULL, "cannot set up the libcurl share handle");
    }
    return 0;
}

struct vault_http *vault_http_create(const struct secrets_settings *s,
                                     const struct secrets_log *log, struct err *err)
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
    pthread_mutex_init(&h->pool_lock, NULL);
    int rc = share_setup(h, err);
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
        secrets_logf(log, SECRETS_LOG_WARN,
                     "VAULT_SKIP_VERIFY is set: the vault's TLS certificate is NOT verified, so "
                     "anyone on the path can impersonate it and collect the token");
    }
    if (rc) {
        vault_http_destroy(h);
        return NULL;
    }
    return h;
}

void vault_http_destroy(struct vault_http *h)
{
    if (!h) {
        return;
    }
    for (unsigned i = 0; i < h->pooled; i++) {
        curl_easy_cleanup(h->pool[i]);
    }
    if (h->share) {
        curl_share_cleanup(h->share);
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_destroy(&h->share_locks[i]);
    }
    pthread_mutex_destroy(&h->pool_lock);
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

/* ---- one attempt ---- */

struct body_sink {
    struct sbuf *body;
    bool too_large;
};

/* Grow the body buffer ourselves: realloc() would free the old block (secret bytes and all)
 * without wiping it. After this, sbuf_addn() has the room and does not reallocate. */
static int body_reserve(struct sbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }
    if (cap > LIMIT_VAULT_RESPONSE + 1) {
        cap = LIMIT_VAULT_RESPONSE + 1;
    }
    char *p = malloc(cap);
    if (!p) {
        return -1;
    }
    if (b->len) {
        memcpy(p, b->buf, b->len + 1);
    }
    mem_wipe(b->buf, b->cap);
    free(b->buf);
    b->buf = p;
    b->cap = cap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ptr)
{
    struct body_sink *sink = ptr;
    size_t n = size * nmemb;
    if (sbuf_len(sink->body) + n > LIMIT_VAULT_RESPONSE) {
        sink->too_large = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (body_reserve(sink->body, n) || sbuf_addn(sink->body, data, n)) {
        return 0;
    }
    return n;
}

static void headers_free(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next) {
        mem_wipe(l->data, strlen(l->data)); /* the token header */
    }
    curl_slist_free_all(list);
}

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
            headers_free(list);
            return NULL;
        }
        list = next;
    }
    if (req->token) {
        struct sbuf t;
        sbuf_init(&t, 8192);
        if (sbuf_add(&t, "X-Vault-Token: ") || sbuf_add(&t, req->token)) {
            headers_free(list);
            return NULL;
        }
        next = curl_slist_append(list, sbuf_str(&t));
        sbuf_free_secret(&t);
        if (!next) {
            headers_free(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

static void set_tls(const struct vault_http *h, CURL *c)
{
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

struct attempt {
    CURLcode code;
    char errbuf[CURL_ERROR_SIZE];
    bool too_large;
    char *location; /* absolute redirect target (malloc) */
};

static void perform(struct vault_http *h, const char *url, const struct vault_req *req,
                    struct curl_slist *headers, unsigned timeout_ms, struct vault_resp *resp,
                    struct attempt *at)
{
    CURL *c = handle_get(h);
    memset(at, 0, sizeof(*at));
    if (!c) {
        at->code = CURLE_OUT_OF_MEMORY;
        return;
    }
    struct body_sink sink = {&resp->body, false};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_http ? "http,https" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(h->connect_timeout_ms < timeout_ms ? h->connect_timeout_ms
                                                               : timeout_ms));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ocirender/" OCIRENDER_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, at->errbuf);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LIMIT_VAULT_RESPONSE);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    }
    set_tls(h, c);
    at->code = curl_easy_perform(c);
    at->too_large = sink.too_large || at->code == CURLE_FILESIZE_EXCEEDED;
    if (at->code == CURLE_OK) {
        char *ct = NULL, *loc = NULL;
        curl_off_t ra = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        resp->json = ct && str_has_prefix(ct, "application/json");
        if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
            resp->retry_after = ra > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : (unsigned)ra;
        }
        if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
            at->location = str_dup(loc);
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    handle_put(h, c);
}

/* ---- retry policy ---- */

static bool status_retryable(long status)
{
    return status == 412 || status == 429 || (status >= 500 && status <= 599 && status != 501);
}

static bool transport_retryable(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
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

/* A retry wait, in slices so that shutting down (vault_http_abort) does not wait it out. */
static void sleep_ms(const struct vault_http *h, unsigned ms)
{
    while (ms && !atomic_load(&h->aborting)) {
        unsigned slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)slice * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= slice;
    }
}

static unsigned backoff_ms(const struct vault_http *h, unsigned retry_after)
{
    if (retry_after) {
        return retry_after * 1000u;
    }
    unsigned span = h->wait_max_ms - h->wait_min_ms;
    return h->wait_min_ms + (span ? secrets_jitter() % (span + 1) : 0);
}

/* The final transport failure as an error. */
static int transport_error(const struct vault_http *h, const struct attempt *at, bool deadline,
                           const char *what, struct err *err)
{
    char detail[CURL_ERROR_SIZE];
    printable(detail, sizeof(detail), at->errbuf[0] ? at->errbuf : curl_easy_strerror(at->code));
    if (at->too_large) {
        return err_set(err, ERR_SECRET_BACKEND, NULL,
                       "%s: the vault's answer is larger than %u bytes", what,
                       LIMIT_VAULT_RESPONSE);
    }
    if (at->code == CURLE_OPERATION_TIMEDOUT && deadline) {
        return err_set(err, ERR_SECRET_TIMEOUT, NULL,
                       "%s: the vault at %s did not answer within %u ms", what, h->origin,
                       h->timeout_ms);
    }
    if (tls_trust_failure(at->code)) {
        return err_set(err, ERR_SECRET_BACKEND, NULL,
                       "%s: TLS verification of the vault at %s failed: %s (check "
                       "VAULT_CACERT/VAULT_CAPATH)",
                       what, h->origin, detail);
    }
    if (transport_retryable(at->code)) {
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

/* Decide what to do with a redirect: follow (same origin, *url replaced) or refuse. */
static int redirect(const struct vault_http *h, struct attempt *at, char **url, const char *what,
                    struct err *err)
{
    char *target = at->location ? url_origin(at->location) : NULL;
    if (target && strcmp(target, h->origin) == 0) {
        free(target);
        free(*url);
        *url = at->location;
        at->location = NULL;
        return 0;
    }
    char shown[128];
    printable(shown, sizeof(shown), target ? target : "(no usable Location)");
    free(target);
    secrets_logf(h->log, SECRETS_LOG_WARN,
                 "%s: the vault redirected to another origin (%s); not followed, so the token "
                 "is never sent there",
                 what, shown);
    return err_set(err, ERR_SECRET_BACKEND, NULL,
                   "%s: the vault at %s redirected to another origin (%s); not followed so the "
                   "vault token stays with the vault",
                   what, h->origin, shown);
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

int vault_http_do(struct vault_http *h, const struct vault_req *req, const char *what,
                  struct vault_resp *resp, struct err *err)
{
    memset(resp, 0, sizeof(*resp));
    sbuf_init(&resp->body, LIMIT_VAULT_RESPONSE);
    unsigned budget = req->timeout_ms ? req->timeout_ms : h->timeout_ms;
    unsigned retries = req->max_retries >= 0 ? (unsigned)req->max_retries : h->max_retries;
    uint64_t start = secrets_now_ms(), deadline = start + budget;
    struct curl_slist *headers = headers_build(h, req);
    char *url = url_for(h, req->path);
    if (!headers || !url) {
        headers_free(headers);
        free(url);
        return err_nomem(err);
    }
    int rc = -1;
    unsigned redirects = 0, failures = 0;
    for (;;) {
        uint64_t now = secrets_now_ms();
        struct attempt at;
        sbuf_free_secret(&resp->body);
        resp->status = 0;
        resp->retry_after = 0;
        resp->attempts++;
        perform(h, url, req, headers, now < deadline ? (unsigned)(deadline - now) : 1, resp, &at);
        now = secrets_now_ms();
        secrets_logf(h->log, SECRETS_LOG_DEBUG, "vault %s /v1/%s -> %ld%s%s (%lu ms, attempt %u)",
                     req->method, req->path, resp->status, at.code ? " " : "",
                     at.code ? curl_easy_strerror(at.code) : "",
                     (unsigned long)(now - start), resp->attempts);
        bool retry;
        if (at.code == CURLE_OK && resp->status >= 300 && resp->status < 400 && at.location) {
            if (++redirects > MAX_REDIRECTS) {
                rc = err_set(err, ERR_SECRET_BACKEND, NULL, "%s: too many vault redirects", what);
                free(at.location);
                break;
            }
            rc = redirect(h, &at, &url, what, err);
            free(at.location);
            if (rc) {
                break;
            }
            continue;
        }
        free(at.location);
        if (at.code == CURLE_OK) {
            retry = status_retryable(resp->status);
        } else {
            retry = transport_retryable(at.code) && !at.too_large;
        }
        unsigned wait = retry ? backoff_ms(h, resp->retry_after) : 0;
        if (!retry || failures >= retries || now + wait >= deadline) {
            if (at.code == CURLE_OK) {
                rc = 0;
            } else {
                rc = transport_error(h, &at, now + 5 >= deadline, what, err);
                sbuf_free_secret(&resp->body);
            }
            break;
        }
        failures++;
        secrets_logf(h->log, SECRETS_LOG_INFO, "%s: vault answered %ld%s%s; retry %u/%u in %u ms",
                     what, resp->status, at.code ? ", " : "",
                     at.code ? curl_easy_strerror(at.code) : "", failures, retries, wait);
        sleep_ms(h, wait);
    }
    headers_free(headers);
    free(url);
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
