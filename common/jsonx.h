#ifndef OCIRENDER_COMMON_JSONX_H
#define OCIRENDER_COMMON_JSONX_H

/*
 * jansson extensions: exact uint64 values, deterministic text output, and small builders.
 *
 * jansson integers stop at INT64_MAX, but OCI needs 18446744073709551615 (RLIM_INFINITY).
 * jsonx_u64_new() returns a plain integer when the value fits and otherwise a "u64 box": an
 * object with the single key "\0u64" (a key no parsed input can contain, because inputs refuse
 * NUL) holding the decimal digits. jsonx_dump() prints a box as a bare number, and
 * jsonx_loadb() turns such numbers back into boxes, so documents round-trip exactly.
 *
 * Ownership follows jansson: functions returning json_t * return a new reference.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/compiler.h"

enum jsonx_dump_flags {
    JSONX_PRETTY = 0,  /* 2-space indent, ": " separator, trailing newline */
    JSONX_COMPACT = 1, /* no whitespace at all, no trailing newline */
};

/* New reference: an integer if v <= INT64_MAX, else a u64 box. NULL on OOM. */
json_t *jsonx_u64_new(uint64_t v) WARN_UNUSED;
bool jsonx_is_u64_box(const json_t *v);
/* 0 and *out set when v is a non-negative integer or a box; -1 otherwise. */
int jsonx_u64_get(const json_t *v, uint64_t *out);

/* Serialize deterministically (object insertion order, arrays in order).
 * Returns a malloc'ed NUL-terminated buffer (free()), NULL on OOM or past LIMIT_OUTPUT. */
char *jsonx_dump(const json_t *v, unsigned flags, size_t *len) WARN_UNUSED;

/* json_loadb() that keeps integers in (INT64_MAX, UINT64_MAX] exact as u64 boxes.
 * Always rejects duplicate keys and "\u0000" in strings. */
json_t *jsonx_loadb(const char *buf, size_t len, json_error_t *error) WARN_UNUSED;

/* Deep equality that understands u64 boxes (json_equal cannot see their NUL-prefixed key). */
bool jsonx_equal(const json_t *a, const json_t *b);

/* Return *p and set *p to NULL: hand a local reference to a stealing call. */
static inline json_t *jsonx_steal(json_t **p)
{
    json_t *v = *p;
    *p = NULL;
    return v;
}

/* Builders that return 0 or -1 (out of memory). The value arguments are copied. */
int jsonx_set_str(json_t *obj, const char *key, const char *s) WARN_UNUSED;
int jsonx_set_int(json_t *obj, const char *key, long long v) WARN_UNUSED;
int jsonx_set_bool(json_t *obj, const char *key, bool v) WARN_UNUSED;
int jsonx_append_str(json_t *arr, const char *s) WARN_UNUSED;

/*
 * Append a warning {code, path, message} to `warnings` (the shape the renderer, facts
 * gathering and bundle writing return warnings in; the commands print them). `warnings` may
 * be NULL: nothing happens. The message is cut at 512 bytes. 0, or -1 when out of memory.
 */
int jsonx_warning_add(json_t *warnings, const char *code, const char *path, const char *fmt,
                      ...) PRINTF(4, 5);
int jsonx_warning_addv(json_t *warnings, const char *code, const char *path, const char *fmt,
                       va_list ap) PRINTF(4, 0);

/* Array of strings from a NULL-terminated list. NULL on OOM. */
json_t *jsonx_str_array(const char *const *items) WARN_UNUSED;

/*
 * Overwrite the bytes of every string in `j` (keys stay), for a tree of secret values about to
 * be released. Only what nothing else shares is touched: a node whose reference count is not
 * 1 is left alone with everything below it, so a shared value is never corrupted.
 */
void jsonx_wipe_strings(json_t *j);

/* Borrowed string member or NULL when absent or not a string. */
const char *jsonx_get_str(const json_t *obj, const char *key);

#endif
