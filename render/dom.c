/* Document parsing entry points and the JSON half (jansson, then copied into the arena). */
#include "render/dom.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/limits.h"

const struct dnode *dom_get(const struct dnode *map, const char *key)
{
    if (!map || map->kind != DN_MAP) {
        return NULL;
    }
    size_t n = strlen(key);
    for (size_t i = 0; i < map->len; i++) {
        const struct dpair *p = &map->u.pairs[i];
        if (p->klen == n && memcmp(p->key, key, n) == 0) {
            return p->val;
        }
    }
    return NULL;
}

struct jconv {
    struct arena *arena;
    size_t nodes;
    bool too_deep;
    bool too_many;
};

static struct dnode *from_json(struct jconv *jc, const json_t *v, int depth);

static int convert_object(struct jconv *jc, const json_t *v, struct dnode *n, int depth)
{
    n->len = json_object_size(v);
    n->u.pairs = n->len ? arena_alloc(jc->arena, n->len * sizeof(struct dpair)) : NULL;
    if (n->len && !n->u.pairs) {
        return -1;
    }
    size_t i = 0;
    const char *key;
    size_t klen;
    json_t *m;
    json_object_keylen_foreach((json_t *)(uintptr_t)v, key, klen, m)
    {
        struct dpair *p = &n->u.pairs[i++];
        p->line = p->column = 0; /* JSON has no positions */
        p->key = arena_strndup(jc->arena, key, klen);
        p->klen = klen;
        p->val = p->key ? from_json(jc, m, depth + 1) : NULL;
        if (!p->val) {
            return -1;
        }
    }
    return 0;
}

static int convert_array(struct jconv *jc, const json_t *v, struct dnode *n, int depth)
{
    n->len = json_array_size(v);
    n->u.items = n->len ? arena_alloc(jc->arena, n->len * sizeof(struct dnode *)) : NULL;
    if (n->len && !n->u.items) {
        return -1;
    }
    for (size_t i = 0; i < n->len; i++) {
        n->u.items[i] = from_json(jc, json_array_get(v, i), depth + 1);
        if (!n->u.items[i]) {
            return -1;
        }
    }
    return 0;
}

/* NULL on OOM or a limit (jc->too_deep / too_many tell which). */
static struct dnode *from_json(struct jconv *jc, const json_t *v, int depth)
{
    if ((json_is_object(v) || json_is_array(v)) && depth > LIMIT_SPEC_DEPTH) {
        jc->too_deep = true;
        return NULL;
    }
    if (++jc->nodes > LIMIT_SPEC_NODES) {
        jc->too_many = true;
        return NULL;
    }
    struct dnode *n = arena_calloc(jc->arena, 1, sizeof(*n));
    if (!n) {
        return NULL;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        n->kind = DN_MAP;
        return convert_object(jc, v, n, depth) ? NULL : n;
    case JSON_ARRAY:
        n->kind = DN_SEQ;
        return convert_array(jc, v, n, depth) ? NULL : n;
    case JSON_STRING:
        n->kind = DN_STR;
        n->len = json_string_length(v);
        n->u.str = arena_strndup(jc->arena, json_string_value(v), n->len);
        return n->u.str ? n : NULL;
    case JSON_INTEGER:
        n->kind = DN_INT;
        n->u.i = json_integer_value(v);
        return n;
    case JSON_REAL:
        n->kind = DN_REAL;
        n->u.d = json_real_value(v);
        return n;
    case JSON_TRUE:
        n->kind = DN_TRUE;
        return n;
    case JSON_FALSE:
        n->kind = DN_FALSE;
        return n;
    case JSON_NULL:
        n->kind = DN_NULL;
        return n;
    }
    return NULL;
}

/* jansson sometimes reports an allocation failure as a syntax error ("string or '}'
 * expected"). A genuine syntax error repeats identically on a second parse; only bad input
 * pays for that second parse. */
static bool json_error_is_real(const char *buf, size_t len, const json_error_t *first)
{
    if (json_error_code(first) == json_error_out_of_memory || first->text[0] == '\0') {
        return false;
    }
    json_error_t again;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &again);
    if (root) {
        json_decref(root);
        return false;
    }
    return strcmp(again.text, first->text) == 0 && again.position == first->position;
}

struct dnode *dom_parse_json(struct arena *a, const char *buf, size_t len, struct err *err)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (!json_error_is_real(buf, len, &je)) {
            err_nomem(err);
            return NULL;
        }
        char where[64];
        snprintf(where, sizeof(where), "line %d, column %d", je.line, je.column);
        err_set(err, ERR_SPEC_SYNTAX, where, "JSON syntax error: %s", je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        err_set(err, ERR_SPEC_SYNTAX, "", "the document must be a JSON object");
        return NULL;
    }
    struct dnode *out = dom_from_json(a, root, err);
    json_decref(root);
    return out;
}

struct dnode *dom_from_json(struct arena *a, const json_t *root, struct err *err)
{
    struct jconv jc = {.arena = a};
    struct dnode *out = from_json(&jc, root, 1);
    if (jc.too_deep) {
        err_set(err, ERR_SPEC_SYNTAX, "", "the document nests deeper than %d levels",
                LIMIT_SPEC_DEPTH);
    } else if (jc.too_many) {
        err_set(err, ERR_TOO_LARGE, "", "the document has more than %d values", LIMIT_SPEC_NODES);
    } else if (!out) {
        err_nomem(err);
    }
    return out;
}

static int sniff_format(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        i = 3; /* UTF-8 byte order mark */
    }
    while (i < len && buf[i] && strchr(" \t\r\n", buf[i])) {
        i++;
    }
    return (i < len && (buf[i] == '{' || buf[i] == '[')) ? DOM_JSON : DOM_YAML;
}

struct dnode *dom_parse(struct arena *a, const char *buf, size_t len, int fmt, int *format_out,
                        struct err *err)
{
    if (len == 0 || !buf) {
        err_set(err, ERR_SPEC_SYNTAX, "", "the document is empty");
        return NULL;
    }
    if (fmt != DOM_JSON && fmt != DOM_YAML) {
        fmt = sniff_format(buf, len);
    }
    if (format_out) {
        *format_out = fmt;
    }
    return fmt == DOM_JSON ? dom_parse_json(a, buf, len, err) : dom_parse_yaml(a, buf, len, err);
}
