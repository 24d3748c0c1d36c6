#include "common/jw.h"

#include <math.h>
#include <stdint.h>
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

/* Where `n` more bytes (and the NUL) can be written in place, or NULL: then the caller takes
 * the general path through put(), which grows the buffer or records the error. */
static inline char *room(const struct jw *w, size_t n)
{
    const struct sbuf *b = w->b;
    return !w->rc && n < b->cap - b->len ? b->buf + b->len : NULL;
}

static inline void wrote_up_to(struct jw *w, char *end)
{
    *end = '\0';
    w->b->len = (size_t)(end - w->b->buf);
}

/*
 * Indentation in whole 16-byte blocks: fixed-size copies the compiler makes two stores,
 * where memset(p, ' ', n) was a library call per line, a few percent of a small render. The
 * last block may pass `n`: callers reserve INDENT_SLACK more bytes, and what lies past the
 * indentation is overwritten or beyond the text's end.
 */
#define INDENT_SLACK 16

static inline char *put_spaces(char *p, size_t n)
{
    static const char block[INDENT_SLACK] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
                                             ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
    for (size_t i = 0; i < n; i += INDENT_SLACK) {
        memcpy(p + i, block, INDENT_SLACK);
    }
    return p + n;
}

/* The most bytes separator_at() touches: a comma, a newline and the indentation. */
static inline size_t separator_room(const struct jw *w)
{
    return 2 + 2 * (size_t)w->depth + INDENT_SLACK;
}

/* Separator and indentation before a new member or element of the innermost container,
 * written at p (which has separator_room() bytes); returns the end. */
static inline char *separator_at(struct jw *w, char *p)
{
    if (w->has_members[w->depth]) {
        *p++ = ',';
    }
    w->has_members[w->depth] = true;
    if (!w->compact) {
        *p++ = '\n';
        p = put_spaces(p, 2 * (size_t)w->depth);
    }
    return p;
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

static void begin_member(struct jw *w)
{
    char *p = room(w, separator_room(w));
    if (p) {
        wrote_up_to(w, separator_at(w, p));
        return;
    }
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

/* A value's bytes after its separator (an array element's), in one room test when they fit. */
static void put_value(struct jw *w, const char *s, size_t n)
{
    bool element = w->in_array[w->depth];
    char *p = room(w, (element ? separator_room(w) : 0) + n);
    if (!p) {
        begin_value(w);
        put(w, s, n);
        return;
    }
    if (element) {
        p = separator_at(w, p);
    }
    memcpy(p, s, n);
    wrote_up_to(w, p + n);
}

static void open_container(struct jw *w, char c, bool array)
{
    put_value(w, &c, 1);
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
    char *p = room(w, separator_room(w));
    if (!p) {
        if (members) {
            put_indent(w, w->depth);
        }
        put(w, &c, 1);
        return;
    }
    if (members && !w->compact) {
        *p++ = '\n';
        p = put_spaces(p, 2 * (size_t)w->depth);
    }
    *p++ = c;
    wrote_up_to(w, p);
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

/* Bytes JSON must escape in a string: control characters (NUL among them), '"' and '\\'. */
static const bool escaped[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* How many of the first n bytes of s need no escaping. */
static size_t plain_span(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !escaped[(unsigned char)s[i]]) {
        i++;
    }
    return i;
}

/* The general path: any string, any room. */
static void put_string_escaped(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!escaped[c]) {
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

/*
 * A member's key or a value string, with what goes before it (the separator when `sep`) and
 * after it (`tail`, ": " after a key): nearly every string is `plain` (needs no escaping)
 * and fits, and is then written with one room test and one copy.
 */
static void put_string_piece(struct jw *w, bool sep, const char *s, size_t n, bool plain,
                             const char *tail, size_t tail_len)
{
    char *p = plain ? room(w, (sep ? separator_room(w) : 0) + n + 2 + tail_len) : NULL;
    if (p) {
        if (sep) {
            p = separator_at(w, p);
        }
        *p++ = '"';
        memcpy(p, s, n);
        p += n;
        *p++ = '"';
        memcpy(p, tail, tail_len);
        wrote_up_to(w, p + tail_len);
        return;
    }
    if (sep) {
        begin_member(w);
    }
    put_string_escaped(w, s, n);
    put(w, tail, tail_len);
}

void jw_keyn(struct jw *w, const char *key, size_t n)
{
    put_string_piece(w, true, key, n, plain_span(key, n) == n, ": ", w->compact ? 1 : 2);
}

void jw_stringn(struct jw *w, const char *s, size_t n)
{
    put_string_piece(w, w->in_array[w->depth], s, n, plain_span(s, n) == n, "", 0);
}

void jw_string(struct jw *w, const char *s)
{
    /* One pass finds both the length of a plain string (the table stops at its NUL) and
     * whether it needs escaping. */
    size_t n = plain_span(s, SIZE_MAX);
    bool plain = !s[n];
    if (!plain) {
        n += strlen(s + n);
    }
    put_string_piece(w, w->in_array[w->depth], s, n, plain, "", 0);
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
    put_value(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jw_int(struct jw *w, long long v)
{
    char buf[24];
    unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    char *p = digits_of(mag, buf + sizeof(buf));
    if (v < 0) {
        *--p = '-';
    }
    put_value(w, p, (size_t)(buf + sizeof(buf) - p));
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
    put_value(w, buf, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
    put_value(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
    put_value(w, "null", 4);
}

void jw_raw(struct jw *w, const char *text, size_t n)
{
    put_value(w, text, n);
}

void jw_elements(struct jw *w, const char *text, size_t n)
{
    if (w->rc) {
        return;
    }
    /* The text starts with its first element's separator, which has no comma. */
    if (!w->in_array[w->depth] || w->has_members[w->depth]) {
        w->rc = ERR_INTERNAL;
        return;
    }
    put(w, text, n);
    w->has_members[w->depth] = n > 0;
}

size_t jw_mark(const struct jw *w)
{
    return w->b->len;
}

void jw_repeat(struct jw *w, size_t from, size_t to)
{
    if (w->rc) {
        return;
    }
    /* An element's mark would hold its separator too: only members' values are repeated. */
    if (from > to || to > w->b->len || w->in_array[w->depth]) {
        w->rc = ERR_INTERNAL;
        return;
    }
    size_t n = to - from;
    /* The copy's source is this buffer: make the room first, so that put() copies in place
     * and never has to grow (and move) the buffer it is reading. */
    size_t want = n;
    if (!room(w, want)) {
        int rc = sbuf_reserve(w->b, want);
        if (rc || !room(w, want)) {
            w->rc = rc ? rc : ERR_INTERNAL;
            return;
        }
    }
    put(w, w->b->buf + from, n);
}

int jw_finish(struct jw *w)
{
    if (!w->compact) {
        put(w, "\n", 1);
    }
    return w->rc;
}
