#ifndef OCIRENDER_SERVER_HTTPD_H
#define OCIRENDER_SERVER_HTTPD_H

/*
 * The libmicrohttpd daemon (0.9.75, GnuTLS inside) and everything per connection: routing,
 * mTLS and bearer-token checks, bounded bodies (413 as soon as Content-Length passes
 * --max-body; a streamed body is no longer buffered once it passes and gets 413 when it ends,
 * or the connection is dropped if the client keeps sending far beyond), request ids, the
 * access log and request metrics. Handlers (handlers/) do the rest.
 *
 * Threading: a fixed pool of internal polling threads (MHD_OPTION_THREAD_POOL_SIZE), each with
 * its own event loop. Handlers run on those workers and never wait for the vault: a render
 * whose secrets are not at hand suspends its connection (MHD_suspend_connection) and is
 * resumed by the secrets thread that finishes the fetch, or by the sweeper thread at its
 * deadline (ARCHITECTURE.md, "Waiting for the vault"). The sweeper also enforces the header
 * and body deadlines (server/conns.h).
 * httpd_quiesce()/httpd_stop() are called from the main (signal) thread, never from a handler.
 *
 * Event loop: poll(2) by default (MHD_USE_POLL_INTERNAL_THREAD). libmicrohttpd 0.9.75's epoll
 * mode (MHD_USE_EPOLL_INTERNAL_THREAD, edge-triggered) loses connections when a burst of
 * ~128-256 clients connects at once: their requests sit unread in the socket buffers until the
 * connection timeout, with every worker idle in epoll_wait. A 20-line libmicrohttpd program
 * shows it too (docs/drafts/server.md); poll mode never did in hundreds of bursts. --event-loop
 * epoll selects epoll for a libmicrohttpd without that bug.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"
#include "common/err.h"
#include "server/conns.h"

struct auth_store;
struct handler_app;
struct metrics;

/* Per-connection memory pool: headers plus read buffer. 10 000 headers do not fit: such a
 * request gets libmicrohttpd's own 431 and the connection is closed. */
#define HTTPD_CONNECTION_MEMORY (32u << 10)
/* A body past --max-body is read and dropped up to this much more, so the client can still
 * see the 413 (closing on an arriving body resets the connection); a client that keeps
 * sending beyond is disconnected, and a larger Content-Length is answered before the body. */
#define HTTPD_BODY_DRAIN_MAX (8u << 20)

enum httpd_event_loop { HTTPD_LOOP_POLL = 0, HTTPD_LOOP_EPOLL = 1 };

struct httpd_options {
    enum httpd_event_loop event_loop;
    int listen_fd; /* bound and listening; the daemon owns it from httpd_start() on */
    unsigned threads;
    unsigned connection_timeout;
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no cap; trusted proxies are never capped */
    unsigned header_timeout;         /* seconds a request's headers may take in total */
    unsigned body_timeout;           /* seconds its body may take in total */
    struct trusted_set trusted;      /* --trusted-proxies */
    size_t max_body;
    /* PEM texts, borrowed until httpd_stop(); NULL for plain HTTP */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca; /* clients must present a certificate these CAs signed */
    struct auth_store *auth;   /* NULL: no bearer tokens (loopback or --insecure-no-auth) */
    struct handler_app *app;
    struct metrics *metrics;
    bool bench_route; /* enable POST /bench/static */
};

struct httpd;

struct httpd *httpd_start(const struct httpd_options *o, struct err *err) WARN_UNUSED;
/* Stop accepting connections; in-flight requests and open connections continue. */
void httpd_quiesce(struct httpd *h);
/* Requests between their headers and their completion. */
unsigned long long httpd_inflight(const struct httpd *h);
/* Close every connection and stop the workers; frees `h`. */
void httpd_stop(struct httpd *h);

/* "libmicrohttpd 0.9.75" */
const char *httpd_library_version(void);

#endif
