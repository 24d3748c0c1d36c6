#ifndef OCIRENDER_COMMON_STRUTIL_H
#define OCIRENDER_COMMON_STRUTIL_H

/* Strict number parsing and small string helpers (no locale, no silent wrap-around). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

/* Whole-string decimal parse. 0 on success; -1 on empty input, junk, sign or overflow. */
int str_to_u64(const char *s, uint64_t *out) WARN_UNUSED;
/* Optional leading '-' or '+'. */
int str_to_i64(const char *s, int64_t *out) WARN_UNUSED;
/* Range-checked helpers built on the above. */
int str_to_u32(const char *s, uint32_t *out) WARN_UNUSED;

bool str_has_prefix(const char *s, const char *prefix);
bool str_eq(const char *a, const char *b); /* NULL-safe */
/* ASCII case-insensitive compare, independent of the locale. */
bool str_eq_nocase(const char *a, const char *b);

/*
 * Edit distance between a and b (optimal string alignment: insertions, deletions,
 * substitutions and swaps of two adjacent characters cost 1; ASCII case is ignored), for
 * "did you mean" hints. Returns `limit + 1` for anything past `limit` or longer than 64 bytes.
 */
size_t str_edit_distance(const char *a, const char *b, size_t limit);

/* The NULL-terminated list of strings after `size`, joined into buf: cut to fit and always
 * terminated (size 0: buf is left alone). Returns the length written. For text built on every request, where snprintf's
 * format parsing (about 60 ns) costs more than the copying. */
size_t str_concat(char *buf, size_t size, ...) NULL_TERMINATED;

/* v in decimal into buf (21 bytes hold any value); returns buf. */
char *str_from_u64(uint64_t v, char buf[21]);

/* strdup() that returns NULL for NULL. */
char *str_dup(const char *s);
char *str_ndup(const char *s, size_t n);

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool str_valid_utf8(const char *s, size_t n);

/* Constant-time comparison of two byte strings (lengths leak, contents do not). */
bool str_eq_consttime(const char *a, size_t alen, const char *b, size_t blen);

#endif
