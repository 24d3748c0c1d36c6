#ifndef OCIRENDER_COMMON_HTTPC_H
#define OCIRENDER_COMMON_HTTPC_H

/*
 * The project's one retrying HTTP client over libcurl; the vault provider (secrets/vault_http.c)
 * and `ocirender pull` (client/pull_http.c) configure it.
 *
 * libcurl rules kept here: curl_global_init is the process's job, once, before threads; an
 * easy handle is used by one thread at a time. Connection reuse: libcurl 7.88 documents
 * sharing the connection cache between threads (CURL_LOCK_DATA_CONNECT) as unsafe, so a client
 * keeps a free list of easy handles, each with its own live connection (curl_easy_reset keeps
 * it), plus one share handle for the DNS cache and TLS sessions, which are safe to share under
 * the lock callbacks. A `struct httpc` is thread-safe.
 *
 * Retries: a transport failure that may go away (httpc_transient) or a status the caller's
 * policy names is retried after Retry-After (when the server sent one) or a jittered backoff,
 * within a retry count and an optional deadline over all attempts. Redirects are never followed
 * automatically: the caller's judge decides (the vault follows same-origin ones by hand).
 * Response bodies are buffered in secret mode (sbuf): they may hold secret values.
 */

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "common/compiler.h"
#include "common/log.h"
#include "common/sbuf.h"

struct httpc;

/* A client whose free list keeps up to `max_pooled` idle handles. NULL when out of memory or
 * libcurl cannot make the share handle. */
struct httpc *httpc_create(unsigned max_pooled) WARN_UNUSED;
void httpc_destroy(struct httpc *h);
/* Shutting down: transfers in progress and retry waits end at once (thread-safe). */
void httpc_abort(struct httpc *h);

struct httpc_request {
    const char *url;
    struct curl_slist *headers; /* borrowed */
    const char *body;           /* POST body, or NULL for GET */
    size_t body_len;
    const char *protocols;      /* CURLOPT_PROTOCOLS_STR: "https" or "http,https" */
    unsigned connect_timeout_ms;
    unsigned timeout_ms;        /* one attempt (cut to what is left of the deadline) */
    size_t max_body;            /* larger answers fail with too_large */
    /* TLS and other options, applied after the client's own on every attempt. */
    void (*configure)(CURL *c, void *ctx);
    void *ctx;
};

struct httpc_reply {
    CURLcode code;                /* CURLE_OK: an HTTP answer arrived */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail for `code` */
    bool too_large;               /* the answer passed max_body */
    bool deadline;                /* the attempt ran into the policy's deadline */
    long status;
    struct sbuf body;             /* secret mode; release with httpc_reply_release */
    char content_type[128];
    unsigned retry_after;         /* seconds (delta or HTTP date), 0 if none */
    char *location;               /* absolute redirect target for 3xx (malloc), or NULL */
    unsigned attempts;
};

enum httpc_verdict {
    HTTPC_DONE,  /* return this answer */
    HTTPC_RETRY, /* a failure worth another attempt, subject to the policy */
    HTTPC_AGAIN, /* send again at once, not counted as a failure (a followed redirect) */
};

struct httpc_policy {
    unsigned retries;           /* extra attempts after the first */
    unsigned wait_min_ms;       /* the first wait is drawn from [wait_min_ms, wait_max_ms] */
    unsigned wait_max_ms;
    bool doubling;              /* each further wait doubles both bounds */
    unsigned wait_cap_ms;       /* no backoff wait is longer (0: no cap) */
    unsigned retry_after_cap_s; /* a longer Retry-After is cut to this... */
    bool long_retry_after_stops; /* ...or, when set, ends the retries (honour it, do not cut) */
    unsigned budget_ms;         /* every attempt and wait together (0: no deadline) */
    bool (*retry_status)(long status); /* statuses worth a retry; NULL: none */
    /* Optional: the last word on an answer or failure, after the default verdict. */
    enum httpc_verdict (*judge)(void *ctx, struct httpc_request *rq, struct httpc_reply *r,
                                enum httpc_verdict verdict);
    void *judge_ctx;
    /* Retry notices go here at LOG_INFO, each attempt at LOG_DEBUG. */
    const struct log_hook *log;
    const char *what;           /* names the request in notices ("secret shop/db"), or NULL */
    const char *label;          /* the request in attempt lines ("vault GET /v1/..."), or NULL */
    const char *peer;           /* "the vault", "the server": notices */
};

/*
 * Send `rq` until an answer is final (see above). 0 when the reply holds an HTTP answer (any
 * status: the caller maps it); -1 when the last attempt failed in transport (reply->code,
 * errbuf, too_large, deadline tell why). Either way release the reply.
 */
int httpc_send(struct httpc *h, struct httpc_request *rq, const struct httpc_policy *p,
               struct httpc_reply *reply) NONNULL(1, 2, 3, 4);
void httpc_reply_release(struct httpc_reply *reply) NONNULL(1);

/* curl_slist_free_all, wiping each header first (they carry tokens). NULL is fine. */
void httpc_headers_free(struct curl_slist *list);

/* Failures that may go away: the peer restarting, a dropped connection, a slow answer. */
bool httpc_transient(CURLcode code);

/* The wait before retry number `failures` (0 for the first) under the policy's backoff. */
unsigned httpc_backoff_ms(const struct httpc_policy *p, unsigned failures);

#endif
