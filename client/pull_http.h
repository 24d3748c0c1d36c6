#ifndef OCIRENDER_CLIENT_PULL_HTTP_H
#define OCIRENDER_CLIENT_PULL_HTTP_H

/*
 * The HTTP side of `ocirender pull`: one POST /render through the project's retrying client
 * (common/httpc.h), retried with bounded exponential backoff on transport failures and on
 * 503/429 (honouring Retry-After). A render is a pure function of the request, so repeating
 * it is safe. Retry notices go to stderr unless quiet.
 *
 * Call curl_global_init() once before, curl_global_cleanup() after (the CLI does it in
 * cmd_pull). One easy handle per call, kept across its retries.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct pull_http_opts {
    const char *url;        /* full render URL (pull_render_url) */
    const char *token;      /* bearer token, or NULL */
    const char *cacert;     /* CA bundle for HTTPS, or NULL for the system store */
    const char *request_id; /* sent as X-Request-Id on every attempt */
    long connect_timeout_ms;
    long timeout_ms;        /* whole attempt */
    unsigned retries;       /* extra attempts after the first */
    unsigned max_wait_s;    /* longest single wait; a longer Retry-After ends the retries */
    bool quiet;             /* no "retrying" notices on stderr */
};

enum pull_outcome {
    PULL_REPLY = 0,     /* an HTTP response (any status) is in the reply */
    PULL_TRANSPORT = 1, /* no usable response: connection, TLS, timeout, oversized body */
    PULL_LOCAL = 2,     /* our side: bad URL, unreadable CA file, out of memory */
};

struct pull_reply {
    long status;
    char *body; /* NUL-terminated; holds secret values: release wipes it */
    size_t len;
    char content_type[128];
    unsigned retry_after; /* seconds the server asked for, 0 if none */
    unsigned attempts;
};

enum pull_outcome pull_http_post(const struct pull_http_opts *o, const char *body, size_t len,
                                 struct pull_reply *reply, struct err *err);
void pull_reply_release(struct pull_reply *reply);

/*
 * The render URL for --server: scheme http or https; "/render" is appended to the path unless
 * it already ends with it; "format=envelope" is added to the query. *loopback tells whether
 * the host is 127.0.0.0/8, ::1 or localhost. New heap string in *out, or -1 with err.
 */
int pull_render_url(const char *server, char **out, bool *https, bool *loopback,
                    struct err *err);

#endif
