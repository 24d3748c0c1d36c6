#include "render/doc.h"

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "render/internal.h"

static size_t mark_hash(const json_t *node, size_t cap)
{
    uintptr_t x = (uintptr_t)node >> 4;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

static int marks_grow(struct doc_marks *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    struct doc_mark *slots = calloc(cap, sizeof(*slots));
    if (!slots) {
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].node) {
            size_t h = mark_hash(m->slots[i].node, cap);
            while (slots[h].node) {
                h = (h + 1) & (cap - 1);
            }
            slots[h] = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int doc_mark_add(struct doc *d, const json_t *node, uint32_t line, uint32_t column, bool plain)
{
    struct doc_marks *m = &d->marks;
    if ((m->used + 1) * 4 > m->cap * 3 && marks_grow(m)) {
        return -1;
    }
    size_t h = mark_hash(node, m->cap);
    while (m->slots[h].node && m->slots[h].node != node) {
        h = (h + 1) & (m->cap - 1);
    }
    if (!m->slots[h].node) {
        m->used++;
    }
    m->slots[h] = (struct doc_mark){.node = node, .line = line, .column = column, .plain = plain};
    return 0;
}

const struct doc_mark *doc_mark_get(const struct doc *d, const json_t *node)
{
    const struct doc_marks *m = &d->marks;
    if (!m->cap || !node) {
        return NULL;
    }
    size_t h = mark_hash(node, m->cap);
    while (m->slots[h].node) {
        if (m->slots[h].node == node) {
            return &m->slots[h];
        }
        h = (h + 1) & (m->cap - 1);
    }
    return NULL;
}

bool doc_is_plain(const struct doc *d, const json_t *node)
{
    const struct doc_mark *mk = doc_mark_get(d, node);
    return mk && mk->plain;
}

void doc_release(struct doc *d)
{
    if (!d) {
        return;
    }
    json_decref(d->root);
    free(d->marks.slots);
    memset(d, 0, sizeof(*d));
}

/* Depth of a jansson tree, stopping early once past `limit`. */
static size_t tree_depth(const json_t *v, size_t limit, size_t *nodes)
{
    (*nodes)++;
    if (limit == 0) {
        return 1;
    }
    size_t best = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)(uintptr_t)v, k, m)
        {
            size_t d = tree_depth(m, limit - 1, nodes);
            best = d > best ? d : best;
        }
        return best + 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t d = tree_depth(json_array_get(v, i), limit - 1, nodes);
            best = d > best ? d : best;
        }
        return best + 1;
    }
    return 0;
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

static int doc_parse_json(const char *buf, size_t len, struct doc *out, struct err *err)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (!json_error_is_real(buf, len, &je)) {
            return err_nomem(err);
        }
        char where[64];
        snprintf(where, sizeof(where), "line %d, column %d", je.line, je.column);
        return err_set(err, ERR_SPEC_SYNTAX, where, "JSON syntax error: %s", je.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, ERR_SPEC_SYNTAX, "", "the document must be a JSON object");
    }
    size_t nodes = 0;
    size_t depth = tree_depth(root, LIMIT_SPEC_DEPTH + 1, &nodes);
    if (depth > LIMIT_SPEC_DEPTH) {
        json_decref(root);
        return err_set(err, ERR_SPEC_SYNTAX, "", "the document nests deeper than %d levels",
                       LIMIT_SPEC_DEPTH);
    }
    if (nodes > LIMIT_SPEC_NODES) {
        json_decref(root);
        return err_set(err, ERR_TOO_LARGE, "", "the document has more than %d values",
                       LIMIT_SPEC_NODES);
    }
    memset(out, 0, sizeof(*out));
    out->root = root;
    out->format = DOC_JSON;
    return 0;
}

static int sniff_format(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        i = 3; /* UTF-8 byte order mark */
    }
    while (i < len && strchr(" \t\r\n", buf[i]) && buf[i]) {
        i++;
    }
    return (i < len && (buf[i] == '{' || buf[i] == '[')) ? DOC_JSON : DOC_YAML;
}

int doc_parse(const char *buf, size_t len, int fmt, struct doc *out, struct err *err)
{
    if (len == 0 || !buf) {
        return err_set(err, ERR_SPEC_SYNTAX, "", "the document is empty");
    }
    if (fmt != DOC_JSON && fmt != DOC_YAML) {
        fmt = sniff_format(buf, len);
    }
    if (fmt == DOC_JSON) {
        return doc_parse_json(buf, len, out, err);
    }
    return doc_parse_yaml(buf, len, out, err);
}
