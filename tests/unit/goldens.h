#ifndef OCIRENDER_TESTS_UNIT_GOLDENS_H
#define OCIRENDER_TESTS_UNIT_GOLDENS_H

/* The golden cases' expected outputs (tests/render/cases/NAME/expected.json), one by one, for
 * the unit tests that check a writer against every config we have ever rendered. */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/jsonx.h"
#include "tests/harness.h"

/* `text` is the file's bytes, `doc` the document read from them (exact integers). */
typedef void (*golden_fn)(const char *name, const char *text, size_t len, const json_t *doc,
                          void *ctx);

/* Calls `fn` for every golden case; returns how many there were. */
static inline int goldens_each(golden_fn fn, void *ctx)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/render/cases", OCIRENDER_SOURCE_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int seen = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[4600];
        snprintf(path, sizeof(path), "%s/%s/expected.json", dir, e->d_name);
        size_t len;
        char *text = harness_slurp(path, &len);
        if (!text) {
            continue;
        }
        json_error_t je;
        json_t *doc = jsonx_loadb(text, len, &je);
        CHECK(doc != NULL);
        if (doc) {
            fn(e->d_name, text, len, doc, ctx);
            seen++;
        }
        json_decref(doc);
        free(text);
    }
    if (d) {
        closedir(d);
    }
    return seen;
}

#endif
