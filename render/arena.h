#ifndef OCIRENDER_RENDER_ARENA_H
#define OCIRENDER_RENDER_ARENA_H

/*
 * Per-render bump allocator. A render makes thousands of small, short-lived allocations
 * (nodes, strings, list cells) that all die together; one arena turns them into a handful of
 * malloc calls and one release. Everything a render allocates may hold a secret value, so
 * release wipes the used part of every chunk.
 *
 * Allocation returns NULL when malloc fails or the arena would pass its `limit`; callers
 * report that as out of memory. Not thread-safe: one arena belongs to one render at a time.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/compiler.h"

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk; older ones follow */
    char *cur;                /* next free byte of head */
    char *end;                /* end of head */
    size_t total;             /* bytes of chunk memory held */
    size_t limit;             /* upper bound of `total` */
};

#define ARENA_ALIGN 16u

void arena_init(struct arena *a, size_t limit) NONNULL(1);
void *arena_alloc(struct arena *a, size_t size) WARN_UNUSED NONNULL(1);
void *arena_calloc(struct arena *a, size_t n, size_t size) WARN_UNUSED NONNULL(1);
/* A NUL-terminated copy of s[0..n). */
char *arena_strndup(struct arena *a, const char *s, size_t n) WARN_UNUSED NONNULL(1);
/* Room for `n + 1` items of `elem` bytes: `v` itself when `*cap` > n, else a copy with at
 * least twice the room (at least `first`), *cap updated. A list with `cap` 0 borrows its
 * items (a constant array) and is copied on its first growth. NULL when the arena is
 * exhausted. */
void *arena_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t elem,
                 size_t first) WARN_UNUSED;
/*
 * For the allocation-failure sweep (tests/render/chaos.c): when set, every allocation first
 * asks `fn` whether to fail, so each allocation site's out-of-memory path is exercised, not
 * only the rare chunk malloc. Set it before any render starts; programs never set it.
 */
typedef bool (*arena_fail_fn)(void);
void arena_set_fail_hook(arena_fail_fn fn);

/* Wipe and free every chunk; the arena is empty and reusable afterwards. */
void arena_release(struct arena *a) NONNULL(1);

#endif
