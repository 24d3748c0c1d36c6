/*
 * The schema walk: checks a parsed document against a schema (render/model.h) and fills the
 * typed model, or reports every problem with its path (and line and column for YAML).
 *
 * Rules: unknown keys are errors; JSON is strict about types; a YAML plain scalar takes the
 * type its field wants (YAML 1.2 core schema), so a string field keeps `8080` as "8080". An
 * explicit null (or YAML `~`/empty) for an optional field means "absent".
 *
 * After a problem the walk goes on to find the others, but a value with a problem anywhere
 * inside it is never finished (cross-field checks see only valid values), and the caller
 * discards the whole model.
 */
#include "render/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "render/internal.h"
#include "render/spec_path.h"
#include "render/suggest.h"

#define MAX_FIELDS 128      /* fields of one mapping type */
#define MAX_SCRATCH 64      /* storage of a checked-but-not-stored value */

void mwalk_init(struct mwalk *w, struct arena *a, struct err *err, const char *root_path)
{
    memset(w, 0, sizeof(*w));
    w->arena = a;
    w->err = err;
    spec_path_set(w->path, sizeof(w->path), &w->plen, root_path);
}

size_t mwalk_push_key(struct mwalk *w, const char *key)
{
    return spec_path_push_key(w->path, sizeof(w->path), &w->plen, key);
}

size_t mwalk_push_index(struct mwalk *w, size_t i)
{
    return spec_path_push_index(w->path, sizeof(w->path), &w->plen, i);
}

void mwalk_pop(struct mwalk *w, size_t saved)
{
    spec_path_pop(w->path, &w->plen, saved);
}

static int mwalk_verror(struct mwalk *w, enum err_code code, const struct dnode *at,
                        const char *fmt, va_list ap) PRINTF(4, 0);

static int mwalk_verror(struct mwalk *w, enum err_code code, const struct dnode *at,
                        const char *fmt, va_list ap)
{
    char msg[SUGGEST_MSG_SIZE];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const struct dnode *mk = at ? at : w->current;
    w->failed = true;
    if (mk && mk->line) {
        /* the line and column always stay */
        suggest_fit_words(msg, ERR_MSG_MAX - 1 - SUGGEST_MARK_ROOM);
        return err_set(w->err, code, w->path, "%s (line %u, column %u)", msg, mk->line,
                       mk->column);
    }
    suggest_fit_words(msg, ERR_MSG_MAX - 1);
    return err_set(w->err, code, w->path, "%s", msg);
}

int mwalk_error(struct mwalk *w, const struct dnode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mwalk_verror(w, ERR_SPEC_INVALID, at, fmt, ap);
    va_end(ap);
    return -1;
}

int mwalk_error_code(struct mwalk *w, enum err_code code, const struct dnode *at, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    mwalk_verror(w, code, at, fmt, ap);
    va_end(ap);
    return -1;
}

int mwalk_oom(struct mwalk *w)
{
    w->failed = true;
    w->nomem = true;
    err_nomem(w->err);
    return -1;
}

static bool is_plain(const struct dnode *in)
{
    return in->kind == DN_STR && in->plain;
}

bool mwalk_is_null(const struct dnode *in)
{
    if (in->kind == DN_NULL) {
        return true;
    }
    /* Only "", "~" and null/Null/NULL resolve to null: skip the rest cheaply. */
    char c = is_plain(in) ? in->u.str[0] : 'x';
    struct yvalue v;
    return (c == '\0' || c == '~' || c == 'n' || c == 'N') &&
           yscalar_resolve(in->u.str, &v) == YS_NULL;
}

const char *mwalk_found_what(const struct dnode *in)
{
    if (is_plain(in)) {
        struct yvalue v;
        switch (yscalar_resolve(in->u.str, &v)) {
        case YS_NULL: return "null";
        case YS_BOOL: return "a boolean";
        case YS_INT:
        case YS_INT_RANGE: return "an integer";
        case YS_FLOAT: return "a number";
        case YS_STR: return "a string";
        }
    }
    switch ((enum dkind)in->kind) {
    case DN_MAP: return "a mapping";
    case DN_SEQ: return "a list";
    case DN_STR: return "a string";
    case DN_INT:
    case DN_U64: return "an integer";
    case DN_REAL: return "a number";
    case DN_TRUE:
    case DN_FALSE: return "a boolean";
    case DN_NULL: return "null";
    }
    return "a value";
}

static int type_error(struct mwalk *w, const struct mtype *t, const struct dnode *in)
{
    return mwalk_error(w, in, "expected %s, found %s", t->what, mwalk_found_what(in));
}

static int fill_string(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                       const char **dst)
{
    if (in->kind != DN_STR || mwalk_is_null(in)) {
        return type_error(w, t, in);
    }
    if (t->min > 0 && in->len < (size_t)t->min) {
        return mwalk_error(w, in, "must not be empty");
    }
    *dst = in->u.str; /* the document lives in the same arena */
    return 0;
}

static int fill_bool(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                     struct opt_bool *dst)
{
    if (in->kind == DN_TRUE || in->kind == DN_FALSE) {
        *dst = (struct opt_bool){.set = true, .v = in->kind == DN_TRUE};
        return 0;
    }
    struct yvalue v;
    if (is_plain(in) && yscalar_resolve(in->u.str, &v) == YS_BOOL) {
        *dst = (struct opt_bool){.set = true, .v = v.b};
        return 0;
    }
    return type_error(w, t, in);
}

static int fill_int(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                    struct opt_i64 *dst)
{
    long long i;
    if (in->kind == DN_INT) {
        i = in->u.i;
    } else {
        struct yvalue v;
        enum yscalar k = is_plain(in) ? yscalar_resolve(in->u.str, &v) : YS_STR;
        if (k == YS_INT_RANGE) {
            return mwalk_error(w, in, "integer %s is out of range", in->u.str);
        }
        if (k != YS_INT) {
            return type_error(w, t, in);
        }
        i = v.i;
    }
    if (i < t->min || i > t->max) {
        return mwalk_error(w, in, "%lld is out of range (%lld..%lld)", i, t->min, t->max);
    }
    *dst = (struct opt_i64){.set = true, .v = i};
    return 0;
}

static int fill_float(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                      struct opt_f64 *dst)
{
    double d;
    if (in->kind == DN_INT) {
        d = (double)in->u.i;
    } else if (in->kind == DN_REAL) {
        d = in->u.d;
    } else {
        struct yvalue v;
        enum yscalar k = is_plain(in) ? yscalar_resolve(in->u.str, &v) : YS_STR;
        if (k == YS_INT) {
            d = (double)v.i;
        } else if (k == YS_FLOAT) {
            d = v.d;
        } else {
            return type_error(w, t, in);
        }
    }
    if (!isfinite(d)) {
        return mwalk_error(w, in, "must be a finite number");
    }
    *dst = (struct opt_f64){.set = true, .v = d};
    return 0;
}

static int unknown_word_error(struct mwalk *w, const struct dnode *at, const char *what,
                              const char *word, const char *const *listed,
                              const char *const *candidates)
{
    char msg[SUGGEST_MSG_SIZE];
    suggest_unknown_word(msg, sizeof(msg), what, word, listed, candidates);
    return mwalk_error(w, at, "%s", msg);
}

static int fill_enum(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                     const char **dst)
{
    if (in->kind != DN_STR || mwalk_is_null(in)) {
        return type_error(w, t, in);
    }
    for (const char *const *e = t->enums; *e; e++) {
        if (strcmp(in->u.str, *e) == 0) {
            *dst = *e;
            return 0;
        }
    }
    return unknown_word_error(w, in, "value", in->u.str, t->enums, t->enums);
}

static const struct mfield *find_field(const struct mfield *fields, const char *key, size_t klen)
{
    for (const struct mfield *f = fields; f && f->name; f++) {
        if ((f->name[0] == key[0] && strlen(f->name) == klen && memcmp(f->name, key, klen) == 0) ||
            (f->alias && strcmp(f->alias, key) == 0)) {
            return f;
        }
    }
    return NULL;
}

/* The field names of a struct (and the tag of a tagged union) to list, and the names and
 * aliases to suggest from, each NULL-terminated. */
static void field_names(const struct mfield *fields, const char *tag, const char **listed,
                        const char **candidates)
{
    size_t n = 0, m = 0;
    if (tag) {
        listed[n++] = candidates[m++] = tag;
    }
    for (const struct mfield *f = fields; f && f->name && m < MAX_FIELDS - 2; f++) {
        listed[n++] = candidates[m++] = f->name;
        if (f->alias) {
            candidates[m++] = f->alias;
        }
    }
    listed[n] = candidates[m] = NULL;
}

static bool key_given(const struct dnode *in, const char *name)
{
    return name && dom_get(in, name) != NULL;
}

/* Check and store the members of `in` against `fields` into the struct at `base` (NULL for
 * a type that stores nothing). `skip` is a key to leave alone (a tagged union's tag). */
static int fill_fields(struct mwalk *w, const struct mfield *fields, bool open, const char *skip,
                       const struct dnode *in, char *base)
{
    bool stored[MAX_FIELDS] = {false};
    int rc = 0;
    for (size_t i = 0; i < in->len; i++) {
        const struct dpair *p = &in->u.pairs[i];
        if (skip && strcmp(p->key, skip) == 0) {
            continue;
        }
        const struct mfield *f = find_field(fields, p->key, p->klen);
        size_t saved = mwalk_push_key(w, p->key);
        if (!f) {
            if (!open) {
                const char *listed[MAX_FIELDS], *candidates[MAX_FIELDS];
                struct dnode key = {.kind = DN_STR, .line = p->line, .column = p->column};
                field_names(fields, skip, listed, candidates);
                rc = unknown_word_error(w, p->line ? &key : p->val, "field", p->key, listed,
                                        candidates);
            }
        } else if (stored[f - fields]) {
            rc = mwalk_error(w, p->val, "field `%s` is given twice (as `%s` and `%s`)", f->name,
                             f->name, f->alias ? f->alias : f->name);
        } else if (mwalk_is_null(p->val)) {
            if (f->flags & MF_REQUIRED) {
                rc = mwalk_error(w, p->val, "must not be null");
            }
        } else {
            _Alignas(max_align_t) char scratch[MAX_SCRATCH];
            void *dst = base && f->at ? base + f->at - 1 : scratch;
            if (dst == scratch) {
                memset(scratch, 0, sizeof(scratch));
            }
            if (mwalk_fill(w, f->type, p->val, dst) == 0) {
                stored[f - fields] = true;
            } else {
                rc = -1;
            }
        }
        mwalk_pop(w, saved);
        if (w->nomem) {
            return -1;
        }
    }
    for (const struct mfield *f = fields; f && f->name; f++) {
        if ((f->flags & MF_REQUIRED) && !key_given(in, f->name) && !key_given(in, f->alias)) {
            rc = mwalk_error(w, in, "missing field `%s`", f->name);
        }
    }
    return rc;
}

static void *new_struct(struct mwalk *w, size_t size)
{
    if (!size) {
        return NULL;
    }
    void *p = arena_calloc(w->arena, 1, size);
    if (!p) {
        mwalk_oom(w);
    }
    return p;
}

static int fill_object(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                       void **dst)
{
    if (in->kind != DN_MAP) {
        return type_error(w, t, in);
    }
    char *obj = new_struct(w, t->size);
    if (t->size && !obj) {
        return -1;
    }
    *dst = obj;
    return fill_fields(w, t->fields, t->open, NULL, in, obj);
}

static int fill_tagged(struct mwalk *w, const struct mtype *t, const struct dnode *in, void **dst)
{
    if (in->kind != DN_MAP) {
        return type_error(w, t, in);
    }
    const struct dnode *tagv = dom_get(in, t->tag);
    if (!tagv) {
        return mwalk_error(w, in, "missing field `%s`", t->tag);
    }
    const char *name = tagv->kind == DN_STR ? tagv->u.str : NULL;
    const struct mvariant *var = NULL;
    for (const struct mvariant *v = t->variants; name && v->name; v++) {
        if (strcmp(v->name, name) == 0) {
            var = v;
        }
    }
    if (!var) {
        const char *names[32];
        size_t n = 0;
        for (const struct mvariant *v = t->variants; v->name && n < ARRAY_LEN(names) - 1; v++) {
            names[n++] = v->name;
        }
        names[n] = NULL;
        size_t saved = mwalk_push_key(w, t->tag);
        unknown_word_error(w, tagv, "variant", name ? name : "(not a string)", names, names);
        mwalk_pop(w, saved);
        return -1;
    }
    char *obj = new_struct(w, t->size);
    if (t->size && !obj) {
        return -1;
    }
    if (obj && t->tag_at) {
        *(const char **)(void *)(obj + t->tag_at - 1) = var->name;
    }
    *dst = obj;
    return fill_fields(w, var->fields, false, t->tag, in, obj);
}

static int fill_map(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                    struct mmap *dst)
{
    if (in->kind != DN_MAP) {
        return type_error(w, t, in);
    }
    size_t esize = mtype_storage(t->elem);
    dst->keys = in->len ? arena_calloc(w->arena, in->len, sizeof(*dst->keys)) : NULL;
    dst->v = in->len ? arena_calloc(w->arena, in->len, esize) : NULL;
    if (in->len && (!dst->keys || !dst->v)) {
        return mwalk_oom(w);
    }
    dst->n = in->len;
    int rc = 0;
    for (size_t i = 0; i < in->len; i++) {
        const struct dpair *p = &in->u.pairs[i];
        dst->keys[i] = p->key;
        size_t saved = mwalk_push_key(w, p->key);
        if (mwalk_fill(w, t->elem, p->val, (char *)dst->v + i * esize)) {
            rc = -1;
        }
        mwalk_pop(w, saved);
        if (w->nomem) {
            return -1;
        }
    }
    return rc;
}

static int fill_list(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                     struct mlist *dst)
{
    if (in->kind != DN_SEQ) {
        return type_error(w, t, in);
    }
    size_t esize = mtype_storage(t->elem);
    dst->v = in->len ? arena_calloc(w->arena, in->len, esize) : NULL;
    if (in->len && !dst->v) {
        return mwalk_oom(w);
    }
    dst->n = in->len;
    int rc = 0;
    for (size_t i = 0; i < in->len; i++) {
        size_t saved = mwalk_push_index(w, i);
        if (mwalk_fill(w, t->elem, in->u.items[i], (char *)dst->v + i * esize)) {
            rc = -1;
        }
        mwalk_pop(w, saved);
        if (w->nomem) {
            return -1;
        }
    }
    return rc;
}

size_t mtype_storage(const struct mtype *t)
{
    switch (t->kind) {
    case MK_STRING:
    case MK_ENUM: return sizeof(const char *);
    case MK_BOOL: return sizeof(struct opt_bool);
    case MK_INT: return sizeof(struct opt_i64);
    case MK_FLOAT: return sizeof(struct opt_f64);
    case MK_OBJECT:
    case MK_TAGGED: return sizeof(void *);
    case MK_MAP: return sizeof(struct mmap);
    case MK_LIST: return sizeof(struct mlist);
    case MK_ANY: return sizeof(const struct dnode *);
    case MK_CUSTOM: return t->size;
    }
    return 0;
}

/* What a finisher gets: the struct for mappings, the storage itself for anything else. */
static void *finish_target(const struct mtype *t, void *dst)
{
    return t->kind == MK_OBJECT || t->kind == MK_TAGGED ? *(void **)dst : dst;
}

int mwalk_fill(struct mwalk *w, const struct mtype *t, const struct dnode *in, void *dst)
{
    int rc = -1;
    switch (t->kind) {
    case MK_STRING: rc = fill_string(w, t, in, dst); break;
    case MK_BOOL: rc = fill_bool(w, t, in, dst); break;
    case MK_INT: rc = fill_int(w, t, in, dst); break;
    case MK_FLOAT: rc = fill_float(w, t, in, dst); break;
    case MK_ENUM: rc = fill_enum(w, t, in, dst); break;
    case MK_OBJECT: rc = fill_object(w, t, in, dst); break;
    case MK_MAP: rc = fill_map(w, t, in, dst); break;
    case MK_LIST: rc = fill_list(w, t, in, dst); break;
    case MK_ANY: *(const struct dnode **)dst = in; rc = 0; break;
    case MK_TAGGED: rc = fill_tagged(w, t, in, dst); break;
    case MK_CUSTOM: rc = t->fill(w, t, in, dst); break;
    }
    if (rc == 0 && t->finish) {
        const struct dnode *saved = w->current;
        w->current = in;
        rc = t->finish(w, finish_target(t, dst));
        w->current = saved;
    }
    return rc;
}

/* ---- common scalar types ---- */

const struct mtype mt_string = {.kind = MK_STRING, .what = "a string"};
const struct mtype mt_nonempty_string = {.kind = MK_STRING, .what = "a string", .min = 1};
const struct mtype mt_bool = {.kind = MK_BOOL, .what = "a boolean (true or false)"};
const struct mtype mt_float = {.kind = MK_FLOAT, .what = "a number"};
const struct mtype mt_u8 = {.kind = MK_INT, .what = "an integer", .min = 0, .max = 255};
const struct mtype mt_u16 = {.kind = MK_INT, .what = "an integer", .min = 0, .max = 65535};
const struct mtype mt_u32 = {.kind = MK_INT, .what = "an integer", .min = 0, .max = 4294967295ll};
const struct mtype mt_i32 = {.kind = MK_INT, .what = "an integer", .min = -2147483648ll,
                             .max = 2147483647ll};
const struct mtype mt_i64 = {.kind = MK_INT, .what = "an integer", .min = INT64_MIN,
                             .max = INT64_MAX};
const struct mtype mt_u64 = {.kind = MK_INT, .what = "an integer", .min = 0, .max = INT64_MAX};
const struct mtype mt_any = {.kind = MK_ANY, .what = "a value"};
const struct mtype mt_string_list = {.kind = MK_LIST, .what = "a list of strings",
                                     .elem = &mt_string};
const struct mtype mt_string_map = {.kind = MK_MAP, .what = "a mapping of strings to strings",
                                    .elem = &mt_string};
const struct mtype mt_object_any = {.kind = MK_MAP, .what = "a mapping", .elem = &mt_any};

/* A list whose presence counts even when empty (host.dirs, command.entrypoint: `[]` is an
 * explicit choice, not an absence). */
static int fill_present_list(struct mwalk *w, const struct mtype *t, const struct dnode *in,
                             void *dst)
{
    (void)t;
    struct opt_list *l = dst;
    if (mwalk_fill(w, &mt_string_list, in, &l->list)) {
        return -1;
    }
    l->set = true;
    return 0;
}
const struct mtype mt_present_string_list = {.kind = MK_CUSTOM, .what = "a list of strings",
                                             .size = sizeof(struct opt_list),
                                             .fill = fill_present_list};
