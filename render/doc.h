#ifndef OCIRENDER_RENDER_DOC_H
#define OCIRENDER_RENDER_DOC_H

/*
 * A parsed input document as a jansson tree, for the jansson schema walk (render/schema.c).
 * Parsing itself is render/dom.c and render/dom_yaml.c; doc_from_dom() converts the result.
 *
 * JSON documents are plain jansson trees. YAML documents are jansson trees in which every
 * scalar is a JSON string; a side table remembers, per node, its line and column and whether
 * the scalar was plain (unquoted, untagged). Only the schema walk, which knows each field's
 * type, decides what a plain scalar means (YAML 1.2 core schema), so `PORT: 8080` in a
 * string field stays "8080" while `cpu: 0.5` becomes a number.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "render/dom.h"

enum doc_format { DOC_JSON = 1, DOC_YAML = 2 };

struct doc_mark {
    const json_t *node;
    uint32_t line; /* 1-based */
    uint32_t column;
    bool plain;
};

struct doc_marks {
    struct doc_mark *slots; /* open addressing on the node pointer */
    size_t cap;
    size_t used;
};

struct doc {
    json_t *root;
    enum doc_format format;
    struct doc_marks marks; /* empty for JSON */
};

/* A jansson copy of a parsed arena document (render/dom.h parses both formats), with its
 * YAML positions and plainness recorded in `d->marks` for the jansson schema walk. `d->root`
 * is left to the caller. NULL on OOM. */
json_t *doc_from_dom(const struct dnode *n, struct doc *d);
void doc_release(struct doc *d);

/* Mapping keys of YAML documents are marked too, under the address of the key string inside
 * its object (the `key` json_object_foreach yields, stable while the member exists):
 * doc_key_node() turns such a key into the node to look up. */
static inline const json_t *doc_key_node(const char *key)
{
    return (const json_t *)(const void *)key;
}

/* NULL when the node has no mark (JSON, or built by us). */
const struct doc_mark *doc_mark_get(const struct doc *d, const json_t *node);
bool doc_is_plain(const struct doc *d, const json_t *node);

#endif
