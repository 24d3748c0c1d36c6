#include "common/httpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/strutil.h"
#include "version.h"

#define MAX_POOL 64
#define RETRY_AFTER_MAX_S 86400 /* a day: anything longer is not a retry hint */

struct httpc {
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *pool[MAX_POOL];
    unsigned pooled, max_pooled;
    atomic_bool aborting; /* httpc_abort: transfers and retry waits end at once */
};

void httpc_abort(struct httpc *h)
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
    return atomic_load(&((struct httpc *)ptr)->aborting) ? 1 : 0;
}

/* A retry wait in slices, so that httpc_abort does not have to wait it out. */
static void wait_unless_aborted(struct httpc *h, unsigned ms)
{
    while (ms && !atomic_load(&h->aborting)) {
        unsigned slice = ms < 50 ? ms : 50;
        clock_sleep_ms(slice);
        ms -= slice;
    }
}

/* ---- share handle and pool ---- */

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ptr)
{
    (void)handle;
    (void)access;
    struct httpc *h = ptr;
    pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ptr)
{
    (void)handle;
    struct httpc *h = ptr;
    pthread_mutex_unlock(&h->share_locks[data]);
}

static bool share_setup(struct httpc *h)
{
    h->share = curl_share_init();
    return h->share &&
           curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) == CURLSHE_OK &&
           curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) == CURLSHE_OK &&
           curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) == CURLSHE_OK &&
           curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK &&
           curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) == CURLSHE_OK;
}

struct httpc *httpc_create(unsigned max_pooled)
{
    struct httpc *h = calloc(1, sizeof(*h));
    if (!h) {
        return NULL;
    }
    h->max_pooled = max_pooled < MAX_POOL ? max_pooled : MAX_POOL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&h->share_locks[i], NULL);
    }
    pthread_mutex_init(&h->pool_lock, NULL);
    if (share_setup(h)) {
        return h;
    }
    httpc_destroy(h);
    return NULL;
}

void httpc_destroy(struct httpc *h)
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
    free(h);
}

static CURL *handle_get(struct httpc *h)
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

static void handle_put(struct httpc *h, CURL *c)
{
    pthread_mutex_lock(&h->pool_lock);
    if (h->pooled < h->max_pooled) {
        h->pool[h->pooled++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->pool_lock);
    if (c) {
        curl_easy_cleanup(c);
    }
}

/* ---- one attempt ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ptr)
{
    struct httpc_reply *r = ptr;
    size_t n = size * nmemb;
    int rc = sbuf_addn(&r->body, data, n);
    if (rc) {
        r->too_large = rc == ERR_TOO_LARGE;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static CURLcode configure(struct httpc *h, CURL *c, const struct httpc_request *rq,
                          unsigned timeout_ms, struct httpc_reply *r)
{
    unsigned connect_ms = rq->connect_timeout_ms && rq->connect_timeout_ms < timeout_ms
                              ? rq->connect_timeout_ms
                              : timeout_ms;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                        \
    do {                                                                                     \
        if (rc == CURLE_OK) {                                                                \
            rc = curl_easy_setopt(c, opt, val);                                              \
        }                                                                                    \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_URL, rq->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, rq->protocols ? rq->protocols : "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L); /* credentials must not follow a redirect elsewhere */
    SET(CURLOPT_SHARE, h->share);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_USERAGENT, "ocirender/" OCIRENDER_VERSION);
    SET(CURLOPT_HTTPHEADER, rq->headers);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, h);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_body);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (rq->body) {
        SET(CURLOPT_POSTFIELDS, rq->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
#undef SET
    if (rc == CURLE_OK && rq->configure) {
        rq->configure(c, rq->ctx);
    }
    return rc;
}

static void read_answer(CURL *c, struct httpc_reply *r)
{
    char *ct = NULL, *loc = NULL;
    curl_off_t ra = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
    /* libcurl reads both forms of Retry-After: delta seconds and an HTTP date. */
    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0) {
        r->retry_after = ra > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (unsigned)ra;
    }
    if (r->status >= 300 && r->status < 400 &&
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
        r->location = str_dup(loc);
    }
}

static void attempt_reset(struct httpc_reply *r)
{
    sbuf_free(&r->body); /* secret mode: wiped */
    free(r->location);
    r->location = NULL;
    r->code = CURLE_OK;
    r->errbuf[0] = '\0';
    r->too_large = false;
    r->deadline = false;
    r->status = 0;
    r->content_type[0] = '\0';
    r->retry_after = 0;
}

static void attempt(struct httpc *h, const struct httpc_request *rq, unsigned timeout_ms,
                    struct httpc_reply *r)
{
    attempt_reset(r);
    r->attempts++;
    CURL *c = handle_get(h);
    if (!c) {
        r->code = CURLE_OUT_OF_MEMORY;
        return;
    }
    r->code = configure(h, c, rq, timeout_ms, r);
    if (r->code == CURLE_OK) {
        r->code = curl_easy_perform(c);
    }
    r->too_large = r->too_large || r->code == CURLE_FILESIZE_EXCEEDED;
    if (r->code == CURLE_OK) {
        read_answer(c, r);
    }
    /* A pooled handle must not keep pointers into this request. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    handle_put(h, c);
}

void httpc_headers_free(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next) {
        mem_wipe(l->data, strlen(l->data));
    }
    curl_slist_free_all(list);
}

/* ---- retry policy ---- */

bool httpc_transient(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static unsigned doubled(unsigned ms, unsigned times, unsigned cap)
{
    for (unsigned i = 0; i < times && ms < cap; i++) {
        ms = ms > cap / 2 ? cap : ms * 2;
    }
    return ms < cap ? ms : cap;
}

unsigned httpc_backoff_ms(const struct httpc_policy *p, unsigned failures)
{
    unsigned cap = p->wait_cap_ms ? p->wait_cap_ms : 3600000u;
    unsigned times = p->doubling ? failures : 0;
    unsigned lo = doubled(p->wait_min_ms, times, cap);
    unsigned hi = doubled(p->wait_max_ms > p->wait_min_ms ? p->wait_max_ms : p->wait_min_ms,
                          times, cap);
    /* Jitter: a fleet of clients that failed together must not come back together. */
    return lo + (hi > lo ? clock_jitter() % (hi - lo + 1) : 0);
}

static enum httpc_verdict default_verdict(const struct httpc_policy *p,
                                          const struct httpc_reply *r)
{
    if (r->code == CURLE_OK) {
        return p->retry_status && p->retry_status(r->status) ? HTTPC_RETRY : HTTPC_DONE;
    }
    return httpc_transient(r->code) && !r->too_large ? HTTPC_RETRY : HTTPC_DONE;
}

/* How long to wait before the next attempt; false when there is to be none. */
static bool next_wait(const struct httpc_policy *p, const struct httpc_reply *r,
                      unsigned failures, uint64_t now, uint64_t deadline, unsigned *wait)
{
    if (failures >= p->retries) {
        return false;
    }
    if (r->retry_after) {
        unsigned s = r->retry_after;
        if (s > p->retry_after_cap_s) {
            if (p->long_retry_after_stops) {
                return false; /* do not come back sooner than asked */
            }
            s = p->retry_after_cap_s;
        }
        *wait = s * 1000u;
    } else {
        *wait = httpc_backoff_ms(p, failures);
    }
    return !deadline || now + *wait < deadline;
}

static void notice(const struct httpc_policy *p, const struct httpc_reply *r, unsigned wait,
                   unsigned failures)
{
    const char *what = p->what ? p->what : "", *sep = p->what ? ": " : "";
    double s = (double)wait / 1000.0;
    unsigned next = failures + 2, all = p->retries + 1;
    if (r->code == CURLE_OK) {
        log_hookf(p->log, LOG_INFO, "%s%s%s answered %ld; retrying in %.1f s (attempt %u of %u)",
                  what, sep, p->peer ? p->peer : "the peer", r->status, s, next, all);
    } else {
        log_hookf(p->log, LOG_INFO, "%s%s%s; retrying in %.1f s (attempt %u of %u)", what, sep,
                  r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code), s, next, all);
    }
}

static unsigned attempt_timeout(const struct httpc_request *rq, uint64_t now, uint64_t deadline)
{
    unsigned timeout = rq->timeout_ms;
    if (deadline) {
        unsigned left = now < deadline ? (unsigned)(deadline - now) : 1;
        if (!timeout || left < timeout) {
            timeout = left;
        }
    }
    return timeout;
}

int httpc_send(struct httpc *h, struct httpc_request *rq, const struct httpc_policy *p,
               struct httpc_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    sbuf_init_secret(&reply->body, rq->max_body);
    uint64_t start = clock_mono_ms(), deadline = p->budget_ms ? start + p->budget_ms : 0;
    for (unsigned failures = 0;;) {
        attempt(h, rq, attempt_timeout(rq, clock_mono_ms(), deadline), reply);
        uint64_t now = clock_mono_ms();
        reply->deadline = deadline && reply->code == CURLE_OPERATION_TIMEDOUT && now + 5 >= deadline;
        log_hookf(p->log, LOG_DEBUG, "%s -> %ld%s%s (%lu ms, attempt %u)",
                  p->label ? p->label : rq->url, reply->status, reply->code ? " " : "",
                  reply->code ? curl_easy_strerror(reply->code) : "",
                  (unsigned long)(now - start), reply->attempts);
        enum httpc_verdict v = default_verdict(p, reply);
        if (p->judge) {
            v = p->judge(p->judge_ctx, rq, reply, v);
        }
        unsigned wait = 0;
        if (v == HTTPC_AGAIN) {
            continue;
        }
        if (v == HTTPC_DONE || !next_wait(p, reply, failures, now, deadline, &wait)) {
            break;
        }
        notice(p, reply, wait, failures);
        failures++;
        wait_unless_aborted(h, wait);
    }
    return reply->code == CURLE_OK ? 0 : -1;
}

void httpc_reply_release(struct httpc_reply *reply)
{
    sbuf_free(&reply->body);
    free(reply->location);
    reply->location = NULL;
}
