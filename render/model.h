#ifndef OCIRENDER_RENDER_MODEL_H
#define OCIRENDER_RENDER_MODEL_H

/*
 * The typed model of a normalized spec, and the schema walk that builds it.
 *
 * A schema is data: `struct mtype` says what a value may be (string, integer in a range,
 * mapping with these fields, ...) and where a mapping's fields land in a C struct
 * (`MF_AT(struct, member)`). The walk checks a parsed document (render/dom.h) against it,
 * reports every problem with its spec path and line and column, and fills the structs in the
 * render's arena. Fields only the orchestrator reads are checked and not stored (no MF_AT).
 *
 * Storage of each kind of value (absent values are all-zero):
 *   MK_STRING, MK_ENUM   const char *            NULL when absent
 *   MK_BOOL              struct opt_bool
 *   MK_INT               struct opt_i64
 *   MK_FLOAT             struct opt_f64
 *   MK_OBJECT, MK_TAGGED a pointer to the type's struct (size `size`), NULL when absent
 *   MK_LIST              struct mlist: `n` elements of the element type's storage
 *   MK_MAP               struct mmap: keys and `n` values of the element type's storage
 *   MK_ANY               const struct dnode *    (the raw value)
 *   MK_CUSTOM            `size` bytes filled by `fill`
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/err.h"
#include "render/arena.h"
#include "render/dom.h"

struct opt_bool {
    bool set;
    bool v;
};
struct opt_i64 {
    bool set;
    long long v;
};
struct opt_f64 {
    bool set;
    double v;
};
struct mlist {
    size_t n;
    void *v; /* n elements; use the typed accessors below */
};
/* A list whose presence matters even when it is empty. */
struct opt_list {
    bool set;
    struct mlist list;
};
struct mmap {
    size_t n;
    const char **keys;
    void *v;
};

static inline const char *mlist_str(const struct mlist *l, size_t i)
{
    return ((const char *const *)l->v)[i];
}
static inline const void *mlist_ptr(const struct mlist *l, size_t i)
{
    return ((const void *const *)l->v)[i];
}
static inline const char *mmap_str(const struct mmap *m, size_t i)
{
    return ((const char *const *)m->v)[i];
}
static inline const void *mmap_ptr(const struct mmap *m, size_t i)
{
    return ((const void *const *)m->v)[i];
}

enum mkind {
    MK_STRING,
    MK_BOOL,
    MK_INT,
    MK_FLOAT,
    MK_ENUM,
    MK_OBJECT,
    MK_MAP,
    MK_LIST,
    MK_ANY,
    MK_TAGGED,
    MK_CUSTOM,
};

#define MF_REQUIRED 1u
/* Offset of a member plus one, so that 0 means "checked, not stored". */
#define MF_AT(type, member) (offsetof(type, member) + 1)

struct mwalk;
struct mtype;

struct mfield {
    const char *name;
    const struct mtype *type;
    unsigned flags;
    const char *alias; /* second accepted spelling */
    size_t at;         /* MF_AT(...) or 0 */
};

struct mvariant {
    const char *name;
    const struct mfield *fields; /* NULL-name terminated; NULL for no fields */
};

/* Custom values: check `in` and write the value's storage at `dst`. 0 or -1 (reported). */
typedef int (*mfill_fn)(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                        void *dst);
/* Cross-field checks on a value whose parts are all valid. 0 or -1 (reported). */
typedef int (*mfinish_fn)(struct mwalk *w, void *value);

struct mtype {
    enum mkind kind;
    const char *what;                /* "a string", "a list of devices": for messages */
    long long min, max;              /* MK_INT; MK_STRING: min 1 = non-empty */
    const char *const *enums;        /* MK_ENUM: NULL-terminated */
    const struct mfield *fields;     /* MK_OBJECT: NULL-name terminated */
    size_t size;                     /* MK_OBJECT, MK_TAGGED: the struct; MK_CUSTOM: storage */
    const struct mtype *elem;        /* MK_MAP values, MK_LIST elements */
    const char *tag;                 /* MK_TAGGED: the discriminator key */
    size_t tag_at;                   /* MK_TAGGED: MF_AT of the `const char *` naming it */
    const struct mvariant *variants; /* MK_TAGGED: NULL-name terminated */
    mfill_fn fill;                   /* MK_CUSTOM */
    mfinish_fn finish;               /* optional; gets a pointer to the value's storage */
    bool open;                       /* MK_OBJECT: unknown keys are ignored */
};

struct mwalk {
    struct arena *arena;
    struct err *err;
    char path[ERR_PATH_MAX];
    size_t plen;
    bool failed;
    bool nomem;
    const struct dnode *current; /* value being finished: line/column for finisher errors */
};

void mwalk_init(struct mwalk *w, struct arena *a, struct err *err, const char *root_path);
/* Check `in` against `t` and write its storage at `dst` (zeroed by the caller). 0, or -1
 * when any problem was recorded (w->err holds them all; `dst` is then partial). */
int mwalk_fill(struct mwalk *w, const struct mtype *t, const struct dnode *in, void *dst);
/* The storage size of a value of type `t` (a pointer for objects). */
size_t mtype_storage(const struct mtype *t);

size_t mwalk_push_key(struct mwalk *w, const char *key);
size_t mwalk_push_index(struct mwalk *w, size_t i);
void mwalk_pop(struct mwalk *w, size_t saved);
int mwalk_error(struct mwalk *w, const struct dnode *at, const char *fmt, ...) PRINTF(3, 4);
int mwalk_error_code(struct mwalk *w, enum err_code code, const struct dnode *at, const char *fmt,
                     ...) PRINTF(4, 5);
int mwalk_oom(struct mwalk *w);

/* Scalar views of an input node (YAML plain scalars resolved by the YAML 1.2 core schema). */
bool mwalk_is_null(const struct dnode *in);
const char *mwalk_found_what(const struct dnode *in);

extern const struct mtype mt_string;
extern const struct mtype mt_nonempty_string;
extern const struct mtype mt_bool;
extern const struct mtype mt_float;
extern const struct mtype mt_u8;
extern const struct mtype mt_u16;
extern const struct mtype mt_u32;
extern const struct mtype mt_i32;
extern const struct mtype mt_i64;
extern const struct mtype mt_u64;
extern const struct mtype mt_any;
extern const struct mtype mt_string_list;
extern const struct mtype mt_present_string_list; /* storage: struct opt_list */
extern const struct mtype mt_string_map;
extern const struct mtype mt_object_any;

#endif
