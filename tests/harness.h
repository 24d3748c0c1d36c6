#ifndef OCIRENDER_TESTS_HARNESS_H
#define OCIRENDER_TESTS_HARNESS_H

/*
 * A tiny test harness: each test is a function; CHECK records a failure and continues.
 * Output is TAP; the exit status is 0 (all passed), 1 (a failure) or 77 (all skipped).
 */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

extern int harness_failures;
extern bool harness_skipped;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            harness_failures++;                                                              \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *a_ = (a), *b_ = (b);                                                     \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                             \
            harness_failures++;                                                              \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__,        \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");               \
        }                                                                                    \
    } while (0)

#define CHECK_INT(a, b)                                                                      \
    do {                                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                                  \
        if (a_ != b_) {                                                                      \
            harness_failures++;                                                              \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__,  \
                    #a, #b, a_, b_);                                                         \
        }                                                                                    \
    } while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(hay, needle)                                                          \
    do {                                                                                     \
        const char *h_ = (hay), *n_ = (needle);                                              \
        if (!h_ || !strstr(h_, n_)) {                                                        \
            harness_failures++;                                                              \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    h_ ? h_ : "(null)", n_);                                                 \
        }                                                                                    \
    } while (0)

#define SKIP(why)                                                                            \
    do {                                                                                     \
        harness_skipped = true;                                                              \
        printf("# SKIP %s\n", why);                                                          \
        return;                                                                              \
    } while (0)

int harness_main(const struct test_case *cases, size_t n);

/* A whole file as a NUL-terminated heap buffer (free()), or NULL when it cannot be read.
 * `len` (may be NULL) receives the byte count. */
char *harness_slurp(const char *path, size_t *len);

#define HARNESS_MAIN(...)                                                                    \
    int main(void)                                                                           \
    {                                                                                        \
        static const struct test_case cases_[] = {__VA_ARGS__};                              \
        return harness_main(cases_, sizeof(cases_) / sizeof(cases_[0]));                     \
    }

#define TEST(fn) {#fn, fn}

#endif
