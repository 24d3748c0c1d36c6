/*
 * Schema walk: turns a raw document into a typed jansson tree, or reports every problem with
 * its path (and line/column for YAML). Field tables live in cdi.c (host.cdi entries) and
 * seccomp.c (custom seccomp profiles); specs and requests go through the typed walk (walk.c).
 *
 * Rules: unknown keys are errors; JSON is strict about types; a YAML plain
 * scalar takes the type its field wants (core schema), so a string field keeps `8080` as
 * "8080". An explicit null (or YAML `~`/empty) for an optional field means "absent".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "render/internal.h"
#include "render/spec_path.h"
#include "render/suggest.h"

void walk_init(struct walk *w, const struct doc *doc, struct err *err, const char *root_path)
{
    memset(w, 0, sizeof(*w));
    w->doc = doc;
    w->err = err;
    spec_path_set(w->path, sizeof(w->path), &w->plen, root_path);
}

size_t walk_push_key(struct walk *w, const char *key)
{
    return spec_path_push_key(w->path, sizeof(w->path), &w->plen, key);
}

size_t walk_push_index(struct walk *w, size_t i)
{
    return spec_path_push_index(w->path, sizeof(w->path), &w->plen, i);
}

void walk_pop(struct walk *w, size_t saved)
{
    spec_path_pop(w->path, &w->plen, saved);
}

static int walk_verror(struct walk *w, enum err_code code, const json_t *node, const char *fmt,
                       va_list ap) PRINTF(4, 0);

static int walk_verror(struct walk *w, enum err_code code, const json_t *node, const char *fmt,
                       va_list ap)
{
    char msg[SUGGEST_MSG_SIZE];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    const struct doc_mark *mk = w->doc ? doc_mark_get(w->doc, node ? node : w->current) : NULL;
    w->failed = true;
    if (mk) {
        /* the line and column always stay */
        suggest_fit_words(msg, ERR_MSG_MAX - 1 - SUGGEST_MARK_ROOM);
        return err_set(w->err, code, w->path, "%s (line %u, column %u)", msg, mk->line,
                       mk->column);
    }
    suggest_fit_words(msg, ERR_MSG_MAX - 1);
    return err_set(w->err, code, w->path, "%s", msg);
}

int walk_error(struct walk *w, const json_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    walk_verror(w, ERR_SPEC_INVALID, node, fmt, ap);
    va_end(ap);
    return -1;
}

json_t *walk_oom(struct walk *w)
{
    w->failed = true;
    w->nomem = true;
    err_nomem(w->err);
    return NULL;
}

static bool walk_is_plain(const struct walk *w, const json_t *in)
{
    return w->doc && json_is_string(in) && doc_is_plain(w->doc, in);
}

static bool walk_is_null(const struct walk *w, const json_t *in)
{
    if (json_is_null(in)) {
        return true;
    }
    struct yvalue v;
    return walk_is_plain(w, in) && yscalar_resolve(json_string_value(in), &v) == YS_NULL;
}

/* What the input is, for "expected X, found Y" messages. */
static const char *found_what(const struct walk *w, const json_t *in)
{
    if (walk_is_plain(w, in)) {
        struct yvalue v;
        switch (yscalar_resolve(json_string_value(in), &v)) {
        case YS_NULL: return "null";
        case YS_BOOL: return "a boolean";
        case YS_INT:
        case YS_INT_RANGE: return "an integer";
        case YS_FLOAT: return "a number";
        case YS_STR: return "a string";
        }
    }
    switch (json_typeof(in)) {
    case JSON_OBJECT: return "a mapping";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

static json_t *type_error(struct walk *w, const struct stype *t, const json_t *in)
{
    walk_error(w, in, "expected %s, found %s", t->what, found_what(w, in));
    return NULL;
}

static json_t *norm_string(struct walk *w, const struct stype *t, const json_t *in)
{
    if (!json_is_string(in) || walk_is_null(w, in)) {
        return type_error(w, t, in);
    }
    if (t->min > 0 && json_string_length(in) < (size_t)t->min) {
        walk_error(w, in, "must not be empty");
        return NULL;
    }
    json_t *out = json_stringn(json_string_value(in), json_string_length(in));
    return out ? out : walk_oom(w);
}

static json_t *norm_bool(struct walk *w, const struct stype *t, const json_t *in)
{
    if (json_is_boolean(in)) {
        return json_incref((json_t *)(uintptr_t)in);
    }
    struct yvalue v;
    if (walk_is_plain(w, in) && yscalar_resolve(json_string_value(in), &v) == YS_BOOL) {
        return json_boolean(v.b);
    }
    return type_error(w, t, in);
}

static json_t *norm_int(struct walk *w, const struct stype *t, const json_t *in)
{
    long long i;
    if (json_is_integer(in)) {
        i = json_integer_value(in);
    } else {
        struct yvalue v;
        enum yscalar k = walk_is_plain(w, in) ? yscalar_resolve(json_string_value(in), &v) : YS_STR;
        if (k == YS_INT_RANGE) {
            walk_error(w, in, "integer %s is out of range", json_string_value(in));
            return NULL;
        }
        if (k != YS_INT) {
            return type_error(w, t, in);
        }
        i = v.i;
    }
    if (i < t->min || i > t->max) {
        walk_error(w, in, "%lld is out of range (%lld..%lld)", i, t->min, t->max);
        return NULL;
    }
    json_t *out = json_integer(i);
    return out ? out : walk_oom(w);
}

static int unknown_word_error(struct walk *w, const json_t *node, const char *what,
                              const char *word, const char *const *listed,
                              const char *const *candidates)
{
    char msg[SUGGEST_MSG_SIZE];
    suggest_unknown_word(msg, sizeof(msg), what, word, listed, candidates);
    return walk_error(w, node, "%s", msg);
}

static json_t *norm_enum(struct walk *w, const struct stype *t, const json_t *in)
{
    const char *s = json_string_value(in);
    if (!s || walk_is_null(w, in)) {
        return type_error(w, t, in);
    }
    for (const char *const *e = t->enums; *e; e++) {
        if (strcmp(s, *e) == 0) {
            json_t *out = json_string(s);
            return out ? out : walk_oom(w);
        }
    }
    unknown_word_error(w, in, "value", s, t->enums, t->enums);
    return NULL;
}

static const struct sfield *find_field(const struct sfield *fields, const char *key)
{
    for (const struct sfield *f = fields; f && f->name; f++) {
        if (strcmp(f->name, key) == 0 || (f->alias && strcmp(f->alias, key) == 0)) {
            return f;
        }
    }
    return NULL;
}

#define MAX_FIELDS 128

/* The field names of a struct to list, and the names and aliases to suggest from, each
 * NULL-terminated. */
static void field_names(const struct sfield *fields, const char **listed, const char **candidates)
{
    size_t n = 0, m = 0;
    for (const struct sfield *f = fields; f && f->name && m < MAX_FIELDS - 2; f++) {
        listed[n++] = candidates[m++] = f->name;
        if (f->alias) {
            candidates[m++] = f->alias;
        }
    }
    listed[n] = candidates[m] = NULL;
}

/* Normalize the members of `in` against `fields` into `out`. */
static void norm_fields(struct walk *w, const struct sfield *fields, const json_t *in,
                        json_t *out)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)in, key, val)
    {
        const struct sfield *f = find_field(fields, key);
        size_t saved = walk_push_key(w, key);
        if (!f) {
            const char *listed[MAX_FIELDS], *candidates[MAX_FIELDS];
            field_names(fields, listed, candidates);
            unknown_word_error(w, doc_key_node(key), "field", key, listed, candidates);
        } else if (json_object_get(out, f->name)) {
            walk_error(w, val, "field `%s` is given twice (as `%s` and `%s`)", f->name, f->name,
                       f->alias ? f->alias : f->name);
        } else if (walk_is_null(w, val)) {
            if (f->flags & SF_REQUIRED) {
                walk_error(w, val, "must not be null");
            }
        } else {
            json_t *v = walk_norm(w, f->type, val);
            if (v && json_object_set_new(out, f->name, v)) {
                walk_oom(w);
            }
        }
        walk_pop(w, saved);
        if (w->nomem) {
            return;
        }
    }
    for (const struct sfield *f = fields; f && f->name; f++) {
        if ((f->flags & SF_REQUIRED) && !json_object_get(in, f->name) &&
            !(f->alias && json_object_get(in, f->alias))) {
            walk_error(w, in, "missing field `%s`", f->name);
        }
    }
}

static json_t *norm_object(struct walk *w, const struct stype *t, const json_t *in)
{
    if (!json_is_object(in)) {
        return type_error(w, t, in);
    }
    json_t *out = json_object();
    if (!out) {
        return walk_oom(w);
    }
    norm_fields(w, t->fields, in, out);
    return out;
}

static json_t *norm_map(struct walk *w, const struct stype *t, const json_t *in)
{
    if (!json_is_object(in)) {
        return type_error(w, t, in);
    }
    json_t *out = json_object();
    if (!out) {
        return walk_oom(w);
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)in, key, val)
    {
        size_t saved = walk_push_key(w, key);
        json_t *v = walk_norm(w, t->elem, val);
        if (v && json_object_set_new(out, key, v)) {
            walk_oom(w);
        }
        walk_pop(w, saved);
        if (w->nomem) {
            break;
        }
    }
    return out;
}

static json_t *norm_list(struct walk *w, const struct stype *t, const json_t *in)
{
    if (!json_is_array(in)) {
        return type_error(w, t, in);
    }
    json_t *out = json_array();
    if (!out) {
        return walk_oom(w);
    }
    for (size_t i = 0; i < json_array_size(in); i++) {
        size_t saved = walk_push_index(w, i);
        json_t *v = walk_norm(w, t->elem, json_array_get(in, i));
        if (v && json_array_append_new(out, v)) {
            walk_oom(w);
        }
        walk_pop(w, saved);
        if (w->nomem) {
            break;
        }
    }
    return out;
}

/* Free-form values: resolve YAML plain scalars by the core schema, keep everything else. */
static json_t *norm_any(struct walk *w, const struct stype *t, const json_t *in)
{
    (void)t;
    if (walk_is_plain(w, in)) {
        struct yvalue v;
        switch (yscalar_resolve(json_string_value(in), &v)) {
        case YS_NULL: return json_null();
        case YS_BOOL: return json_boolean(v.b);
        case YS_INT: return json_integer(v.i);
        case YS_FLOAT:
            if (!isfinite(v.d)) {
                return json_string(json_string_value(in));
            }
            return json_real(v.d);
        case YS_INT_RANGE:
        case YS_STR: break;
        }
        return json_string(json_string_value(in));
    }
    if (json_is_object(in)) {
        json_t *out = json_object();
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)(uintptr_t)in, key, val)
        {
            if (!out || json_object_set_new(out, key, norm_any(w, t, val))) {
                json_decref(out);
                return walk_oom(w);
            }
        }
        return out;
    }
    if (json_is_array(in)) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(in); i++) {
            if (!out || json_array_append_new(out, norm_any(w, t, json_array_get(in, i)))) {
                json_decref(out);
                return walk_oom(w);
            }
        }
        return out;
    }
    return json_deep_copy(in);
}

json_t *walk_norm(struct walk *w, const struct stype *t, const json_t *in)
{
    json_t *out = NULL;
    bool failed_before = w->failed;
    w->failed = false;
    switch (t->kind) {
    case SK_STRING: out = norm_string(w, t, in); break;
    case SK_BOOL: out = norm_bool(w, t, in); break;
    case SK_INT: out = norm_int(w, t, in); break;
    case SK_ENUM: out = norm_enum(w, t, in); break;
    case SK_OBJECT: out = norm_object(w, t, in); break;
    case SK_MAP: out = norm_map(w, t, in); break;
    case SK_LIST: out = norm_list(w, t, in); break;
    case SK_ANY: out = norm_any(w, t, in); break;
    case SK_CUSTOM: out = t->norm(w, t, in); break;
    }
    if (!out && !w->failed) {
        /* A normalizer that returns nothing without reporting a problem ran out of memory:
         * never let that silently drop a field. */
        walk_oom(w);
    }
    if (out && !w->failed && t->finish) {
        const json_t *saved = w->current;
        w->current = in;
        if (t->finish(w, out)) {
            w->failed = true;
        }
        w->current = saved;
    }
    if (w->failed) {
        json_decref(out);
        out = NULL;
    }
    w->failed = w->failed || failed_before;
    return out;
}

/* ---- common scalar types ---- */

const struct stype st_string = {.kind = SK_STRING, .what = "a string"};
const struct stype st_nonempty_string = {.kind = SK_STRING, .what = "a string", .min = 1};
const struct stype st_bool = {.kind = SK_BOOL, .what = "a boolean (true or false)"};
const struct stype st_u32 = {.kind = SK_INT, .what = "an integer", .min = 0, .max = 4294967295ll};
const struct stype st_u64 = {.kind = SK_INT, .what = "an integer", .min = 0, .max = INT64_MAX};
const struct stype st_any = {.kind = SK_ANY, .what = "a value"};
const struct stype st_string_list = {.kind = SK_LIST, .what = "a list of strings",
                                     .elem = &st_string};
const struct stype st_string_map = {.kind = SK_MAP, .what = "a mapping of strings to strings",
                                    .elem = &st_string};
