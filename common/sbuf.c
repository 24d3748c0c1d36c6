#define _DEFAULT_SOURCE /* explicit_bzero */
#include "common/sbuf.h"

#include <assert.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define SBUF_MAGIC 0x5b0f5b0fu
#define SBUF_MIN_CAP 64

void sbuf_init(struct sbuf *b, size_t max)
{
    b->buf = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->magic = SBUF_MAGIC;
    b->secret = false;
}

void sbuf_init_secret(struct sbuf *b, size_t max)
{
    sbuf_init(b, max);
    b->secret = true;
}

void sbuf_free(struct sbuf *b)
{
    if (b->secret) {
        mem_wipe(b->buf, b->cap);
    }
    free(b->buf);
    b->buf = NULL;
    b->len = 0;
    b->cap = 0;
}

void mem_wipe(void *p, size_t n)
{
    if (p && n) {
        explicit_bzero(p, n);
    }
}

void sbuf_free_secret(struct sbuf *b)
{
    mem_wipe(b->buf, b->cap);
    sbuf_free(b);
}

/* Secret mode: a fresh block, the old one wiped before it is freed. */
static char *realloc_wiped(char *old, size_t used, size_t old_cap, size_t cap)
{
    char *p = malloc(cap);
    if (p && used) {
        memcpy(p, old, used);
    }
    if (p) {
        mem_wipe(old, old_cap);
        free(old);
    }
    return p;
}

static int sbuf_grow(struct sbuf *b, size_t extra)
{
    assert(b->magic == SBUF_MAGIC);
    if (extra > b->max || b->len > b->max - extra) {
        sbuf_free(b);
        return ERR_TOO_LARGE;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : SBUF_MIN_CAP;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    char *p = b->secret ? realloc_wiped(b->buf, b->len + (b->buf != NULL), b->cap, cap)
                        : realloc(b->buf, cap);
    if (!p) {
        sbuf_free(b);
        return ERR_NOMEM;
    }
    b->buf = p;
    b->cap = cap;
    return 0;
}

int sbuf_reserve(struct sbuf *b, size_t n)
{
    return sbuf_grow(b, n);
}

int sbuf_addn(struct sbuf *b, const char *s, size_t n)
{
    int rc = sbuf_grow(b, n);
    if (rc) {
        return rc;
    }
    if (n) {
        memcpy(b->buf + b->len, s, n);
    }
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

int sbuf_add(struct sbuf *b, const char *s)
{
    return sbuf_addn(b, s, strlen(s));
}

int sbuf_addc(struct sbuf *b, char c)
{
    return sbuf_addn(b, &c, 1);
}

int sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sbuf_free(b);
        return ERR_INTERNAL;
    }
    int rc = sbuf_grow(b, (size_t)n);
    if (rc) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *sbuf_str(const struct sbuf *b)
{
    return b->buf ? b->buf : "";
}

size_t sbuf_len(const struct sbuf *b)
{
    return b->len;
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
    char *p = b->buf;
    if (!p) {
        p = calloc(1, 1);
    }
    if (len) {
        *len = b->len;
    }
    b->buf = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void sbuf_truncate(struct sbuf *b, size_t len)
{
    if (b->buf && len < b->len) {
        if (b->secret) {
            mem_wipe(b->buf + len, b->len - len);
        }
        b->len = len;
        b->buf[len] = '\0';
    }
}
