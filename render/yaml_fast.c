/*
 * A fast event source for the YAML that spec authors write, producing exactly the events
 * (types, scalar bytes and styles, start lines and columns) that libyaml 0.2.5 produces for
 * the same bytes. dom_parse_yaml tries it first; on anything outside the subset it answers
 * "unsupported" before a single event reaches the DOM builder, which then parses the input
 * with libyaml, so every error message is still libyaml's: this file never reports a syntax
 * error of its own, it only declines.
 *
 * Two phases keep a decline free of side effects: the whole buffer is scanned into a compact
 * event list first (scalars point into the input, or into one scratch buffer when quotes had
 * to be unescaped), and only a fully scanned input is handed on. Work is linear in the input.
 *
 * The subset (anything else, and anything doubtful, is declined):
 *   - bytes: printable ASCII and "\n" only (no tab, CR, BOM, control or non-ASCII byte);
 *   - an optional "---" first line; no "...", "%" directives or second document; the root is
 *     a block mapping;
 *   - block mappings and block sequences indented with spaces, including the indentless
 *     sequence ("key:" then "- item" at the key's column) and "- key: value" items; a dedent
 *     must land exactly on an open collection's column;
 *   - empty values ("key:" or "-" with nothing after), reported as libyaml does: an empty
 *     plain scalar marked just after the ":" or "-";
 *   - flow collections ("[a, b]", "{k: v}", nested, empty) that open and close on one line,
 *     whose mapping entries are all "key: value" (no empty values, no trailing comma, no
 *     "?" keys, no "[a: b]" pairs);
 *   - one-line plain scalars (a following more-indented line that would continue one is
 *     declined), one-line single-quoted scalars ('' escape) and one-line double-quoted
 *     scalars with the escapes \" \\ \/ \n \t;
 *   - comments ("#" at a line start or after a space) and blank lines;
 *   - mapping keys at most 1024 bytes from their start to the ":" (libyaml's simple-key
 *     limit); no anchors, aliases, tags, block scalars ("|", ">") or complex keys.
 *
 * Marks follow libyaml's scanner: a block mapping starts at its first key, a block sequence at
 * its first "-", an implicit document at its first token; a collection that ends on a dedent
 * ends at the first token of the dedented line; whatever is still open at the end of the input
 * ends, with the document and the stream, at column 0 of the line after the last one.
 */
#include "render/yaml_fast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

#define SIMPLE_KEY_LIMIT 1024 /* libyaml forgets a possible key this many bytes before ":" */

enum step { STEP_OK = 0, STEP_DECLINE, STEP_NOMEM };

#define TRY(expr)                                                                            \
    do {                                                                                     \
        enum step step_ = (expr);                                                            \
        if (step_ != STEP_OK) {                                                              \
            return step_;                                                                    \
        }                                                                                    \
    } while (0)

enum pending { PENDING_NONE, PENDING_KEY_VALUE, PENDING_ITEM };

struct block_frame {
    size_t column;
    bool mapping;
    bool indentless; /* a sequence at its parent mapping's column */
};

struct scalar {
    size_t start, stop; /* stop: the first byte after the scalar (plain: where scanning ended) */
    const char *text;
    size_t len;
    uint8_t style;
    bool is_key; /* followed by ": " or ":" at the end of the line */
    size_t colon;
};

struct scan {
    const char *b;
    size_t len;
    struct yfast *f;
    size_t line_start, eol; /* the current line */
    uint32_t line;
    struct block_frame frames[LIMIT_SPEC_DEPTH + 1];
    size_t depth, flow_depth;
    enum pending pending;
    uint32_t pending_line, pending_column;
    bool root_started;
};

static const char empty_text[] = "";

static bool supported_bytes(const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b[i];
        if ((c < 0x20 && c != '\n') || c >= 0x7f) {
            return false;
        }
    }
    return true;
}

static enum step emit(struct scan *s, yaml_event_type_t type, uint8_t style, size_t column,
                      const char *text, size_t len)
{
    struct yfast *f = s->f;
    if (f->count == f->cap) {
        size_t cap = f->cap * 2;
        struct yfast_event *e;
        if (f->events == f->inline_events) {
            e = malloc(cap * sizeof(*e));
            if (e) {
                memcpy(e, f->inline_events, f->count * sizeof(*e));
            }
        } else {
            e = realloc(f->events, cap * sizeof(*e));
        }
        if (!e) {
            return STEP_NOMEM;
        }
        f->events = e;
        f->cap = cap;
    }
    f->events[f->count++] = (struct yfast_event){
        .type = (uint8_t)type, .style = style, .implicit = 1, .line = s->line,
        .column = (uint32_t)column, .text = text, .len = len};
    return STEP_OK;
}

static enum step emit_at(struct scan *s, yaml_event_type_t type, uint8_t style, uint32_t line,
                         size_t column)
{
    TRY(emit(s, type, style, column, empty_text, 0));
    s->f->events[s->f->count - 1].line = line;
    return STEP_OK;
}

static size_t column_of(const struct scan *s, size_t pos)
{
    return pos - s->line_start;
}

/* The byte at pos on the current line, or '\n' past its end. */
static char at(const struct scan *s, size_t pos)
{
    return pos < s->eol ? s->b[pos] : '\n';
}

static bool blank_or_eol(char c)
{
    return c == ' ' || c == '\n';
}

static size_t skip_spaces(const struct scan *s, size_t pos)
{
    while (pos < s->eol && s->b[pos] == ' ') {
        pos++;
    }
    return pos;
}

static bool block_entry_at(const struct scan *s, size_t pos)
{
    return at(s, pos) == '-' && blank_or_eol(at(s, pos + 1));
}

static bool flow_indicator(char c)
{
    return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

/* Only spaces, then the end of the line or a comment opened after a space. */
static enum step rest_of_line(const struct scan *s, size_t pos)
{
    pos = skip_spaces(s, pos);
    if (pos == s->eol || (s->b[pos] == '#' && s->b[pos - 1] == ' ')) {
        return STEP_OK;
    }
    return STEP_DECLINE;
}

/* libyaml's plain-scalar start rule, minus "?x" and ":x" in block context, which we decline. */
static bool plain_start(const struct scan *s, size_t pos)
{
    char c = at(s, pos);
    if (c == '-') {
        return !blank_or_eol(at(s, pos + 1));
    }
    return c > ' ' && c < 0x7f && !strchr("?:,[]{}#&*!|>'\"%@`", c);
}

static enum step scan_plain(const struct scan *s, size_t pos, bool flow, struct scalar *sc)
{
    const char *b = s->b;
    size_t i = pos, text_end = pos;
    for (;;) {
        if (i > pos && b[i] == '#') {
            break; /* a comment: we only get here after a space */
        }
        while (i < s->eol && b[i] != ' ') {
            if (b[i] == ':') {
                char next = at(s, i + 1);
                if (flow && (flow_indicator(next) || next == '?')) {
                    return STEP_DECLINE; /* libyaml: "found unexpected ':'" */
                }
                if (blank_or_eol(next)) {
                    sc->is_key = true;
                    sc->colon = i;
                    goto done;
                }
            }
            if (flow && flow_indicator(b[i])) {
                goto done;
            }
            text_end = ++i;
        }
        if (i == s->eol) {
            break;
        }
        i = skip_spaces(s, i);
        if (i == s->eol) {
            break;
        }
    }
done:
    sc->stop = i;
    sc->text = b + pos;
    sc->len = text_end - pos;
    sc->style = YAML_PLAIN_SCALAR_STYLE;
    return STEP_OK;
}

static char *scratch_room(struct yfast *f, size_t input_len)
{
    if (!f->scratch) {
        f->scratch = malloc(input_len); /* an unescaped scalar is never longer than the input */
    }
    return f->scratch ? f->scratch + f->scratch_used : NULL;
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    default:
        return c; /* '"', '\\', '/' stand for themselves */
    }
}

/* A one-line quoted scalar at pos; '' (single) and \" \\ \/ \n \t (double) are unescaped. */
static enum step scan_quoted(struct scan *s, size_t pos, struct scalar *sc)
{
    const char *b = s->b;
    char quote = b[pos];
    bool escaped = false;
    size_t i = pos + 1;
    for (;;) {
        if (i >= s->eol) {
            return STEP_DECLINE; /* a line break inside quotes */
        }
        if (b[i] == quote) {
            if (quote == '\'' && at(s, i + 1) == '\'') {
                escaped = true;
                i += 2;
                continue;
            }
            break;
        }
        if (quote == '"' && b[i] == '\\') {
            char e = at(s, i + 1);
            if (e != '"' && e != '\\' && e != '/' && e != 'n' && e != 't') {
                return STEP_DECLINE;
            }
            escaped = true;
            i += 2;
            continue;
        }
        i++;
    }
    sc->stop = i + 1;
    sc->style = quote == '"' ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE;
    sc->text = b + pos + 1;
    sc->len = i - pos - 1;
    if (escaped) {
        char *out = scratch_room(s->f, s->len);
        if (!out) {
            return STEP_NOMEM;
        }
        size_t n = 0;
        for (size_t j = pos + 1; j < i; j++) {
            out[n++] = b[j] == '\\' && quote == '"' ? unescape(b[++j]) : b[j];
            if (quote == '\'' && b[j] == '\'') {
                j++; /* the second quote of '' */
            }
        }
        sc->text = out;
        sc->len = n;
        s->f->scratch_used += n;
    }
    if (at(s, sc->stop) == ':' && blank_or_eol(at(s, sc->stop + 1))) {
        sc->is_key = true;
        sc->colon = sc->stop;
    }
    return STEP_OK;
}

static enum step scan_scalar(struct scan *s, size_t pos, bool flow, struct scalar *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->start = pos;
    char c = at(s, pos);
    if (c == '\'' || c == '"') {
        TRY(scan_quoted(s, pos, sc));
    } else if (plain_start(s, pos)) {
        TRY(scan_plain(s, pos, flow, sc));
    } else {
        return STEP_DECLINE;
    }
    if (sc->is_key && sc->colon - sc->start > SIMPLE_KEY_LIMIT) {
        return STEP_DECLINE;
    }
    return STEP_OK;
}

static enum step emit_scalar(struct scan *s, const struct scalar *sc)
{
    return emit(s, YAML_SCALAR_EVENT, sc->style, column_of(s, sc->start), sc->text, sc->len);
}

static bool nesting_full(const struct scan *s)
{
    return s->depth + s->flow_depth >= LIMIT_SPEC_DEPTH;
}

static enum step flow_node(struct scan *s, size_t *pos);

/* One entry of a flow collection: a nested collection or a scalar that is not a key. */
static enum step flow_value(struct scan *s, size_t *pos)
{
    char c = at(s, *pos);
    if (c == '[' || c == '{') {
        return flow_node(s, pos);
    }
    struct scalar sc;
    TRY(scan_scalar(s, *pos, true, &sc));
    if (sc.is_key || sc.stop == s->eol || s->b[sc.stop] == '#') {
        return STEP_DECLINE; /* a pair, a line break or a comment inside the collection */
    }
    TRY(emit_scalar(s, &sc));
    *pos = sc.stop;
    return STEP_OK;
}

static enum step flow_map_entry(struct scan *s, size_t *pos)
{
    struct scalar key;
    if (at(s, *pos) == '[' || at(s, *pos) == '{') {
        return STEP_DECLINE;
    }
    TRY(scan_scalar(s, *pos, true, &key));
    if (!key.is_key) {
        return STEP_DECLINE;
    }
    TRY(emit_scalar(s, &key));
    size_t p = skip_spaces(s, key.colon + 1);
    char c = at(s, p);
    if (c == '\n' || c == ',' || c == '}') {
        return STEP_DECLINE; /* an empty value */
    }
    *pos = p;
    return flow_value(s, pos);
}

/* A flow collection that opens at *pos and closes on the same line; *pos ends after it. */
static enum step flow_node(struct scan *s, size_t *pos)
{
    if (nesting_full(s)) {
        return STEP_DECLINE;
    }
    bool mapping = s->b[*pos] == '{';
    char close = mapping ? '}' : ']';
    TRY(emit(s, mapping ? YAML_MAPPING_START_EVENT : YAML_SEQUENCE_START_EVENT,
             mapping ? YAML_FLOW_MAPPING_STYLE : YAML_FLOW_SEQUENCE_STYLE, column_of(s, *pos),
             empty_text, 0));
    s->flow_depth++;
    size_t p = skip_spaces(s, *pos + 1);
    if (at(s, p) != close) {
        for (;;) {
            TRY(mapping ? flow_map_entry(s, &p) : flow_value(s, &p));
            p = skip_spaces(s, p);
            if (at(s, p) == close) {
                break;
            }
            if (at(s, p) != ',') {
                return STEP_DECLINE;
            }
            p = skip_spaces(s, p + 1);
            if (at(s, p) == close) {
                return STEP_DECLINE; /* a trailing comma */
            }
        }
    }
    TRY(emit(s, mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT, 0, column_of(s, p),
             empty_text, 0));
    s->flow_depth--;
    *pos = p + 1;
    return STEP_OK;
}

/* Would libyaml fold the next content line into a plain scalar ending this line? It does when
 * that line (past blank lines, and not a comment) is indented deeper than the collection. */
static bool plain_continues(const struct scan *s, size_t indent)
{
    size_t i = s->eol;
    while (i < s->len) {
        size_t start = ++i;
        while (i < s->len && s->b[i] == ' ') {
            i++;
        }
        if (i < s->len && s->b[i] != '\n') {
            return s->b[i] != '#' && i - start > indent;
        }
    }
    return false;
}

static size_t innermost_column(const struct scan *s)
{
    return s->frames[s->depth - 1].column;
}

/* A scalar value that ends its line. */
static enum step value_scalar(struct scan *s, const struct scalar *sc)
{
    if (sc->is_key) {
        return STEP_DECLINE; /* libyaml: "mapping values are not allowed here" */
    }
    TRY(rest_of_line(s, sc->stop));
    if (sc->style == YAML_PLAIN_SCALAR_STYLE && plain_continues(s, innermost_column(s))) {
        return STEP_DECLINE;
    }
    return emit_scalar(s, sc);
}

static enum step flow_value_line(struct scan *s, size_t pos)
{
    TRY(flow_node(s, &pos));
    return rest_of_line(s, pos);
}

static enum step push_block(struct scan *s, size_t pos, bool mapping, bool indentless)
{
    if (nesting_full(s)) {
        return STEP_DECLINE;
    }
    size_t column = column_of(s, pos);
    s->frames[s->depth++] =
        (struct block_frame){.column = column, .mapping = mapping, .indentless = indentless};
    return emit(s, mapping ? YAML_MAPPING_START_EVENT : YAML_SEQUENCE_START_EVENT,
                mapping ? YAML_BLOCK_MAPPING_STYLE : YAML_BLOCK_SEQUENCE_STYLE, column,
                empty_text, 0);
}

/* After "key:": its value on the same line, or a wait for the next line. */
static enum step key_value(struct scan *s, const struct scalar *key)
{
    TRY(emit_scalar(s, key));
    size_t p = skip_spaces(s, key->colon + 1);
    char c = at(s, p);
    if (c == '\n' || c == '#') {
        s->pending = PENDING_KEY_VALUE;
        s->pending_line = s->line;
        s->pending_column = (uint32_t)column_of(s, key->colon + 1);
        return STEP_OK;
    }
    if (c == '[' || c == '{') {
        return flow_value_line(s, p);
    }
    if (block_entry_at(s, p)) {
        return STEP_DECLINE; /* libyaml: "block sequence entries are not allowed here" */
    }
    struct scalar sc;
    TRY(scan_scalar(s, p, false, &sc));
    return value_scalar(s, &sc);
}

static enum step seq_entry(struct scan *s, size_t dash);

/* A node that starts at pos: on a line of its own (fresh) or after "- " on the same line. */
static enum step node_at(struct scan *s, size_t pos, bool fresh)
{
    if (block_entry_at(s, pos)) {
        if (!fresh) {
            return STEP_DECLINE; /* "- - x" */
        }
        TRY(push_block(s, pos, false, false));
        return seq_entry(s, pos);
    }
    char c = at(s, pos);
    if (c == '[' || c == '{') {
        return flow_value_line(s, pos);
    }
    struct scalar sc;
    TRY(scan_scalar(s, pos, false, &sc));
    if (sc.is_key) {
        TRY(push_block(s, pos, true, false));
        return key_value(s, &sc);
    }
    return value_scalar(s, &sc);
}

static enum step seq_entry(struct scan *s, size_t dash)
{
    size_t p = skip_spaces(s, dash + 1);
    char c = at(s, p);
    if (c == '\n' || c == '#') {
        s->pending = PENDING_ITEM;
        s->pending_line = s->line;
        s->pending_column = (uint32_t)column_of(s, dash + 1);
        return STEP_OK;
    }
    return node_at(s, p, false);
}

/* The line's first token decides what a pending empty value becomes: its node, or "". */
static enum step resolve_pending(struct scan *s, size_t pos, bool *consumed)
{
    const struct block_frame *top = &s->frames[s->depth - 1];
    size_t column = column_of(s, pos);
    enum pending pending = s->pending;
    s->pending = PENDING_NONE;
    *consumed = true;
    if (column > top->column) {
        return node_at(s, pos, true);
    }
    if (pending == PENDING_KEY_VALUE && column == top->column && block_entry_at(s, pos)) {
        TRY(push_block(s, pos, false, true));
        return seq_entry(s, pos);
    }
    *consumed = false;
    return emit_at(s, YAML_SCALAR_EVENT, YAML_PLAIN_SCALAR_STYLE, s->pending_line,
                   s->pending_column);
}

/* Close what a line at this column ends, as libyaml's block ends do. */
static enum step close_blocks(struct scan *s, size_t pos)
{
    size_t column = column_of(s, pos);
    while (s->depth > 0 && s->frames[s->depth - 1].column > column) {
        const struct block_frame *top = &s->frames[--s->depth];
        TRY(emit(s, top->mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT, 0, column,
                 empty_text, 0));
    }
    if (s->depth > 0 && s->frames[s->depth - 1].indentless && !block_entry_at(s, pos)) {
        s->depth--;
        TRY(emit(s, YAML_SEQUENCE_END_EVENT, 0, column, empty_text, 0));
    }
    return STEP_OK;
}

static enum step block_line(struct scan *s, size_t pos)
{
    if (!s->root_started) {
        s->root_started = true;
        struct scalar key;
        TRY(scan_scalar(s, pos, false, &key));
        if (!key.is_key) {
            return STEP_DECLINE; /* the root is not a block mapping */
        }
        TRY(push_block(s, pos, true, false));
        return key_value(s, &key);
    }
    if (s->pending != PENDING_NONE) {
        bool consumed;
        TRY(resolve_pending(s, pos, &consumed));
        if (consumed) {
            return STEP_OK;
        }
    }
    TRY(close_blocks(s, pos));
    if (s->depth == 0 || innermost_column(s) != column_of(s, pos)) {
        return STEP_DECLINE; /* content after the root, or a dedent between two levels */
    }
    if (!s->frames[s->depth - 1].mapping) {
        return block_entry_at(s, pos) ? seq_entry(s, pos) : STEP_DECLINE;
    }
    struct scalar key;
    TRY(scan_scalar(s, pos, false, &key));
    return key.is_key ? key_value(s, &key) : STEP_DECLINE;
}

static bool document_marker_at(const struct scan *s, size_t pos)
{
    return s->eol - pos >= 3 &&
           (memcmp(s->b + pos, "---", 3) == 0 || memcmp(s->b + pos, "...", 3) == 0);
}

/* "---" opening the first document, alone on its line (a comment may follow). */
static bool document_start_line(const struct scan *s, size_t pos)
{
    return memcmp(s->b + pos, "---", 3) == 0 && blank_or_eol(at(s, pos + 3)) &&
           rest_of_line(s, pos + 3) == STEP_OK;
}

static enum step scan_lines(struct scan *s)
{
    bool document = false;
    size_t pos = 0;
    while (pos < s->len) {
        const char *nl = memchr(s->b + pos, '\n', s->len - pos);
        s->line_start = pos;
        s->eol = nl ? (size_t)(nl - s->b) : s->len;
        size_t p = skip_spaces(s, pos);
        if (p < s->eol && s->b[p] != '#') {
            if (p == pos && document_marker_at(s, p)) {
                if (document || !document_start_line(s, p)) {
                    return STEP_DECLINE;
                }
                document = true;
                TRY(emit(s, YAML_DOCUMENT_START_EVENT, 0, 0, empty_text, 0));
                s->f->events[s->f->count - 1].implicit = 0;
            } else {
                if (!document) {
                    document = true;
                    TRY(emit(s, YAML_DOCUMENT_START_EVENT, 0, column_of(s, p), empty_text, 0));
                }
                TRY(block_line(s, p));
            }
        }
        pos = s->eol + 1;
        s->line++;
    }
    return s->root_started ? STEP_OK : STEP_DECLINE;
}

/* The end of the input: libyaml first closes what is deeper than where its scanner stopped (the
 * end of an unterminated last line), then everything else at column 0 of the next line. */
static enum step finish(struct scan *s)
{
    if (s->pending != PENDING_NONE) {
        TRY(emit_at(s, YAML_SCALAR_EVENT, YAML_PLAIN_SCALAR_STYLE, s->pending_line,
                    s->pending_column));
    }
    if (s->b[s->len - 1] != '\n') {
        size_t end_column = s->len - s->line_start;
        while (s->depth > 0 && s->frames[s->depth - 1].column > end_column) {
            const struct block_frame *top = &s->frames[--s->depth];
            TRY(emit_at(s, top->mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT, 0,
                        s->line - 1, end_column));
        }
    }
    while (s->depth > 0) {
        const struct block_frame *top = &s->frames[--s->depth];
        TRY(emit(s, top->mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT, 0, 0,
                 empty_text, 0));
    }
    TRY(emit(s, YAML_DOCUMENT_END_EVENT, 0, 0, empty_text, 0));
    return emit(s, YAML_STREAM_END_EVENT, 0, 0, empty_text, 0);
}

enum yfast_result yfast_scan(struct yfast *f, const char *buf, size_t len)
{
    f->events = f->inline_events;
    f->count = 0;
    f->cap = YFAST_INLINE_EVENTS;
    f->scratch = NULL;
    f->scratch_used = 0;
    if (!supported_bytes(buf, len)) {
        return YFAST_UNSUPPORTED;
    }
    struct scan s = {.b = buf, .len = len, .f = f};
    enum step rc = emit(&s, YAML_STREAM_START_EVENT, 0, 0, empty_text, 0);
    if (rc == STEP_OK) {
        rc = scan_lines(&s);
    }
    if (rc == STEP_OK) {
        rc = finish(&s); /* s.line is now the line after the last one */
    }
    if (rc != STEP_OK) {
        f->count = 0;
    }
    return rc == STEP_OK ? YFAST_OK : rc == STEP_NOMEM ? YFAST_NOMEM : YFAST_UNSUPPORTED;
}

void yfast_release(struct yfast *f)
{
    if (f->events != f->inline_events) {
        free(f->events);
    }
    free(f->scratch);
    f->events = f->inline_events;
    f->scratch = NULL;
    f->count = 0;
}

void yfast_to_yaml_event(const struct yfast_event *e, yaml_event_t *out)
{
    /* A copy of a blank event, not memset: GCC makes that memset a `rep stos`, whose start-up
     * cost was most of this function's, once per event. */
    static const yaml_event_t blank;
    *out = blank;
    out->type = (yaml_event_type_t)e->type;
    out->start_mark = (yaml_mark_t){.line = e->line, .column = e->column};
    out->end_mark = out->start_mark;
    switch (out->type) {
    case YAML_STREAM_START_EVENT:
        out->data.stream_start.encoding = YAML_UTF8_ENCODING;
        break;
    case YAML_DOCUMENT_START_EVENT:
        out->data.document_start.implicit = e->implicit;
        break;
    case YAML_DOCUMENT_END_EVENT:
        out->data.document_end.implicit = 1;
        break;
    case YAML_SCALAR_EVENT:
        /* on_event only reads the value; libyaml's events are not const either */
        out->data.scalar.value = (yaml_char_t *)(uintptr_t)e->text;
        out->data.scalar.length = e->len;
        out->data.scalar.style = (yaml_scalar_style_t)e->style;
        out->data.scalar.plain_implicit = e->style == YAML_PLAIN_SCALAR_STYLE;
        out->data.scalar.quoted_implicit = e->style != YAML_PLAIN_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_START_EVENT:
        out->data.sequence_start.implicit = 1;
        out->data.sequence_start.style = (yaml_sequence_style_t)e->style;
        break;
    case YAML_MAPPING_START_EVENT:
        out->data.mapping_start.implicit = 1;
        out->data.mapping_start.style = (yaml_mapping_style_t)e->style;
        break;
    default:
        break;
    }
}
