#include "common/jsonx.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/limits.h"
#include "common/sbuf.h"

static const char box_key[] = "\0u64";
#define BOX_KEY_LEN 4
#define BOX_MARK "\\u0000u64:"
#define BOX_MARK_DECODED_LEN 5 /* "\0u64:" after decoding */

json_t *jsonx_u64_new(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX) {
        return json_integer((json_int_t)v);
    }
    char digits[24];
    snprintf(digits, sizeof(digits), "%" PRIu64, v);
    json_t *box = json_object();
    if (!box || json_object_setn_new_nocheck(box, box_key, BOX_KEY_LEN, json_string(digits))) {
        json_decref(box);
        return NULL;
    }
    return box;
}

static const json_t *box_digits(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1) {
        return NULL;
    }
    const json_t *d = json_object_getn(v, box_key, BOX_KEY_LEN);
    return json_is_string(d) ? d : NULL;
}

bool jsonx_is_u64_box(const json_t *v)
{
    return box_digits(v) != NULL;
}

int jsonx_u64_get(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) {
            return -1;
        }
        *out = (uint64_t)i;
        return 0;
    }
    const json_t *d = box_digits(v);
    if (!d) {
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long u = strtoull(json_string_value(d), &end, 10);
    if (errno || !end || *end) {
        return -1;
    }
    *out = (uint64_t)u;
    return 0;
}

bool jsonx_equal(const json_t *a, const json_t *b)
{
    const json_t *da = box_digits(a), *db = box_digits(b);
    if (da || db) {
        return da && db && strcmp(json_string_value(da), json_string_value(db)) == 0;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b)) {
            return false;
        }
        const char *key;
        size_t key_len;
        json_t *member;
        json_object_keylen_foreach((json_t *)(uintptr_t)a, key, key_len, member)
        {
            if (!jsonx_equal(member, json_object_getn(b, key, key_len))) {
                return false;
            }
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!jsonx_equal(json_array_get(a, i), json_array_get(b, i))) {
                return false;
            }
        }
        return true;
    }
    return json_equal(a, b);
}

/* ---- output ---------------------------------------------------------------------------- */

static int dump_string(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sbuf_addc(b, '"');
    size_t run = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                memcpy(ubuf, "\\u00", 4);
                ubuf[4] = hex[c >> 4];
                ubuf[5] = hex[c & 15];
                ubuf[6] = '\0';
                esc = ubuf;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        rc = sbuf_addn(b, s + i - run, run);
        run = 0;
        if (!rc) {
            rc = sbuf_add(b, esc);
        }
    }
    if (!rc) {
        rc = sbuf_addn(b, s + n - run, run);
    }
    return rc ? rc : sbuf_addc(b, '"');
}

/* A newline and two spaces per level, appended in large pieces: the pretty output is mostly
 * indentation. */
static int dump_indent(struct sbuf *b, unsigned flags, int depth)
{
    static const char spaces[129] = "                                                                "
                                    "                                                                ";
    if (flags & JSONX_COMPACT) {
        return 0;
    }
    int rc = sbuf_addc(b, '\n');
    for (size_t want = 2 * (size_t)depth; !rc && want > 0;) {
        size_t n = want < sizeof(spaces) - 1 ? want : sizeof(spaces) - 1;
        rc = sbuf_addn(b, spaces, n);
        want -= n;
    }
    return rc;
}

static int dump_real(struct sbuf *b, double d)
{
    if (!isfinite(d)) {
        return ERR_INTERNAL;
    }
    char buf[40];
    snprintf(buf, sizeof(buf), "%.17g", d);
    if (!strpbrk(buf, ".eE")) {
        size_t n = strlen(buf);
        memcpy(buf + n, ".0", 3);
    }
    return sbuf_add(b, buf);
}

static int dump_value(struct sbuf *b, const json_t *v, unsigned flags, int depth);

static int dump_object(struct sbuf *b, const json_t *v, unsigned flags, int depth)
{
    const json_t *digits = box_digits(v);
    if (digits) {
        return sbuf_add(b, json_string_value(digits));
    }
    if (json_object_size(v) == 0) {
        return sbuf_add(b, "{}");
    }
    int rc = sbuf_addc(b, '{');
    bool first = true;
    const char *key;
    size_t key_len;
    json_t *member;
    json_object_keylen_foreach((json_t *)(uintptr_t)v, key, key_len, member)
    {
        if (!rc && !first) {
            rc = sbuf_addc(b, ',');
        }
        first = false;
        if (!rc) {
            rc = dump_indent(b, flags, depth + 1);
        }
        if (!rc) {
            rc = dump_string(b, key, key_len);
        }
        if (!rc) {
            rc = (flags & JSONX_COMPACT) ? sbuf_addc(b, ':') : sbuf_addn(b, ": ", 2);
        }
        if (!rc) {
            rc = dump_value(b, member, flags, depth + 1);
        }
        if (rc) {
            return rc;
        }
    }
    rc = dump_indent(b, flags, depth);
    return rc ? rc : sbuf_addc(b, '}');
}

static int dump_array(struct sbuf *b, const json_t *v, unsigned flags, int depth)
{
    if (json_array_size(v) == 0) {
        return sbuf_add(b, "[]");
    }
    int rc = sbuf_addc(b, '[');
    for (size_t i = 0; !rc && i < json_array_size(v); i++) {
        if (i) {
            rc = sbuf_addc(b, ',');
        }
        if (!rc) {
            rc = dump_indent(b, flags, depth + 1);
        }
        if (!rc) {
            rc = dump_value(b, json_array_get(v, i), flags, depth + 1);
        }
    }
    if (!rc) {
        rc = dump_indent(b, flags, depth);
    }
    return rc ? rc : sbuf_addc(b, ']');
}

static int dump_value(struct sbuf *b, const json_t *v, unsigned flags, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(b, v, flags, depth);
    case JSON_ARRAY:
        return dump_array(b, v, flags, depth);
    case JSON_STRING:
        return dump_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return sbuf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return dump_real(b, json_real_value(v));
    case JSON_TRUE:
        return sbuf_add(b, "true");
    case JSON_FALSE:
        return sbuf_add(b, "false");
    case JSON_NULL:
        return sbuf_add(b, "null");
    }
    return ERR_INTERNAL;
}

char *jsonx_dump(const json_t *v, unsigned flags, size_t *len)
{
    struct sbuf b;
    /* Secret mode: the text is a rendered config, a vault login body or a secret value. */
    sbuf_init_secret(&b, LIMIT_OUTPUT);
    /* A rendered config is about 10 KiB: one allocation instead of a series of doublings. */
    if (!v || sbuf_reserve(&b, 16384) || dump_value(&b, v, flags, 0)) {
        sbuf_free(&b);
        return NULL;
    }
    if (!(flags & JSONX_COMPACT) && sbuf_addc(&b, '\n')) {
        return NULL;
    }
    return sbuf_take(&b, len);
}

/* ---- input ----------------------------------------------------------------------------- */

/* True when digits[0..n) is a decimal integer in (INT64_MAX, UINT64_MAX]. */
static bool needs_box(const char *digits, size_t n)
{
    if (n < 19 || n > 20) {
        return false;
    }
    char buf[21];
    memcpy(buf, digits, n);
    buf[n] = '\0';
    if (n == 20 && strcmp(buf, "18446744073709551615") > 0) {
        return false; /* past UINT64_MAX: let jansson report the overflow */
    }
    return n == 20 || strcmp(buf, "9223372036854775807") > 0;
}

static void set_load_error(json_error_t *error, size_t line, size_t col, size_t pos,
                           const char *text)
{
    if (!error) {
        return;
    }
    memset(error, 0, sizeof(*error));
    error->line = (int)line;
    error->column = (int)col;
    error->position = (int)pos;
    snprintf(error->text, sizeof(error->text), "%s", text);
    snprintf(error->source, sizeof(error->source), "<buffer>");
}

/*
 * Copy `buf` to `out`, rewriting big unsigned integer tokens to marker strings. Returns the
 * number of rewritten tokens, or -1 (with `error` set) when the text contains "\u0000".
 */
static int rewrite_big_integers(const char *buf, size_t len, struct sbuf *out,
                                json_error_t *error)
{
    int count = 0;
    bool in_string = false;
    size_t line = 1, col = 0;
    for (size_t i = 0; i < len; i++, col++) {
        char c = buf[i];
        if (c == '\n') {
            line++;
            col = 0;
        }
        if (in_string) {
            if (c == '\\' && i + 1 < len) {
                if (len - i >= 6 && memcmp(buf + i, "\\u0000", 6) == 0) {
                    set_load_error(error, line, col + 1, i, "\\u0000 is not allowed in strings");
                    return -1;
                }
                if (sbuf_addn(out, buf + i, 2)) {
                    set_load_error(error, line, col + 1, i, "out of memory");
                    return -1;
                }
                i++;
                col++;
                continue;
            }
            if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c >= '0' && c <= '9' && (i == 0 || strchr(" \t\r\n[:,", buf[i - 1]))) {
            size_t n = 0;
            while (i + n < len && buf[i + n] >= '0' && buf[i + n] <= '9') {
                n++;
            }
            bool plain_end = i + n == len || strchr(" \t\r\n]},", buf[i + n]);
            if (plain_end && needs_box(buf + i, n)) {
                if (sbuf_add(out, "\"" BOX_MARK) || sbuf_addn(out, buf + i, n) ||
                    sbuf_addc(out, '"')) {
                    set_load_error(error, line, col + 1, i, "out of memory");
                    return -1;
                }
                count++;
                i += n - 1;
                col += n - 1;
                continue;
            }
        }
        if (sbuf_addc(out, c)) {
            set_load_error(error, line, col + 1, i, "out of memory");
            return -1;
        }
    }
    return count;
}

static int unmark(json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, member)
        {
            if (json_is_string(member) && json_string_length(member) > BOX_MARK_DECODED_LEN &&
                memcmp(json_string_value(member), "\0u64:", BOX_MARK_DECODED_LEN) == 0) {
                uint64_t u = strtoull(json_string_value(member) + BOX_MARK_DECODED_LEN, NULL, 10);
                if (json_object_set_new(v, key, jsonx_u64_new(u))) {
                    return -1;
                }
            } else if (unmark(member)) {
                return -1;
            }
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *m = json_array_get(v, i);
            if (json_is_string(m) && json_string_length(m) > BOX_MARK_DECODED_LEN &&
                memcmp(json_string_value(m), "\0u64:", BOX_MARK_DECODED_LEN) == 0) {
                uint64_t u = strtoull(json_string_value(m) + BOX_MARK_DECODED_LEN, NULL, 10);
                if (json_array_set_new(v, i, jsonx_u64_new(u))) {
                    return -1;
                }
            } else if (unmark(m)) {
                return -1;
            }
        }
    }
    return 0;
}

json_t *jsonx_loadb(const char *buf, size_t len, json_error_t *error)
{
    struct sbuf text;
    sbuf_init_secret(&text, len + len / 2 + 64); /* a vault answer holds secret values */
    int boxed = rewrite_big_integers(buf, len, &text, error);
    if (boxed < 0) {
        sbuf_free(&text);
        return NULL;
    }
    json_t *root;
    if (boxed == 0) {
        sbuf_free(&text);
        return json_loadb(buf, len, JSON_REJECT_DUPLICATES, error);
    }
    root = json_loadb(sbuf_str(&text), sbuf_len(&text), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                      error);
    sbuf_free(&text);
    if (root && unmark(root)) {
        json_decref(root);
        set_load_error(error, 0, 0, 0, "out of memory");
        return NULL;
    }
    return root;
}

/* ---- builders -------------------------------------------------------------------------- */

int jsonx_set_str(json_t *obj, const char *key, const char *s)
{
    return json_object_set_new(obj, key, json_string(s));
}

int jsonx_set_int(json_t *obj, const char *key, long long v)
{
    return json_object_set_new(obj, key, json_integer(v));
}

int jsonx_set_bool(json_t *obj, const char *key, bool v)
{
    return json_object_set_new(obj, key, json_boolean(v));
}

int jsonx_append_str(json_t *arr, const char *s)
{
    return json_array_append_new(arr, json_string(s));
}

int jsonx_warning_addv(json_t *warnings, const char *code, const char *path, const char *fmt,
                       va_list ap)
{
    if (!warnings) {
        return 0;
    }
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return json_array_append_new(warnings, json_pack("{s:s, s:s, s:s}", "code", code, "path",
                                                     path ? path : "", "message", msg));
}

int jsonx_warning_add(json_t *warnings, const char *code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jsonx_warning_addv(warnings, code, path, fmt, ap);
    va_end(ap);
    return rc;
}

json_t *jsonx_str_array(const char *const *items)
{
    json_t *a = json_array();
    for (size_t i = 0; a && items[i]; i++) {
        if (jsonx_append_str(a, items[i])) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

const char *jsonx_get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void jsonx_wipe_strings(json_t *j)
{
    if (!j || j->refcount != 1) {
        return;
    }
    if (json_is_string(j)) {
        mem_wipe((char *)(uintptr_t)json_string_value(j), json_string_length(j));
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            jsonx_wipe_strings(v);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            jsonx_wipe_strings(v);
        }
    }
}
