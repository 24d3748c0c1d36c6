#ifndef OCIRENDER_COMMON_SBUF_H
#define OCIRENDER_COMMON_SBUF_H

/*
 * Bounded string builder (modelled on curl's dynbuf).
 *
 * sbuf_init() requires a maximum length. The add functions return 0 or an err_code
 * (ERR_NOMEM, ERR_TOO_LARGE); on failure the builder frees itself, so error paths need no
 * cleanup. The text is always NUL-terminated. sbuf_take() hands the buffer to the caller.
 * Not thread-safe; one builder per thread.
 *
 * Secret mode (sbuf_init_secret) is for any text that may hold a secret value, a token or
 * host environment values: growth copies into a new block and wipes the old one (realloc()
 * would free it unwiped), and every free wipes the whole allocation. sbuf_take() hands the
 * caller a buffer it must wipe itself.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    unsigned magic;
    bool secret;
};

void sbuf_init(struct sbuf *b, size_t max) NONNULL(1);
void sbuf_init_secret(struct sbuf *b, size_t max) NONNULL(1);
int sbuf_add(struct sbuf *b, const char *s) WARN_UNUSED NONNULL(1, 2);
int sbuf_addn(struct sbuf *b, const char *s, size_t n) WARN_UNUSED NONNULL(1);
int sbuf_addc(struct sbuf *b, char c) WARN_UNUSED NONNULL(1);
int sbuf_addf(struct sbuf *b, const char *fmt, ...) WARN_UNUSED PRINTF(2, 3) NONNULL(1, 2);

/* Make room for `n` more bytes up front (avoids repeated growth). 0 or an err_code. */
int sbuf_reserve(struct sbuf *b, size_t n) WARN_UNUSED NONNULL(1);

/* Borrowed view; "" for an empty builder. Valid until the next change. */
const char *sbuf_str(const struct sbuf *b) NONNULL(1);
size_t sbuf_len(const struct sbuf *b) NONNULL(1);

/* Transfer ownership of the text (free() it); the builder is reset to empty.
 * Returns a heap "" for an empty builder, NULL only when out of memory. */
char *sbuf_take(struct sbuf *b, size_t *len) NONNULL(1);

/* Truncate to `len` bytes (no-op if longer); in secret mode the cut bytes are wiped. */
void sbuf_truncate(struct sbuf *b, size_t len) NONNULL(1);

/* Idempotent; a secret-mode builder is wiped. sbuf_free_secret wipes in either mode. */
void sbuf_free(struct sbuf *b) NONNULL(1);
void sbuf_free_secret(struct sbuf *b) NONNULL(1);

/* Overwrite memory in a way the compiler may not drop. */
void mem_wipe(void *p, size_t n);

#endif
