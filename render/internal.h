#ifndef OCIRENDER_RENDER_INTERNAL_H
#define OCIRENDER_RENDER_INTERNAL_H

/* Declarations shared between the files of render/ (not part of the public API). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/compiler.h"
#include "common/err.h"
#include "render/doc.h"

/* ---- doc.c ---- */
int doc_mark_add(struct doc *d, const json_t *node, uint32_t line, uint32_t column, bool plain);

/* ---- scalar.c: YAML 1.2 core schema resolution of plain scalars ---- */
enum yscalar { YS_STR, YS_NULL, YS_BOOL, YS_INT, YS_INT_RANGE, YS_FLOAT };
struct yvalue {
    bool b;
    long long i;
    double d;
};
enum yscalar yscalar_resolve(const char *text, struct yvalue *v);

/* ---- schema.c: typed, path-aware normalization of a raw jansson document (CDI specs and
 * seccomp profiles; specs and requests use the typed walk of render/model.h) ---- */
struct walk;
struct stype;

typedef json_t *(*snorm_fn)(struct walk *w, const struct stype *t, const json_t *in);
typedef int (*sfinish_fn)(struct walk *w, json_t *out);

enum skind {
    SK_STRING,
    SK_BOOL,
    SK_INT,
    SK_ENUM,
    SK_OBJECT,
    SK_MAP,
    SK_LIST,
    SK_ANY,
    SK_CUSTOM,
};

#define SF_REQUIRED 1u

struct sfield {
    const char *name;
    const struct stype *type;
    unsigned flags;
    const char *alias; /* second accepted spelling (serde alias) */
};

struct stype {
    enum skind kind;
    const char *what;               /* "a string", "a list of devices": for messages */
    long long min, max;             /* SK_INT */
    const char *const *enums;       /* SK_ENUM: NULL-terminated */
    const struct sfield *fields;    /* SK_OBJECT: NULL-name terminated */
    const struct stype *elem;       /* SK_MAP values, SK_LIST elements */
    snorm_fn norm;                  /* SK_CUSTOM */
    sfinish_fn finish;              /* optional check/fix-up after normalization */
};

struct walk {
    const struct doc *doc;
    struct err *err;
    char path[ERR_PATH_MAX];
    size_t plen;
    bool failed;
    bool nomem;
    const json_t *current; /* input node being finished, for line/column in finisher errors */
};

void walk_init(struct walk *w, const struct doc *doc, struct err *err, const char *root_path);
/* Normalize `in` (borrowed) against `t`. New reference, or NULL when any error was recorded
 * (then w->failed is set and w->err holds the issues). */
json_t *walk_norm(struct walk *w, const struct stype *t, const json_t *in);

/* Path handling for custom normalizers and finishers. */
size_t walk_push_key(struct walk *w, const char *key);
size_t walk_push_index(struct walk *w, size_t i);
void walk_pop(struct walk *w, size_t saved);

/* Record a validation issue at the current path; `node` (may be NULL) adds line/column. */
int walk_error(struct walk *w, const json_t *node, const char *fmt, ...) PRINTF(3, 4);
json_t *walk_oom(struct walk *w);

/* Common scalar types. */
extern const struct stype st_string;
extern const struct stype st_nonempty_string;
extern const struct stype st_bool;
extern const struct stype st_u32;
extern const struct stype st_u64;
extern const struct stype st_any;
extern const struct stype st_string_list;
extern const struct stype st_string_map;

#endif
