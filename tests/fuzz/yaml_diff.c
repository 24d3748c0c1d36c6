/*
 * Streams libyaml's events next to the fast path's and stops at the first difference. Used
 * by unit_yaml_fast (corpora and hand-written cases) and fuzz_yaml_fast (libFuzzer).
 */
#include "tests/fuzz/yaml_diff.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "render/yaml_fast.h"

static const char *const event_names[] = {
    "none", "stream-start", "stream-end", "document-start", "document-end", "alias",
    "scalar", "sequence-start", "sequence-end", "mapping-start", "mapping-end"};

static const char *event_name(yaml_event_type_t t)
{
    return (unsigned)t < sizeof(event_names) / sizeof(event_names[0]) ? event_names[t] : "?";
}

static bool differ(char *why, size_t size, size_t i, const yaml_event_t *want,
                   const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(why, size, "event %zu (libyaml: %s at line %zu, column %zu): %s", i,
             event_name(want->type), want->start_mark.line, want->start_mark.column, detail);
    return true;
}

/* Describe the first way `got` (fast path) differs from `want` (libyaml) in `why`. */
static bool events_differ(const yaml_event_t *want, const yaml_event_t *got, size_t i,
                          char *why, size_t size)
{
    if (want->type != got->type) {
        return differ(why, size, i, want, "fast path has %s", event_name(got->type));
    }
    if (want->start_mark.line != got->start_mark.line ||
        want->start_mark.column != got->start_mark.column) {
        return differ(why, size, i, want, "fast path marks line %zu, column %zu",
                      got->start_mark.line, got->start_mark.column);
    }
    switch (want->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (want->data.document_start.implicit != got->data.document_start.implicit) {
            return differ(why, size, i, want, "implicit differs");
        }
        break;
    case YAML_DOCUMENT_END_EVENT:
        if (want->data.document_end.implicit != got->data.document_end.implicit) {
            return differ(why, size, i, want, "implicit differs");
        }
        break;
    case YAML_SCALAR_EVENT: {
        const struct yaml_event_s *w = want, *g = got;
        if (w->data.scalar.length != g->data.scalar.length ||
            memcmp(w->data.scalar.value, g->data.scalar.value, w->data.scalar.length) != 0) {
            return differ(why, size, i, want, "value \"%.*s\" vs fast \"%.*s\"",
                          (int)w->data.scalar.length, (const char *)w->data.scalar.value,
                          (int)g->data.scalar.length, (const char *)g->data.scalar.value);
        }
        if (w->data.scalar.style != g->data.scalar.style ||
            w->data.scalar.plain_implicit != g->data.scalar.plain_implicit ||
            w->data.scalar.quoted_implicit != g->data.scalar.quoted_implicit ||
            w->data.scalar.tag || w->data.scalar.anchor) {
            return differ(why, size, i, want, "style %d/%d/%d vs fast %d/%d/%d",
                          w->data.scalar.style, w->data.scalar.plain_implicit,
                          w->data.scalar.quoted_implicit, g->data.scalar.style,
                          g->data.scalar.plain_implicit, g->data.scalar.quoted_implicit);
        }
        break;
    }
    case YAML_SEQUENCE_START_EVENT:
        if (want->data.sequence_start.style != got->data.sequence_start.style ||
            want->data.sequence_start.implicit != got->data.sequence_start.implicit ||
            want->data.sequence_start.tag || want->data.sequence_start.anchor) {
            return differ(why, size, i, want, "sequence style or properties differ");
        }
        break;
    case YAML_MAPPING_START_EVENT:
        if (want->data.mapping_start.style != got->data.mapping_start.style ||
            want->data.mapping_start.implicit != got->data.mapping_start.implicit ||
            want->data.mapping_start.tag || want->data.mapping_start.anchor) {
            return differ(why, size, i, want, "mapping style or properties differ");
        }
        break;
    default:
        break;
    }
    return false;
}

static enum ydiff compare_with_libyaml(const struct yfast *fast, const char *buf, size_t len,
                                       char *why, size_t size)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(why, size, "libyaml: out of memory");
        return YDIFF_DIFFERENT;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    enum ydiff result = YDIFF_SAME;
    for (size_t i = 0; i < fast->count && result == YDIFF_SAME; i++) {
        yaml_event_t want, got;
        if (!yaml_parser_parse(&parser, &want)) {
            snprintf(why, size, "event %zu: libyaml fails (%s, line %zu, column %zu) where the "
                     "fast path went on", i, parser.problem ? parser.problem : "?",
                     parser.problem_mark.line + 1, parser.problem_mark.column + 1);
            result = YDIFF_DIFFERENT;
            break;
        }
        yfast_to_yaml_event(&fast->events[i], &got);
        if (events_differ(&want, &got, i, why, size)) {
            result = YDIFF_DIFFERENT;
        }
        yaml_event_delete(&want);
    }
    /* The fast list ends with stream-end, so libyaml has nothing left to give. */
    yaml_parser_delete(&parser);
    return result;
}

enum ydiff ydiff_check(const char *buf, size_t len, char *why, size_t why_size)
{
    struct yfast fast;
    enum yfast_result r = yfast_scan(&fast, buf, len);
    enum ydiff result;
    if (r == YFAST_UNSUPPORTED) {
        snprintf(why, why_size, "declined");
        result = YDIFF_DECLINED;
    } else if (r == YFAST_NOMEM) {
        snprintf(why, why_size, "fast path: out of memory");
        result = YDIFF_DIFFERENT;
    } else if (fast.count == 0 ||
               fast.events[fast.count - 1].type != YAML_STREAM_END_EVENT) {
        snprintf(why, why_size, "fast path: events do not end with stream-end");
        result = YDIFF_DIFFERENT;
    } else {
        result = compare_with_libyaml(&fast, buf, len, why, why_size);
    }
    yfast_release(&fast);
    return result;
}
