#include "tests/harness.h"

#include <stdlib.h>

int harness_failures;
bool harness_skipped;

int harness_main(const struct test_case *cases, size_t n)
{
    int failed = 0, skipped = 0;
    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        int before = harness_failures;
        harness_skipped = false;
        cases[i].fn();
        if (harness_failures != before) {
            failed++;
            printf("not ok %zu - %s\n", i + 1, cases[i].name);
        } else if (harness_skipped) {
            skipped++;
            printf("ok %zu - %s # SKIP\n", i + 1, cases[i].name);
        } else {
            printf("ok %zu - %s\n", i + 1, cases[i].name);
        }
        fflush(stdout);
    }
    if (failed) {
        return 1;
    }
    return (skipped == (int)n && n > 0) ? 77 : 0;
}

char *harness_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            if (len) {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}
