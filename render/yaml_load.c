/*
 * YAML input through libyaml's event API (never its document API, which expands aliases).
 *
 * We accept the subset a spec needs and refuse, with line and column, everything that makes
 * YAML dangerous or ambiguous: anchors and aliases (billion laughs), merge keys, custom tags,
 * more than one document, duplicate keys, non-scalar keys, NUL characters, and nesting past
 * LIMIT_SPEC_DEPTH (libyaml 0.2.5 has no depth limit of its own).
 */
#include "render/doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "common/limits.h"
#include "common/strutil.h"
#include "render/internal.h"

struct yframe {
    json_t *node;
    json_t *key; /* mapping frames: the key waiting for its value */
    yaml_mark_t start;
};

struct yload {
    struct doc *doc;
    struct err *err;
    struct yframe stack[LIMIT_SPEC_DEPTH + 1];
    int depth;
    size_t nodes;
    int documents;
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

/* Attach a finished node to the current container. Steals `node` (hence `_new`). */
static int attach_new(struct yload *y, json_t *node, const yaml_event_t *ev,
                      const yaml_mark_t *start, bool is_scalar)
{
    if (y->depth == 0) {
        if (!json_is_object(node)) {
            json_decref(node);
            return yerr(y, start, ERR_SPEC_SYNTAX, "the document must be a mapping");
        }
        y->doc->root = node;
        return 0;
    }
    struct yframe *f = &y->stack[y->depth - 1];
    if (json_is_array(f->node)) {
        return json_array_append_new(f->node, node) ? err_nomem(y->err) : 0;
    }
    if (!f->key) {
        if (!is_scalar) {
            json_decref(node);
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "mapping keys must be scalars");
        }
        const char *k = json_string_value(node);
        size_t klen = json_string_length(node);
        if (strcmp(k, "<<") == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            json_decref(node);
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "YAML merge keys (<<) are not supported");
        }
        if (json_object_getn(f->node, k, klen)) {
            int rc = yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "duplicate key '%s'", k);
            json_decref(node);
            return rc;
        }
        f->key = node;
        return 0;
    }
    json_t *key = f->key;
    f->key = NULL;
    int rc = json_object_setn_new_nocheck(f->node, json_string_value(key), json_string_length(key),
                                          node);
    if (!rc) {
        /* The key's own position, for errors about the key (an unknown field). */
        const struct doc_mark *km = doc_mark_get(y->doc, key);
        const char *stored = json_object_iter_key(json_object_iter_at(f->node, json_string_value(key)));
        rc = km && stored ? doc_mark_add(y->doc, doc_key_node(stored), km->line, km->column, false)
                          : 0;
    }
    json_decref(key);
    return rc ? err_nomem(y->err) : 0;
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
    json_t *s = json_stringn_nocheck(text, len);
    if (!s) {
        return err_nomem(y->err);
    }
    bool str_tag = tag && core_tag((const char *)tag, "str");
    bool plain = !str_tag && (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
                              (tag && strcmp((const char *)tag, "!") != 0));
    if (doc_mark_add(y->doc, s, (uint32_t)ev->start_mark.line + 1,
                     (uint32_t)ev->start_mark.column + 1, plain)) {
        json_decref(s);
        return err_nomem(y->err);
    }
    return attach_new(y, s, ev, &ev->start_mark, true);
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
        struct yframe *f = &y->stack[y->depth - 1];
        if (json_is_object(f->node) && !f->key) {
            return yerr(y, &ev->start_mark, ERR_SPEC_SYNTAX, "mapping keys must be scalars");
        }
    }
    json_t *node = mapping ? json_object() : json_array();
    if (!node || doc_mark_add(y->doc, node, (uint32_t)ev->start_mark.line + 1,
                              (uint32_t)ev->start_mark.column + 1, false)) {
        json_decref(node);
        return err_nomem(y->err);
    }
    y->stack[y->depth].node = node;
    y->stack[y->depth].key = NULL;
    y->stack[y->depth].start = ev->start_mark;
    y->depth++;
    return 0;
}

static int on_collection_end(struct yload *y, const yaml_event_t *ev)
{
    struct yframe f = y->stack[--y->depth];
    json_decref(f.key); /* cannot be set: libyaml always pairs keys with values */
    return attach_new(y, f.node, ev, &f.start, false);
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

static void unwind(struct yload *y)
{
    while (y->depth > 0) {
        struct yframe *f = &y->stack[--y->depth];
        json_decref(f->key);
        json_decref(f->node);
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

int doc_parse_yaml(const char *buf, size_t len, struct doc *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->format = DOC_YAML;
    struct yload y = {.doc = out, .err = err};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        return err_nomem(err);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    int rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = err_nomem(err);
                break;
            }
            char msg[256];
            snprintf(msg, sizeof(msg), "%s%s%s", parser.problem ? parser.problem : "syntax error",
                     parser.context ? " " : "", parser.context ? parser.context : "");
            yaml_mark_t mark = parser.problem_mark;
            if (parser.error == YAML_READER_ERROR) {
                mark = mark_at_offset(buf, len, parser.problem_offset);
            }
            rc = yerr(&y, &mark, ERR_SPEC_SYNTAX, "YAML syntax error: %s", msg);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&y, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    unwind(&y);
    if (rc == 0 && !out->root) {
        rc = err_set(err, ERR_SPEC_SYNTAX, "", "the document is empty");
    }
    if (rc) {
        doc_release(out);
        return -1;
    }
    return 0;
}
