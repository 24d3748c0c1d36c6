/*
 * YAML input through libyaml's event API (never its document API, which expands aliases),
 * straight into arena nodes.
 *
 * The events come from yaml_fast.c when the input is plain block YAML of the kind specs are
 * written in (it yields exactly libyaml's events, several times faster), else from libyaml.
 * Either way every check below applies to the same events.
 *
 * We accept the subset a spec needs and refuse, with line and column, everything that makes
 * YAML dangerous or ambiguous: anchors and aliases (billion laughs), merge keys, custom tags,
 * more than one document, duplicate keys, non-scalar keys, NUL characters, and nesting past
 * LIMIT_SPEC_DEPTH (libyaml 0.2.5 has no depth limit of its own).
 *
 * Members of open collections wait on one shared scratch stack; when a collection ends they
 * are copied into an exactly sized arena array. Duplicate keys are found by a linear scan of
 * the mapping's members so far, or through a hash of its keys once it grows large, so a
 * hostile mapping of many keys costs linear time.
 */
#include "render/dom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/limits.h"
#include "common/strutil.h"
#include "render/yaml_fast.h"

#define LINEAR_KEY_SCAN 32 /* members a mapping may have before its keys are hashed */

struct yframe {
    struct dnode *node;
    size_t base;       /* first member on the scratch stack */
    bool have_key;     /* mappings: a key waits for its value on the stack */
    size_t *hash;      /* large mappings: open addressing over scratch indexes + 1 */
    size_t hcap;
    size_t hcount;
};

struct yload {
    struct arena *arena;
    struct err *err;
    struct dnode *root;
    struct yframe stack[LIMIT_SPEC_DEPTH + 1];
    int depth;
    size_t nodes;
    int documents;
    struct dpair *scratch; /* members of the open collections, innermost last */
    size_t top, cap;
};

static int yerr(struct yload *y, const yaml_mark_t *mark, enum err_code code, const char *fmt, ...)
    PRINTF(4, 5);

static int yerr(struct yload *y, const yaml_mark_t *mark, enum err_code code, const char *fmt, ...)
{
    char where[64];
    snprintf(where, sizeof(where), "line %zu, column %zu", mark->line + 1, mark->column + 1);
    va_list ap;
    va_start(ap, fmt);
    err_setv(y->err, code, where, fmt, ap);
    va_end(ap);
    return -1;
}

static bool core_tag(const char *tag, const char *kind)
{
    static const char prefix[] = "tag:yaml.org,2002:";
    if (strcmp(tag, "!") == 0) {
        return true;
    }
    if (strncmp(tag, prefix, sizeof(prefix) - 1) != 0) {
        return false;
    }
    tag += sizeof(prefix) - 1;
    if (kind) {
        return strcmp(tag, kind) == 0;
    }
    return strcmp(tag, "str") == 0 || strcmp(tag, "int") == 0 || strcmp(tag, "float") == 0 ||
           strcmp(tag, "bool") == 0 || strcmp(tag, "null") == 0;
}

static int check_node_props(struct yload *y, const yaml_event_t *ev, const yaml_char_t *anchor,
                            const yaml_char_t *tag, const char *collection_kind)
{
    if (anchor) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX,
                    "YAML anchors (&%s) are not supported; write the value out", (const char *)anchor);
    }
    if (tag && !core_tag((const char *)tag, collection_kind)) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "YAML tag '%s' is not supported",
                    (const char *)tag);
    }
    if (++y->nodes > LIMIT_SPEC_NODES) {
        return yerr(y, &ev->start_mark, ERR_TOO_LARGE, "the document has too many values");
    }
    return 0;
}

static int scratch_push(struct yload *y, const char *key, size_t klen, struct dnode *val)
{
    if (y->top == y->cap) {
        size_t cap = y->cap ? y->cap * 2 : 64;
        struct dpair *p = realloc(y->scratch, cap * sizeof(*p));
        if (!p) {
            return err_nomem(y->err);
        }
        y->scratch = p;
        y->cap = cap;
    }
    y->scratch[y->top++] = (struct dpair){.key = key, .klen = klen, .val = val};
    return 0;
}

static size_t key_hash(const char *k, size_t n)
{
    size_t h = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)k[i]) * 1099511628211u;
    }
    return h;
}

static bool same_key(const struct dpair *p, const char *k, size_t n)
{
    return p->klen == n && memcmp(p->key, k, n) == 0;
}

/* Insert scratch index `idx` into the frame's key hash (growing it). -1 on OOM. */
static int hash_insert(struct yload *y, struct yframe *f, size_t idx)
{
    if ((f->hcount + 1) * 2 > f->hcap) {
        size_t cap = f->hcap ? f->hcap * 2 : 128;
        size_t *h = calloc(cap, sizeof(*h));
        if (!h) {
            return -1;
        }
        for (size_t i = 0; i < f->hcap; i++) {
            if (f->hash[i]) {
                const struct dpair *p = &y->scratch[f->hash[i] - 1];
                size_t s = key_hash(p->key, p->klen) & (cap - 1);
                while (h[s]) {
                    s = (s + 1) & (cap - 1);
                }
                h[s] = f->hash[i];
            }
        }
        free(f->hash);
        f->hash = h;
        f->hcap = cap;
    }
    const struct dpair *p = &y->scratch[idx];
    size_t s = key_hash(p->key, p->klen) & (f->hcap - 1);
    while (f->hash[s]) {
        s = (s + 1) & (f->hcap - 1);
    }
    f->hash[s] = idx + 1;
    f->hcount++;
    return 0;
}

static bool key_seen(struct yload *y, struct yframe *f, const char *k, size_t n)
{
    size_t members = (y->top - f->base) / 2;
    if (members <= LINEAR_KEY_SCAN) {
        for (size_t i = f->base; i < y->top; i += 2) {
            if (same_key(&y->scratch[i], k, n)) {
                return true;
            }
        }
        return false;
    }
    if (!f->hash) {
        return false; /* caller hashes the keys first */
    }
    size_t s = key_hash(k, n) & (f->hcap - 1);
    while (f->hash[s]) {
        if (same_key(&y->scratch[f->hash[s] - 1], k, n)) {
            return true;
        }
        s = (s + 1) & (f->hcap - 1);
    }
    return false;
}

/* Start hashing a mapping's keys once it is past the linear scan size. -1 on OOM. */
static int hash_all_keys(struct yload *y, struct yframe *f)
{
    for (size_t i = f->base; i < y->top; i += 2) {
        if (hash_insert(y, f, i)) {
            return -1;
        }
    }
    return 0;
}

/* A mapping key: check it, then park it on the scratch stack until its value arrives. */
static int on_key(struct yload *y, struct yframe *f, const yaml_event_t *ev, struct dnode *key)
{
    const char *k = key->u.str;
    size_t n = key->len;
    if (n == 2 && memcmp(k, "<<", 2) == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "YAML merge keys (<<) are not supported");
    }
    size_t members = (y->top - f->base) / 2;
    if (members == LINEAR_KEY_SCAN + 1 && !f->hash && hash_all_keys(y, f)) {
        return err_nomem(y->err);
    }
    if (key_seen(y, f, k, n)) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "duplicate key '%s'", k);
    }
    /* The key's pair slot holds the key; its value takes the next slot. */
    if (scratch_push(y, k, n, key) || (f->hash && hash_insert(y, f, y->top - 1))) {
        return err_nomem(y->err);
    }
    f->have_key = true;
    return 0;
}

/* Attach a finished node to the innermost open collection (or make it the root). */
static int attach(struct yload *y, struct dnode *node, const yaml_event_t *ev,
                  const yaml_mark_t *start)
{
    if (y->depth == 0) {
        if (node->kind != DN_MAP) {
            return yerr(y, start, ERR_SPEC_SYNTAX, "the document must be a mapping");
        }
        y->root = node;
        return 0;
    }
    struct yframe *f = &y->stack[y->depth - 1];
    if (f->node->kind == DN_SEQ) {
        return scratch_push(y, NULL, 0, node);
    }
    if (!f->have_key) {
        if (node->kind != DN_STR) {
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "mapping keys must be scalars");
        }
        return on_key(y, f, ev, node);
    }
    f->have_key = false;
    return scratch_push(y, NULL, 0, node);
}

static struct dnode *new_node(struct yload *y, enum dkind kind, const yaml_mark_t *mark)
{
    struct dnode *n = arena_alloc(y->arena, sizeof(*n));
    if (!n) {
        err_nomem(y->err);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = (uint32_t)mark->line + 1;
    n->column = (uint32_t)mark->column + 1;
    return n;
}

static int on_scalar(struct yload *y, const yaml_event_t *ev)
{
    const yaml_char_t *tag = ev->data.scalar.tag;
    if (check_node_props(y, ev, ev->data.scalar.anchor, tag, NULL)) {
        return -1;
    }
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(text, '\0', len)) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "NUL characters are not allowed");
    }
    if (!str_valid_utf8(text, len)) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "invalid UTF-8 in a scalar");
    }
    struct dnode *s = new_node(y, DN_STR, &ev->start_mark);
    char *copy = s ? arena_strndup(y->arena, text, len) : NULL;
    if (!copy) {
        return err_nomem(y->err);
    }
    bool str_tag = tag && core_tag((const char *)tag, "str");
    s->plain = !str_tag && (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
                            (tag && strcmp((const char *)tag, "!") != 0));
    s->u.str = copy;
    s->len = len;
    return attach(y, s, ev, &ev->start_mark);
}

static int on_collection_start(struct yload *y, const yaml_event_t *ev, bool mapping)
{
    const yaml_char_t *anchor = mapping ? ev->data.mapping_start.anchor
                                        : ev->data.sequence_start.anchor;
    const yaml_char_t *tag = mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    if (check_node_props(y, ev, anchor, tag, mapping ? "map" : "seq")) {
        return -1;
    }
    if (y->depth >= LIMIT_SPEC_DEPTH) {
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "the document nests deeper than %d levels",
                    LIMIT_SPEC_DEPTH);
    }
    if (y->depth > 0) {
        const struct yframe *f = &y->stack[y->depth - 1];
        if (f->node->kind == DN_MAP && !f->have_key) {
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "mapping keys must be scalars");
        }
    }
    struct dnode *node = new_node(y, mapping ? DN_MAP : DN_SEQ, &ev->start_mark);
    if (!node) {
        return -1;
    }
    y->stack[y->depth] = (struct yframe){.node = node, .base = y->top};
    y->depth++;
    return 0;
}

/* Move the collection's members from the scratch stack into an exactly sized arena array. */
static int close_collection(struct yload *y, struct yframe *f)
{
    size_t n = y->top - f->base;
    struct dnode *node = f->node;
    if (node->kind == DN_MAP) {
        size_t pairs = n / 2; /* libyaml always pairs keys with values */
        struct dpair *p = pairs ? arena_alloc(y->arena, pairs * sizeof(*p)) : NULL;
        if (pairs && !p) {
            return err_nomem(y->err);
        }
        for (size_t i = 0; i < pairs; i++) {
            const struct dnode *key = y->scratch[f->base + 2 * i].val;
            p[i] = y->scratch[f->base + 2 * i];
            p[i].line = key->line;
            p[i].column = key->column;
            p[i].val = y->scratch[f->base + 2 * i + 1].val;
        }
        node->u.pairs = p;
        node->len = pairs;
    } else {
        struct dnode **items = n ? arena_alloc(y->arena, n * sizeof(*items)) : NULL;
        if (n && !items) {
            return err_nomem(y->err);
        }
        for (size_t i = 0; i < n; i++) {
            items[i] = y->scratch[f->base + i].val;
        }
        node->u.items = items;
        node->len = n;
    }
    y->top = f->base;
    return 0;
}

static int on_collection_end(struct yload *y, const yaml_event_t *ev)
{
    struct yframe f = y->stack[--y->depth];
    int rc = close_collection(y, &f);
    free(f.hash);
    if (rc) {
        return rc;
    }
    yaml_mark_t start = {.line = f.node->line - 1, .column = f.node->column - 1};
    return attach(y, f.node, ev, &start);
}

static int on_event(struct yload *y, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++y->documents > 1) {
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX,
                        "only one YAML document is allowed; found another here");
        }
        if (ev->data.document_start.tag_directives.start !=
            ev->data.document_start.tag_directives.end) {
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "YAML %%TAG directives are not supported");
        }
        return 0;
    case YAML_ALIAS_EVENT:
        return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX,
                    "YAML aliases (*%s) are not supported; write the value out",
                    (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return on_scalar(y, ev);
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(y, ev, true);
    case YAML_SEQUENCE_START_EVENT:
        return on_collection_start(y, ev, false);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return on_collection_end(y, ev);
    default:
        return 0;
    }
}

/* libyaml reports reader (encoding) errors as a byte offset only. */
static yaml_mark_t mark_at_offset(const char *buf, size_t len, size_t offset)
{
    yaml_mark_t m = {.index = offset, .line = 0, .column = 0};
    for (size_t i = 0; i < offset && i < len; i++) {
        if (buf[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    return m;
}

static int parser_error(struct yload *y, const yaml_parser_t *parser, const char *buf, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        return err_nomem(y->err);
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%s%s%s", parser->problem ? parser->problem : "syntax error",
             parser->context ? " " : "", parser->context ? parser->context : "");
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        mark = mark_at_offset(buf, len, parser->problem_offset);
    }
    return yerr(y, &mark, ERR_SPEC_SYNTAX, "YAML syntax error: %s", msg);
}

/* Feed the fast path's events; it has already checked the whole input. */
static int load_fast_events(struct yload *y, const struct yfast *fast)
{
    for (size_t i = 0; i < fast->count; i++) {
        yaml_event_t ev;
        yfast_to_yaml_event(&fast->events[i], &ev);
        if (on_event(y, &ev)) {
            return -1;
        }
    }
    return 0;
}

static int load_libyaml_events(struct yload *y, const char *buf, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return err_nomem(y->err);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(y, &parser, buf, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(y, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

static struct dnode *parse_yaml(struct arena *a, const char *buf, size_t len, bool try_fast,
                                struct err *err)
{
    struct yload y = {.arena = a, .err = err};
    struct yfast fast;
    enum yfast_result fast_result = YFAST_UNSUPPORTED;
    int rc;
    if (try_fast) {
        fast_result = yfast_scan(&fast, buf, len);
    }
    switch (fast_result) {
    case YFAST_OK:
        rc = load_fast_events(&y, &fast);
        break;
    case YFAST_NOMEM:
        rc = err_nomem(err);
        break;
    default:
        rc = load_libyaml_events(&y, buf, len);
        break;
    }
    if (try_fast) {
        yfast_release(&fast);
    }
    while (y.depth > 0) {
        free(y.stack[--y.depth].hash);
    }
    free(y.scratch);
    if (rc == 0 && !y.root) {
        rc = err_set(err, ERR_SPEC_SYNTAX, "", "the document is empty");
    }
    return rc ? NULL : y.root;
}

/* The fast path takes the plain YAML specs are written in; libyaml takes everything else,
 * including every input with a syntax error, so errors read the same either way. */
struct dnode *dom_parse_yaml(struct arena *a, const char *buf, size_t len, struct err *err)
{
    return parse_yaml(a, buf, len, true, err);
}

struct dnode *dom_parse_yaml_libyaml(struct arena *a, const char *buf, size_t len,
                                     struct err *err)
{
    return parse_yaml(a, buf, len, false, err);
}
