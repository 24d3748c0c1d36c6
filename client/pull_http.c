#include "client/pull_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/httpc.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"

#define BACKOFF_FIRST_MS 500
#define ENVELOPE_MEDIA_TYPE "application/vnd.ocirender.envelope+json"

/* ---- URL ---- */

static bool host_is_loopback(const char *host)
{
    return str_eq_nocase(host, "localhost") || str_has_prefix(host, "127.") ||
           str_eq(host, "[::1]") || str_eq(host, "::1");
}

/* path + "/render" unless it already ends with "/render". */
static char *render_path(const char *path)
{
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/') {
        n--;
    }
    static const char suffix[] = "/render";
    bool has = n >= sizeof(suffix) - 1 && strncmp(path + n - (sizeof(suffix) - 1), suffix,
                                                  sizeof(suffix) - 1) == 0;
    size_t total = n + (has ? 0 : sizeof(suffix) - 1) + 1;
    char *out = malloc(total);
    if (out) {
        snprintf(out, total, "%.*s%s", (int)n, path, has ? "" : suffix);
    }
    return out;
}

int pull_render_url(const char *server, char **out, bool *https, bool *loopback,
                    struct err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *path = NULL, *url = NULL, *newpath = NULL;
    int rc = -1;
    if (!u) {
        return err_nomem(err);
    }
    if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        err_set(err, ERR_USAGE, "--server", "'%s' is not a valid URL (expected "
                "https://HOST[:PORT] or http://HOST[:PORT])", server);
        goto out;
    }
    if (!str_eq_nocase(scheme, "https") && !str_eq_nocase(scheme, "http")) {
        err_set(err, ERR_USAGE, "--server", "unsupported scheme '%s' (use https or http)",
                scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || !(newpath = render_path(path)) ||
        curl_url_set(u, CURLUPART_PATH, newpath, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_QUERY, "format=envelope", CURLU_APPENDQUERY) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK || !(*out = strdup(url))) {
        err_set(err, ERR_USAGE, "--server", "cannot build the render URL from '%s'", server);
        goto out;
    }
    *https = str_eq_nocase(scheme, "https");
    *loopback = host_is_loopback(host);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(path);
    curl_free(url);
    free(newpath);
    curl_url_cleanup(u);
    return rc;
}

/* ---- the request ---- */

static struct curl_slist *request_headers(const struct pull_http_opts *o)
{
    char auth[4096 + 32], rid[160];
    struct curl_slist *h = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Accept: " ENVELOPE_MEDIA_TYPE,
                           "Expect:"};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        if (!(t = curl_slist_append(h, fixed[i]))) {
            goto fail;
        }
        h = t;
    }
    if (o->request_id) {
        snprintf(rid, sizeof(rid), "X-Request-Id: %s", o->request_id);
        if (!(t = curl_slist_append(h, rid))) {
            goto fail;
        }
        h = t;
    }
    if (o->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
        t = curl_slist_append(h, auth);
        mem_wipe(auth, sizeof(auth));
        if (!t) {
            goto fail;
        }
        h = t;
    }
    return h;
fail:
    httpc_headers_free(h);
    return NULL;
}

/* httpc's configure hook: the CA bundle for HTTPS. */
static void set_cacert(CURL *c, void *ctx)
{
    const struct pull_http_opts *o = ctx;
    if (o->cacert) {
        curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
    }
}

/* Errors on our side of the wire: retrying cannot help and the exit code is 1. */
static bool local_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
        return true;
    default:
        return false;
    }
}

/* A render is a pure function of the request: a busy or restarting server is worth a retry. */
static bool retry_status(long status)
{
    return status == 503 || status == 429;
}

/* Exponential backoff from 500 ms, +-25% jitter, no wait past --max-wait; a longer Retry-After
 * ends the retries (coming back sooner than asked would not help). */
static void policy_init(const struct pull_http_opts *o, const struct log_hook *log,
                        struct httpc_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->retries = o->retries;
    p->wait_min_ms = BACKOFF_FIRST_MS - BACKOFF_FIRST_MS / 4;
    p->wait_max_ms = BACKOFF_FIRST_MS + BACKOFF_FIRST_MS / 4;
    p->doubling = true;
    p->wait_cap_ms = o->max_wait_s ? o->max_wait_s * 1000u : 1;
    p->retry_after_cap_s = o->max_wait_s;
    p->long_retry_after_stops = true;
    p->retry_status = retry_status;
    p->log = o->quiet ? NULL : log;
    p->peer = "the server";
}

void pull_reply_release(struct pull_reply *reply)
{
    if (reply->body) {
        mem_wipe(reply->body, reply->len);
        free(reply->body);
    }
    memset(reply, 0, sizeof(*reply));
}

static enum pull_outcome transport_outcome(const struct pull_http_opts *o,
                                           const struct httpc_reply *r, struct err *err)
{
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code);
    if (r->too_large) {
        err_set(err, ERR_TOO_LARGE, o->url, "the response is larger than %u bytes",
                (unsigned)LIMIT_FILE_READ);
        return PULL_TRANSPORT;
    }
    if (local_failure(r->code)) {
        err_set(err, ERR_USAGE, o->url, "%s", why);
        return PULL_LOCAL;
    }
    err_set(err, ERR_IO, o->url, "%s%s", why, r->attempts > 1 ? " (after retries)" : "");
    return PULL_TRANSPORT;
}

enum pull_outcome pull_http_post(const struct pull_http_opts *o, const char *body, size_t len,
                                 struct pull_reply *reply, struct err *err)
{
    memset(reply, 0, sizeof(*reply));
    struct httpc *client = httpc_create(1); /* one handle: retries reuse its connection */
    struct curl_slist *headers = request_headers(o);
    if (!client || !headers) {
        httpc_headers_free(headers);
        httpc_destroy(client);
        err_set(err, ERR_NOMEM, NULL, "cannot set up the HTTP client");
        return PULL_LOCAL;
    }
    struct httpc_request rq = {
        .url = o->url,
        .headers = headers,
        .body = body,
        .body_len = len,
        .protocols = "http,https",
        .connect_timeout_ms = (unsigned)o->connect_timeout_ms,
        .timeout_ms = (unsigned)o->timeout_ms,
        .max_body = LIMIT_FILE_READ,
        .configure = set_cacert,
        .ctx = (void *)(uintptr_t)o,
    };
    struct log_hook log = {log_hook_stderr, NULL, LOG_INFO};
    struct httpc_policy policy;
    policy_init(o, &log, &policy);
    struct httpc_reply r;
    enum pull_outcome outcome = PULL_REPLY;
    if (httpc_send(client, &rq, &policy, &r)) {
        outcome = transport_outcome(o, &r, err);
    } else {
        reply->status = r.status;
        reply->retry_after = r.retry_after;
        snprintf(reply->content_type, sizeof(reply->content_type), "%s", r.content_type);
        reply->body = sbuf_take(&r.body, &reply->len); /* pull_reply_release wipes it */
        if (!reply->body) {
            outcome = PULL_LOCAL;
            err_nomem(err);
        }
    }
    reply->attempts = r.attempts;
    httpc_reply_release(&r);
    httpc_headers_free(headers);
    httpc_destroy(client);
    return outcome;
}
