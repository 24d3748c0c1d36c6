#include "render/doc.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
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

/* Mark a mapping member's key under the stored key's address (doc_key_node), so errors about
 * the key itself (an unknown field) carry its line and column. */
static int mark_key(struct doc *d, json_t *obj, const struct dpair *p)
{
    if (!p->line) {
        return 0; /* JSON: no positions */
    }
    const char *stored = json_object_iter_key(json_object_iter_at(obj, p->key));
    return stored ? doc_mark_add(d, doc_key_node(stored), p->line, p->column, false) : 0;
}

static json_t *seq_from_dom(const struct dnode *n, struct doc *d)
{
    json_t *v = json_array();
    for (size_t i = 0; v && i < n->len; i++) {
        json_t *item = doc_from_dom(n->u.items[i], d);
        if (!item || json_array_append_new(v, item)) {
            json_decref(v);
            v = NULL;
        }
    }
    return v;
}

static json_t *map_from_dom(const struct dnode *n, struct doc *d)
{
    json_t *v = json_object();
    for (size_t i = 0; v && i < n->len; i++) {
        const struct dpair *p = &n->u.pairs[i];
        json_t *item = doc_from_dom(p->val, d);
        if (!item || json_object_setn_new_nocheck(v, p->key, p->klen, item) ||
            mark_key(d, v, p)) {
            json_decref(v);
            v = NULL;
        }
    }
    return v;
}

json_t *doc_from_dom(const struct dnode *n, struct doc *d)
{
    json_t *v = NULL;
    switch ((enum dkind)n->kind) {
    case DN_NULL: v = json_null(); break;
    case DN_TRUE: v = json_true(); break;
    case DN_FALSE: v = json_false(); break;
    case DN_INT: v = json_integer(n->u.i); break;
    case DN_U64: v = jsonx_u64_new(n->u.u); break;
    case DN_REAL: v = json_real(n->u.d); break;
    case DN_STR: v = json_stringn_nocheck(n->u.str, n->len); break;
    case DN_SEQ: v = seq_from_dom(n, d); break;
    case DN_MAP: v = map_from_dom(n, d); break;
    }
    if (v && n->line && doc_mark_add(d, v, n->line, n->column, n->plain)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}
