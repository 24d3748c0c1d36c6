#include "server/conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received (glibc's is older) */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/strutil.h"

#define IP_BUCKETS 256

struct conn {
    struct conn *prev, *next;
    int fd;
    bool counted; /* holds one unit of its address's count */
    unsigned char key[17]; /* family tag + address: the per-IP count key */
    enum conn_phase phase;
    uint64_t deadline_ms;
    const char *cut;
    bool request_seen; /* a request line arrived since the last HEADERS phase began */
    uint64_t rx_mark;  /* bytes received when the last request ended */
};

/* Bytes the kernel has received on the socket so far (0 when it cannot tell). */
static uint64_t bytes_received(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
        return 0;
    }
    return ti.tcpi_bytes_received;
}

struct ip_count {
    struct ip_count *next;
    unsigned char key[17];
    unsigned n;
};

struct conns {
    pthread_mutex_t lock;
    struct conns_options o;
    struct conn *head;
    struct ip_count *ips[IP_BUCKETS];
};

/* ---- addresses ---- */

/* IPv4-mapped IPv6 addresses count as their IPv4 address. */
static bool address_bytes(const struct sockaddr *sa, int *family, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b =
            ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            *family = AF_INET;
            memcpy(out, b + 12, 4);
        } else {
            *family = AF_INET6;
            memcpy(out, b, 16);
        }
        return true;
    }
    return false;
}

static bool prefix_matches(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, full) != 0) {
        return false;
    }
    if (!rest) {
        return true;
    }
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool conns_trusted_has(const struct trusted_set *set, const struct sockaddr *sa)
{
    int family;
    unsigned char b[16];
    if (!set->n || !address_bytes(sa, &family, b)) {
        return false;
    }
    for (size_t i = 0; i < set->n; i++) {
        if (set->nets[i].family == family && prefix_matches(set->nets[i].addr, b,
                                                            set->nets[i].prefix)) {
            return true;
        }
    }
    return false;
}

static int trusted_one(const char *item, size_t n, struct trusted_net *out, struct err *err)
{
    char text[64];
    if (n == 0 || n >= sizeof(text)) {
        return err_set(err, ERR_USAGE, "trusted-proxies",
                       "'%.*s' is not an address or ADDRESS/PREFIX", (int)(n > 64 ? 64 : n),
                       item);
    }
    memcpy(text, item, n);
    text[n] = '\0';
    char *slash = strchr(text, '/');
    if (slash) {
        *slash = '\0';
    }
    unsigned max;
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, text, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return err_set(err, ERR_USAGE, "trusted-proxies", "'%s' is not an IP address", text);
    }
    uint32_t prefix = max;
    if (slash && (str_to_u32(slash + 1, &prefix) || prefix > max)) {
        return err_set(err, ERR_USAGE, "trusted-proxies", "bad prefix length '/%s' (0 to %u)",
                       slash + 1, max);
    }
    out->prefix = prefix;
    return 0;
}

int conns_trusted_parse(const char *text, struct trusted_set *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = text ? text : ""; *p;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if (!n) {
            break;
        }
        if (out->n == CONNS_TRUSTED_MAX) {
            return err_set(err, ERR_USAGE, "trusted-proxies", "more than %d entries",
                           CONNS_TRUSTED_MAX);
        }
        if (trusted_one(p, n, &out->nets[out->n], err)) {
            return -1;
        }
        out->n++;
        p += n;
    }
    return 0;
}

/* ---- per-address counts (lock held) ---- */

static bool count_key(const struct sockaddr *sa, unsigned char key[17])
{
    int family;
    memset(key, 0, 17);
    if (!address_bytes(sa, &family, key + 1)) {
        return false;
    }
    key[0] = (unsigned char)family;
    return true;
}

static unsigned key_bucket(const unsigned char key[17])
{
    unsigned h = 2166136261u;
    for (int i = 0; i < 17; i++) {
        h = (h ^ key[i]) * 16777619u;
    }
    return h % IP_BUCKETS;
}

static struct ip_count **ip_slot(struct conns *t, const unsigned char key[17])
{
    struct ip_count **pp = &t->ips[key_bucket(key)];
    while (*pp && memcmp((*pp)->key, key, 17) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

/* ---- the table ---- */

struct conns *conns_create(const struct conns_options *o)
{
    struct conns *t = calloc(1, sizeof(*t));
    if (t) {
        t->o = *o;
        pthread_mutex_init(&t->lock, NULL);
    }
    return t;
}

void conns_destroy(struct conns *t)
{
    if (!t) {
        return;
    }
    while (t->head) {
        struct conn *c = t->head;
        t->head = c->next;
        free(c);
    }
    for (size_t b = 0; b < IP_BUCKETS; b++) {
        while (t->ips[b]) {
            struct ip_count *ic = t->ips[b];
            t->ips[b] = ic->next;
            free(ic);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

bool conns_accept_ok(struct conns *t, const struct sockaddr *sa)
{
    unsigned char key[17];
    if (!t->o.per_ip_max || conns_trusted_has(&t->o.trusted, sa) || !count_key(sa, key)) {
        return true;
    }
    pthread_mutex_lock(&t->lock);
    struct ip_count *ic = *ip_slot(t, key);
    bool ok = !ic || ic->n < t->o.per_ip_max;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

struct conn *conns_opened(struct conns *t, int fd, const struct sockaddr *sa)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->fd = fd;
    c->phase = CONN_HEADERS;
    c->deadline_ms = clock_mono_ms() + t->o.header_timeout_ms;
    bool count = t->o.per_ip_max && sa && !conns_trusted_has(&t->o.trusted, sa) &&
                 count_key(sa, c->key);
    pthread_mutex_lock(&t->lock);
    if (count) {
        struct ip_count **pp = ip_slot(t, c->key);
        if (!*pp && (*pp = calloc(1, sizeof(**pp)))) {
            memcpy((*pp)->key, c->key, 17);
        }
        if (*pp) {
            (*pp)->n++;
            c->counted = true;
        }
    }
    c->next = t->head;
    if (t->head) {
        t->head->prev = c;
    }
    t->head = c;
    pthread_mutex_unlock(&t->lock);
    return c;
}

const char *conns_closed(struct conns *t, struct conn *c, bool tls, bool *orphan)
{
    *orphan = false;
    if (!c) {
        return NULL;
    }
    uint64_t rx = tls ? 0 : bytes_received(c->fd);
    pthread_mutex_lock(&t->lock);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        t->head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    if (c->counted) {
        struct ip_count **pp = ip_slot(t, c->key);
        if (*pp && --(*pp)->n == 0) {
            struct ip_count *gone = *pp;
            *pp = gone->next;
            free(gone);
        }
    }
    const char *cut = c->cut;
    /* The peer's FIN takes one sequence number, which Linux counts as a byte received. */
    *orphan = !c->request_seen && (cut || rx > c->rx_mark + 1);
    pthread_mutex_unlock(&t->lock);
    free(c);
    return cut;
}

void conns_request_seen(struct conns *t, struct conn *c)
{
    if (c) {
        pthread_mutex_lock(&t->lock);
        c->request_seen = true;
        pthread_mutex_unlock(&t->lock);
    }
}

void conns_set_phase(struct conns *t, struct conn *c, enum conn_phase phase)
{
    if (!c) {
        return;
    }
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&t->lock);
    if (c->cut) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (phase == CONN_HEADERS) {
        c->request_seen = false;
        c->rx_mark = bytes_received(c->fd);
    }
    c->phase = phase;
    c->deadline_ms = phase == CONN_HEADERS ? now + t->o.header_timeout_ms
                     : phase == CONN_BODY  ? now + t->o.body_timeout_ms
                                           : UINT64_MAX;
    pthread_mutex_unlock(&t->lock);
}

const char *conns_cut_reason(struct conns *t, const struct conn *c)
{
    if (!c) {
        return NULL;
    }
    pthread_mutex_lock(&t->lock);
    const char *cut = c->cut;
    pthread_mutex_unlock(&t->lock);
    return cut;
}

size_t conns_sweep(struct conns *t)
{
    size_t n = 0;
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&t->lock);
    for (struct conn *c = t->head; c; c = c->next) {
        if (c->cut || c->phase == CONN_WORKING || now < c->deadline_ms) {
            continue;
        }
        c->cut = c->phase == CONN_HEADERS ? "header_timeout" : "body_timeout";
        /* The worker sees end-of-stream and closes it; the socket stays ours to touch until
         * the CLOSED notification takes it out of this table. */
        shutdown(c->fd, SHUT_RDWR);
        n++;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}
