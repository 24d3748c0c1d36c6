#include "server/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/strutil.h"

/* Split "host:port" or "[v6]:port" into host and port texts. */
static int split_host_port(const char *text, char *host, size_t host_len, const char **port)
{
    const char *colon;
    const char *h = text;
    size_t n;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            return -1;
        }
        h = text + 1;
        n = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text))) {
            return -1; /* a bare IPv6 address needs brackets */
        }
        n = (size_t)(colon - text);
    }
    if (n == 0 || n >= host_len || !colon[1]) {
        return -1;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

int net_parse_listen(const char *text, struct listen_addr *out, struct err *err)
{
    char host[256];
    const char *port;
    uint32_t port_num;
    if (!text || split_host_port(text, host, sizeof(host), &port) || str_to_u32(port, &port_num) ||
        port_num > 65535) {
        return err_set(err, ERR_USAGE, "listen",
                       "--listen must be HOST:PORT or [IPV6]:PORT, got '%s'", text ? text : "");
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        return err_set(err, ERR_USAGE, "listen", "cannot resolve --listen host '%s': %s", host,
                       gai_strerror(rc));
    }
    memset(out, 0, sizeof(*out));
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    out->port = port_num;
    freeaddrinfo(res);
    const void *raw = out->ss.ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)&out->ss)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)&out->ss)->sin_addr;
    if (!inet_ntop(out->ss.ss_family, raw, out->host, sizeof(out->host))) {
        snprintf(out->host, sizeof(out->host), "%s", "?");
    }
    return 0;
}

bool net_is_loopback(const struct listen_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(in6->s6_addr, v4mapped, sizeof(v4mapped)) == 0) {
            return in6->s6_addr[12] == 127;
        }
        return memcmp(in6, &in6addr_loopback, sizeof(*in6)) == 0;
    }
    return false;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int net_listen(struct listen_addr *a, struct err *err)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return err_set(err, ERR_IO, "listen", "socket: %s", strerror(errno));
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
        int e = errno;
        close(fd);
        return err_set(err, ERR_IO, "listen", "setsockopt: %s", strerror(e));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        int e = errno;
        close(fd);
        err_set(err, ERR_IO, "listen", "cannot listen on %s:%u: %s", a->host, a->port, strerror(e));
        err->sys_errno = e;
        return -1;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, ERR_IO, "listen", "listen: %s", strerror(e));
    }
    a->port = bound_port(fd);
    return fd;
}
