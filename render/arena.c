#include "render/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sbuf.h"

/* Most renders fit in the first chunk; later chunks double so a large spec needs few. */
#define ARENA_FIRST_CHUNK (32u * 1024u)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    max_align_t data[];
};

void arena_init(struct arena *a, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->limit = limit;
}

static size_t align_up(size_t n)
{
    return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

static int arena_add_chunk(struct arena *a, size_t need)
{
    size_t size = a->head ? a->head->size * 2 : ARENA_FIRST_CHUNK;
    if (size < need) {
        size = align_up(need);
    }
    if (size > a->limit - a->total) {
        if (need > a->limit - a->total) {
            return -1;
        }
        size = a->limit - a->total;
    }
    struct arena_chunk *c = malloc(sizeof(*c) + size);
    if (!c) {
        return -1;
    }
    c->next = a->head;
    c->size = size;
    a->head = c;
    a->cur = (char *)c->data;
    a->end = a->cur + size;
    a->total += size;
    return 0;
}

/* The allocation-failure sweep's hook (tests only); NULL in every program. */
static arena_fail_fn fail_hook;

void arena_set_fail_hook(arena_fail_fn fn)
{
    fail_hook = fn;
}

void *arena_alloc(struct arena *a, size_t size)
{
    if (fail_hook && fail_hook()) {
        return NULL;
    }
    size_t n = align_up(size ? size : 1);
    if (n < size) {
        return NULL; /* overflow */
    }
    if ((size_t)(a->end - a->cur) < n && arena_add_chunk(a, n)) {
        return NULL;
    }
    void *p = a->cur;
    a->cur += n;
    return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = arena_alloc(a, n * size);
    if (p) {
        memset(p, 0, n * size);
    }
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX) {
        return NULL;
    }
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    bool newest = true;
    while (c) {
        struct arena_chunk *next = c->next;
        /* Only the newest chunk is partly used; older ones were filled before it was made. */
        size_t used = newest ? (size_t)(a->cur - (char *)c->data) : c->size;
        mem_wipe(c->data, used);
        free(c);
        newest = false;
        c = next;
    }
    size_t limit = a->limit;
    arena_init(a, limit);
}

void *arena_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap) {
        return v;
    }
    /* A borrowed list (cap 0, as the constant option lists are) may already be long. */
    size_t want = *cap > first ? *cap : first;
    while (want <= n && want <= SIZE_MAX / 2) {
        want *= 2;
    }
    if (want <= n || want > SIZE_MAX / elem) {
        return NULL;
    }
    void *grown = arena_alloc(a, want * elem);
    if (!grown) {
        return NULL;
    }
    if (n) {
        memcpy(grown, v, n * elem);
    }
    *cap = want;
    return grown;
}
