#ifndef OCIRENDER_SERVER_CONNS_H
#define OCIRENDER_SERVER_CONNS_H

/*
 * Connection bookkeeping that libmicrohttpd 0.9.75 does not do for us:
 *  - a per-client-address connection cap that exempts trusted proxies (MHD's own
 *    MHD_OPTION_PER_IP_CONNECTION_LIMIT cannot, and behind a load balancer every connection
 *    comes from the balancer);
 *  - total deadlines for a request's headers and for its body. MHD only knows an idle
 *    timeout, which a client sending one byte every few seconds never reaches.
 *
 * A connection past its deadline is cut with shutdown(2) on its socket from the sweeper
 * thread: libmicrohttpd's worker then sees the end of the stream and closes the connection
 * itself, so nothing is freed behind its back. The fd cannot be reused meanwhile: entries are
 * removed under the table lock in the CLOSED notification, before MHD closes the socket.
 *
 * Thread-safety: every function takes the table lock.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/compiler.h"
#include "common/err.h"

#define CONNS_TRUSTED_MAX 32

/* Trusted proxy addresses: "10.0.0.1,10.1.0.0/16,::1". */
struct trusted_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
};
struct trusted_set {
    struct trusted_net nets[CONNS_TRUSTED_MAX];
    size_t n;
};
int conns_trusted_parse(const char *text, struct trusted_set *out, struct err *err) WARN_UNUSED;
bool conns_trusted_has(const struct trusted_set *set, const struct sockaddr *sa);

enum conn_phase {
    CONN_HEADERS, /* waiting for a request's headers: the header deadline runs */
    CONN_BODY,    /* reading a request body: the body deadline runs */
    CONN_WORKING, /* handling or answering: no deadline of ours */
};

struct conns_options {
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned per_ip_max; /* 0: no cap */
    struct trusted_set trusted;
};

struct conns;
struct conn;

struct conns *conns_create(const struct conns_options *o);
void conns_destroy(struct conns *t);

/* The accept policy: false when the address already holds its share of connections. */
bool conns_accept_ok(struct conns *t, const struct sockaddr *sa);
/* A connection was accepted (phase HEADERS). NULL when out of memory (then not tracked). */
struct conn *conns_opened(struct conns *t, int fd, const struct sockaddr *sa);
/*
 * It closed: forget it. Returns the reason it was cut ("header_timeout", "body_timeout") or
 * NULL. *orphan is true when bytes arrived after the last request ended (or since the
 * connection opened) but no request line was recognised: the client sent something
 * libmicrohttpd refused before our first callback (a malformed request line, an unsupported
 * HTTP version), or it was cut while still sending it. Plain TCP only: on TLS connections the
 * handshake bytes would count.
 */
const char *conns_closed(struct conns *t, struct conn *c, bool tls, bool *orphan);
/* A request line arrived on it. */
void conns_request_seen(struct conns *t, struct conn *c);
/* Enter a phase (and its deadline). A cut connection stays as it is. */
void conns_set_phase(struct conns *t, struct conn *c, enum conn_phase phase);
/* Why the sweeper cut it, or NULL. */
const char *conns_cut_reason(struct conns *t, const struct conn *c);
/* Cut every connection past its deadline; returns how many. */
size_t conns_sweep(struct conns *t);

#endif
