#ifndef OCIRENDER_COMMON_JW_H
#define OCIRENDER_COMMON_JW_H

/*
 * A streaming JSON writer: a render writes its output once, in the fixed key order, straight
 * into one buffer (no tree to build, dump and free); the server writes its request log lines
 * the same way. Pretty output is two spaces per level with ": " after keys and a final
 * newline; compact output has no whitespace. The bytes are exactly those of
 * common/jsonx.h's dump of the same tree, so digests and ETags do not depend on which one
 * wrote them.
 *
 * Errors are sticky: the first failure (NOMEM, TOO_LARGE) is kept in `rc` and every later
 * call does nothing, so writers check once, at jw_finish().
 */

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/sbuf.h"

#define JW_MAX_DEPTH 64

struct jw {
    struct sbuf *b;
    bool compact;
    int rc;
    int depth;
    bool in_array[JW_MAX_DEPTH + 1];
    bool has_members[JW_MAX_DEPTH + 1];
};

void jw_init(struct jw *w, struct sbuf *b, bool compact, int depth);

void jw_object_open(struct jw *w);
void jw_object_close(struct jw *w);
void jw_array_open(struct jw *w);
void jw_array_close(struct jw *w);

/* A member key of the open object; the next call writes its value. */
void jw_keyn(struct jw *w, const char *key, size_t n);

void jw_stringn(struct jw *w, const char *s, size_t n);
void jw_string(struct jw *w, const char *s);
void jw_int(struct jw *w, long long v);
void jw_uint(struct jw *w, unsigned long long v);
void jw_real(struct jw *w, double v);
/* A real with `digits` significant digits, as jansson's JSON_REAL_PRECISION(digits) writes it
 * (jw_real: 17, exact). */
void jw_real_digits(struct jw *w, double v, int digits);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* A value already written as JSON text for this depth and mode (see jw_init's `depth`). */
void jw_raw(struct jw *w, const char *text, size_t n);

/* Elements already written as JSON text for this depth and mode, each with its separator (the
 * first without a comma), as the first elements of the open array. */
void jw_elements(struct jw *w, const char *text, size_t n);

/* The writer's position, and a member's value already written between two positions (taken
 * after its key and after its value) written again as the value of the next key, at the same
 * depth: the bytes are copied as they are. A list the config holds twice is written once. An
 * array element cannot be repeated (its text starts with its separator). */
size_t jw_mark(const struct jw *w);
void jw_repeat(struct jw *w, size_t from, size_t to);

/* The NUL-terminated key and "key": value shorthands, inline so that the length of a literal
 * key is known at compile time. */
static inline void jw_key(struct jw *w, const char *key)
{
    jw_keyn(w, key, strlen(key));
}
static inline void jw_member_string(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_string(w, s);
}
static inline void jw_member_int(struct jw *w, const char *key, long long v)
{
    jw_key(w, key);
    jw_int(w, v);
}
static inline void jw_member_bool(struct jw *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

/* Trailing newline in pretty mode; returns 0 or the first error (an err_code). */
int jw_finish(struct jw *w);

#endif
