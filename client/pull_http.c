#define _GNU_SOURCE /* getrandom */
#include "client/pull_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "version.h"

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

/* ---- one attempt ---- */

struct sink {
    struct sbuf b;
    bool too_large;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    if (sbuf_addn(&s->b, data, size * n)) {
        s->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return size * n;
}

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
    curl_slist_free_all(h);
    return NULL;
}

static CURLcode configure(CURL *c, const struct pull_http_opts *o, const char *body, size_t len,
                          struct curl_slist *headers, struct sink *sink, char *errbuf)
{
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                        \
    do {                                                                                     \
        if (rc == CURLE_OK) {                                                                \
            rc = curl_easy_setopt(c, opt, val);                                              \
        }                                                                                    \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, o->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* the token must not follow a redirect elsewhere */
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDS, body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_USERAGENT, "ocirender/" OCIRENDER_VERSION);
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, sink);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->cacert) {
        SET(CURLOPT_CAINFO, o->cacert);
    }
#undef SET
    return rc;
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

/* Failures that may go away: the server restarting, a dropped connection, a slow render. */
static bool transient_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Retry-After: delta-seconds or an HTTP date. 0 when absent or in the past. */
static unsigned retry_after_seconds(CURL *c)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h) {
        return 0;
    }
    uint64_t secs;
    if (str_to_u64(h->value, &secs) == 0) {
        return secs > 86400 ? 86400 : (unsigned)secs;
    }
    time_t when = curl_getdate(h->value, NULL);
    time_t now = time(NULL);
    return when > now ? (unsigned)(when - now > 86400 ? 86400 : when - now) : 0;
}

/* Exponential backoff with +-25% jitter so a fleet of nodes does not retry in lockstep. */
static long backoff_ms(unsigned attempt, unsigned max_wait_s)
{
    long ms = BACKOFF_FIRST_MS;
    for (unsigned i = 0; i < attempt && ms < 60000; i++) {
        ms *= 2;
    }
    if (ms > (long)max_wait_s * 1000) {
        ms = (long)max_wait_s * 1000;
    }
    unsigned short r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r)) {
        ms += (ms / 2) * (long)r / 65535 - ms / 4;
    }
    return ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void pull_reply_release(struct pull_reply *reply)
{
    if (reply->body) {
        mem_wipe(reply->body, reply->len);
        free(reply->body);
    }
    memset(reply, 0, sizeof(*reply));
}

static void reset_sink(struct sink *s)
{
    sbuf_free_secret(&s->b);
    sbuf_init(&s->b, LIMIT_FILE_READ);
    s->too_large = false;
}

/* Should this response be retried, and after how long? */
static bool retry_status(const struct pull_http_opts *o, unsigned attempt, long status,
                         unsigned retry_after, long *wait_ms)
{
    if ((status != 503 && status != 429) || attempt >= o->retries) {
        return false;
    }
    if (retry_after > o->max_wait_s) {
        return false; /* honour it: do not come back sooner than asked */
    }
    *wait_ms = retry_after ? (long)retry_after * 1000 : backoff_ms(attempt, o->max_wait_s);
    return true;
}

enum pull_outcome pull_http_post(const struct pull_http_opts *o, const char *body, size_t len,
                                 struct pull_reply *reply, struct err *err)
{
    memset(reply, 0, sizeof(*reply));
    char errbuf[CURL_ERROR_SIZE];
    struct sink sink;
    sbuf_init(&sink.b, LIMIT_FILE_READ);
    sink.too_large = false;
    CURL *c = curl_easy_init();
    struct curl_slist *headers = request_headers(o);
    enum pull_outcome outcome = PULL_LOCAL;
    if (!c || !headers || configure(c, o, body, len, headers, &sink, errbuf) != CURLE_OK) {
        err_set(err, ERR_NOMEM, NULL, "cannot set up the HTTP client");
        goto out;
    }
    for (unsigned attempt = 0;; attempt++) {
        errbuf[0] = '\0';
        reset_sink(&sink);
        CURLcode rc = curl_easy_perform(c);
        reply->attempts = attempt + 1;
        long wait = 0;
        if (rc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
            reply->retry_after = retry_after_seconds(c);
            if (retry_status(o, attempt, reply->status, reply->retry_after, &wait)) {
                if (!o->quiet) {
                    fprintf(stderr, "ocirender: the server answered %ld; retrying in %.1f s "
                            "(attempt %u of %u)\n", reply->status, (double)wait / 1000.0,
                            attempt + 2, o->retries + 1);
                }
                sleep_ms(wait);
                continue;
            }
            char *ct = NULL;
            curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
            snprintf(reply->content_type, sizeof(reply->content_type), "%s", ct ? ct : "");
            reply->body = sbuf_take(&sink.b, &reply->len);
            outcome = reply->body ? PULL_REPLY : PULL_LOCAL;
            if (!reply->body) {
                err_nomem(err);
            }
            goto out;
        }
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        if (sink.too_large) {
            err_set(err, ERR_TOO_LARGE, o->url, "the response is larger than %u bytes",
                    (unsigned)LIMIT_FILE_READ);
            outcome = PULL_TRANSPORT;
            goto out;
        }
        if (local_failure(rc)) {
            err_set(err, ERR_USAGE, o->url, "%s", why);
            goto out;
        }
        if (!transient_failure(rc) || attempt >= o->retries) {
            err_set(err, ERR_IO, o->url, "%s%s", why,
                    attempt ? " (after retries)" : "");
            outcome = PULL_TRANSPORT;
            goto out;
        }
        wait = backoff_ms(attempt, o->max_wait_s);
        if (!o->quiet) {
            fprintf(stderr, "ocirender: %s; retrying in %.1f s (attempt %u of %u)\n", why,
                    (double)wait / 1000.0, attempt + 2, o->retries + 1);
        }
        sleep_ms(wait);
    }
out:
    sbuf_free_secret(&sink.b);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return outcome;
}
