/*
 * sbuf's secret mode: no block that held secret text goes back to the allocator unwiped.
 * Linked with -Wl,--wrap=free,--wrap=realloc, so every free() and realloc() of the common
 * library (a static archive) is seen here first: a freed block that still holds the marker,
 * or a reallocated one (realloc may free the old block as it is), is counted.
 */
#define _GNU_SOURCE /* malloc_usable_size */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/sbuf.h"
#include "tests/harness.h"

#define MARKER "TOPSECRET-4b1d"

void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

static unsigned unwiped_frees;

static void count_if_marked(void *p)
{
    if (p) {
        size_t n = malloc_usable_size(p), m = strlen(MARKER);
        for (size_t i = 0; i + m <= n; i++) {
            if (memcmp((char *)p + i, MARKER, m) == 0) {
                unwiped_frees++;
                break;
            }
        }
    }
}

void __wrap_free(void *p)
{
    count_if_marked(p);
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    count_if_marked(p);
    return __real_realloc(p, n);
}

static void fill(struct sbuf *b, unsigned times)
{
    for (unsigned i = 0; i < times; i++) {
        CHECK_INT(sbuf_add(b, MARKER), 0);
    }
}

/* A secret-mode builder holding `times` markers, counted from its first byte. */
static void secret_filled(struct sbuf *b, size_t max, unsigned times)
{
    sbuf_init_secret(b, max);
    unwiped_frees = 0;
    fill(b, times);
}

static void plain_builders_leave_copies(void)
{
    /* The control: without secret mode the marker does reach realloc() and free(). */
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    fill(&b, 4);
    unwiped_frees = 0;
    fill(&b, 4); /* 56 bytes to 112: one growth */
    CHECK_INT(unwiped_frees, 1);
    sbuf_free(&b);
    CHECK_INT(unwiped_frees, 2);
}

static void secret_builders_wipe_on_growth_and_free(void)
{
    struct sbuf b;
    secret_filled(&b, 1 << 20, 2000); /* 64 bytes doubling to 32 KiB: about ten growths */
    CHECK_INT(sbuf_len(&b), 2000 * strlen(MARKER));
    CHECK(strncmp(sbuf_str(&b), MARKER MARKER, 2 * strlen(MARKER)) == 0);
    CHECK_INT(unwiped_frees, 0);
    sbuf_free(&b);
    CHECK_INT(unwiped_frees, 0);
    CHECK(b.buf == NULL);
}

static void secret_builders_wipe_when_the_cap_is_hit(void)
{
    struct sbuf b;
    secret_filled(&b, 100, 5);
    CHECK_INT(sbuf_add(&b, MARKER MARKER MARKER), 2 /* ERR_TOO_LARGE */);
    CHECK_INT(unwiped_frees, 0);
    CHECK(b.buf == NULL); /* the builder freed itself */
}

static void secret_truncation_wipes_the_cut(void)
{
    struct sbuf b;
    secret_filled(&b, 1024, 3);
    size_t keep = strlen(MARKER);
    sbuf_truncate(&b, keep);
    CHECK_INT(sbuf_len(&b), keep);
    size_t cut = 2 * strlen(MARKER);
    char zeros[64] = {0};
    CHECK(memcmp(b.buf + keep + 1, zeros, cut - 1) == 0);
    unwiped_frees = 0;
    sbuf_free(&b);
    CHECK_INT(unwiped_frees, 0);
}

static void secret_taking_hands_over_the_only_copy(void)
{
    struct sbuf b;
    secret_filled(&b, 1 << 16, 100);
    size_t len;
    char *text = sbuf_take(&b, &len);
    CHECK_INT(unwiped_frees, 0);
    CHECK_INT(len, 100 * strlen(MARKER));
    mem_wipe(text, len);
    free(text);
    CHECK_INT(unwiped_frees, 0);
    sbuf_free(&b); /* reset by take: nothing left to free */
}

static void secret_file_reads_wipe_their_buffers(void)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    for (int i = 0; i < 200; i++) { /* 2800 bytes: the pipe holds it, the buffer grows */
        CHECK_INT(file_write_all(fds[1], MARKER, strlen(MARKER)), 0);
    }
    close(fds[1]);
    unwiped_frees = 0;
    size_t len;
    char *text = file_read_fd(fds[0], 1 << 20, FILE_READ_SECRET, &len);
    close(fds[0]);
    CHECK(text != NULL);
    CHECK_INT(len, 200 * strlen(MARKER));
    CHECK_INT(unwiped_frees, 0);
    mem_wipe(text, len);
    free(text);
}

HARNESS_MAIN(TEST(plain_builders_leave_copies), TEST(secret_builders_wipe_on_growth_and_free),
             TEST(secret_builders_wipe_when_the_cap_is_hit),
             TEST(secret_truncation_wipes_the_cut),
             TEST(secret_taking_hands_over_the_only_copy),
             TEST(secret_file_reads_wipe_their_buffers))
