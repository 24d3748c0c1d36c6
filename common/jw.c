#include "common/jw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

void jw_init(struct jw *w, struct sbuf *b, bool compact, int depth)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->compact = compact;
    w->depth = depth;
}

/* Most pieces are a few bytes into a buffer that already has room: copy them directly and
 * leave growth, limits and errors to sbuf. (The room test keeps sbuf's invariants: a
 * buffer never holds more than its maximum, and stays NUL-terminated.) */
static void put(struct jw *w, const char *s, size_t n)
{
    struct sbuf *b = w->b;
    if (!w->rc && n < b->cap - b->len) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
    } else if (!w->rc && n) {
        w->rc = sbuf_addn(b, s, n);
    }
}

static void put_indent(struct jw *w, int depth)
{
    static const char line[] = "\n                                                                "
                               "                                                                ";
    if (w->compact) {
        return;
    }
    size_t want = 2 * (size_t)depth;
    size_t n = want < sizeof(line) - 2 ? want : sizeof(line) - 2;
    put(w, line, n + 1);
    for (want -= n; want > 0;) {
        n = want < sizeof(line) - 2 ? want : sizeof(line) - 2;
        put(w, line + 1, n);
        want -= n;
    }
}

/* Separator and indentation before a new member or element of the innermost container. */
static void begin_member(struct jw *w)
{
    if (w->has_members[w->depth]) {
        put(w, ",", 1);
    }
    w->has_members[w->depth] = true;
    put_indent(w, w->depth);
}

static void begin_value(struct jw *w)
{
    if (w->in_array[w->depth]) {
        begin_member(w);
    }
}

static void open_container(struct jw *w, char c, bool array)
{
    begin_value(w);
    put(w, &c, 1);
    if (w->depth >= JW_MAX_DEPTH) {
        w->rc = w->rc ? w->rc : ERR_INTERNAL;
        return;
    }
    w->depth++;
    w->in_array[w->depth] = array;
    w->has_members[w->depth] = false;
}

static void close_container(struct jw *w, char c)
{
    if (w->rc) {
        return;
    }
    bool members = w->has_members[w->depth];
    w->depth--;
    if (members) {
        put_indent(w, w->depth);
    }
    put(w, &c, 1);
}

void jw_object_open(struct jw *w)
{
    open_container(w, '{', false);
}

void jw_object_close(struct jw *w)
{
    close_container(w, '}');
}

void jw_array_open(struct jw *w)
{
    open_container(w, '[', true);
}

void jw_array_close(struct jw *w)
{
    close_container(w, ']');
}

static bool needs_escape(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            return true;
        }
    }
    return false;
}

static void put_string(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    struct sbuf *b = w->b;
    /* Nearly every string is plain text that fits: quote and copy it in one step. */
    if (!w->rc && n + 2 < b->cap - b->len && !needs_escape(s, n)) {
        char *p = b->buf + b->len;
        p[0] = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        p[n + 2] = '\0';
        b->len += n + 2;
        return;
    }
    put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        put(w, s + i - run, run);
        run = 0;
        switch (c) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, u, sizeof(u));
        }
        }
    }
    put(w, s + n - run, run);
    put(w, "\"", 1);
}

void jw_keyn(struct jw *w, const char *key, size_t n)
{
    begin_member(w);
    put_string(w, key, n);
    put(w, ": ", w->compact ? 1 : 2);
}

void jw_stringn(struct jw *w, const char *s, size_t n)
{
    begin_value(w);
    put_string(w, s, n);
}

/* Decimal digits of v, written backwards from the end of buf; returns the first digit. */
static char *digits_of(unsigned long long v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void jw_uint(struct jw *w, unsigned long long v)
{
    char buf[24];
    char *p = digits_of(v, buf + sizeof(buf));
    begin_value(w);
    put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_int(struct jw *w, long long v)
{
    char buf[24];
    unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    char *p = digits_of(mag, buf + sizeof(buf));
    if (v < 0) {
        *--p = '-';
    }
    begin_value(w);
    put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_real(struct jw *w, double d)
{
    jw_real_digits(w, d, 17);
}

void jw_real_digits(struct jw *w, double d, int digits)
{
    if (!isfinite(d) || digits < 1 || digits > 17) {
        w->rc = w->rc ? w->rc : ERR_INTERNAL;
        return;
    }
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.*g", digits, d);
    if (!strpbrk(buf, ".eE")) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    begin_value(w);
    put(w, buf, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
    begin_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
    begin_value(w);
    put(w, "null", 4);
}

void jw_raw(struct jw *w, const char *text, size_t n)
{
    begin_value(w);
    put(w, text, n);
}

int jw_finish(struct jw *w)
{
    if (!w->compact) {
        put(w, "\n", 1);
    }
    return w->rc;
}
