#ifndef OCIRENDER_SERVER_NET_H
#define OCIRENDER_SERVER_NET_H

/*
 * The listening socket. ocirenderd binds it itself (and hands it to libmicrohttpd) so bind
 * errors are reported clearly, port 0 works (the log line tells the port chosen), and the
 * loopback-only rule for servers without authentication is checked on the real address.
 */

#include <stdbool.h>
#include <sys/socket.h>

#include "common/compiler.h"
#include "common/err.h"

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char host[64]; /* numeric, for logs */
    unsigned port;
};

/* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", "0.0.0.0:0". Names are resolved once
 * (first address). 0, or -1 with ERR_USAGE. */
int net_parse_listen(const char *text, struct listen_addr *out, struct err *err) WARN_UNUSED;

/* 127.0.0.0/8, ::1 and IPv4-mapped 127.x. */
bool net_is_loopback(const struct listen_addr *a);

/* A non-blocking, close-on-exec listening socket; `a->port` is updated with the port bound
 * (for port 0). The fd, or -1 with ERR_IO. */
int net_listen(struct listen_addr *a, struct err *err) WARN_UNUSED;

#endif
