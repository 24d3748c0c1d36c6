#ifndef OCIRENDER_RENDER_DOM_H
#define OCIRENDER_RENDER_DOM_H

/*
 * A parsed input document before schema normalization, allocated in the render's arena.
 *
 * JSON values keep their JSON types. In YAML every scalar is a string node that remembers
 * its line and column and whether it was plain (unquoted, untagged): only the schema walk,
 * which knows each field's type, decides what a plain scalar means (YAML 1.2 core schema),
 * so `PORT: 8080` in a string field stays "8080" while `cpu: 0.5` becomes a number.
 * Mappings keep their members in document order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "render/arena.h"

enum dkind { DN_NULL, DN_FALSE, DN_TRUE, DN_INT, DN_U64, DN_REAL, DN_STR, DN_MAP, DN_SEQ };

struct dnode;

struct dpair {
    const char *key; /* NUL-terminated; YAML and JSON keys never hold NUL here */
    size_t klen;
    struct dnode *val;
    uint32_t line;   /* the key's own position (an unknown field is reported there); 0: JSON */
    uint32_t column;
};

struct dnode {
    uint8_t kind;      /* enum dkind */
    bool plain;        /* YAML plain scalar */
    uint32_t line;     /* 1-based; 0 when unknown (JSON) */
    uint32_t column;
    size_t len;        /* DN_STR: bytes; DN_MAP, DN_SEQ: members */
    union {
        const char *str;     /* DN_STR (NUL-terminated, may hold NUL for JSON "\u0000") */
        long long i;         /* DN_INT */
        unsigned long long u;/* DN_U64: above INT64_MAX */
        double d;            /* DN_REAL */
        struct dpair *pairs; /* DN_MAP */
        struct dnode **items;/* DN_SEQ */
    } u;
};

enum dom_format { DOM_JSON = 1, DOM_YAML = 2 };

/* Parse one document into `a`. `fmt` 0 sniffs: '{' or '[' first means JSON, anything else
 * YAML. The top level must be a mapping. Syntax problems are ERR_SPEC_SYNTAX with
 * "line L, column C" as the path; NULL on any error. */
struct dnode *dom_parse(struct arena *a, const char *buf, size_t len, int fmt, int *format_out,
                        struct err *err) WARN_UNUSED;
struct dnode *dom_parse_yaml(struct arena *a, const char *buf, size_t len,
                             struct err *err) WARN_UNUSED;
/* dom_parse_yaml without its fast path (render/yaml_fast.c): libyaml's events only. The
 * differential tests compare the two. */
struct dnode *dom_parse_yaml_libyaml(struct arena *a, const char *buf, size_t len,
                                     struct err *err) WARN_UNUSED;
struct dnode *dom_parse_json(struct arena *a, const char *buf, size_t len,
                             struct err *err) WARN_UNUSED;

/* A document given as a jansson value (CLI overrides), with the same limits. */
struct dnode *dom_from_json(struct arena *a, const json_t *root, struct err *err) WARN_UNUSED;

/* Member `key` of a mapping node, or NULL. */
const struct dnode *dom_get(const struct dnode *map, const char *key);

#endif
