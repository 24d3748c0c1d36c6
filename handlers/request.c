/* Request-side helpers shared by the handlers: media types, Accept, query parameters. */
#include "handlers/handlers.h"

#include <string.h>

#include "common/param.h"
#include "common/strutil.h"

#define MEDIA_TYPE_MAX 128

static const char envelope_media_type[] = "application/vnd.ocirender.envelope+json";

static bool is_http_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Copy s[0..n) without surrounding blanks into out (truncated to its size), lower-cased. */
static void trimmed_lower(const char *s, size_t n, char *out, size_t out_len)
{
    while (n && is_http_space(*s)) {
        s++;
        n--;
    }
    while (n && is_http_space(s[n - 1])) {
        n--;
    }
    size_t k = 0;
    for (; k < n && k + 1 < out_len; k++) {
        char c = s[k];
        out[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[k] = '\0';
}

/* Value of parameter `name` in a ";"-separated parameter list, unquoted and lower-cased. */
static bool media_param(const char *params, const char *name, char *out, size_t out_len)
{
    const char *p = params;
    while (p && *p) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            char key[32];
            trimmed_lower(p, (size_t)(eq - p), key, sizeof(key));
            if (strcmp(key, name) == 0) {
                trimmed_lower(eq + 1, n - (size_t)(eq + 1 - p), out, out_len);
                size_t len = strlen(out);
                if (len >= 2 && out[0] == '"' && out[len - 1] == '"') {
                    memmove(out, out + 1, len - 2);
                    out[len - 2] = '\0';
                }
                return true;
            }
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

int http_body_format(const char *content_type, enum render_format *out, struct err *err)
{
    static const struct {
        const char *type;
        enum render_format fmt;
    } known[] = {
        {"application/json", RENDER_FMT_JSON},
        {"application/yaml", RENDER_FMT_YAML},
        {"application/x-yaml", RENDER_FMT_YAML},
        {"text/yaml", RENDER_FMT_YAML},
        /* curl -d / --data-binary sends this by default: sniff the body instead. */
        {"application/x-www-form-urlencoded", RENDER_FMT_AUTO},
    };
    if (!content_type) {
        *out = RENDER_FMT_AUTO;
        return 0;
    }
    const char *semi = strchr(content_type, ';');
    size_t n = semi ? (size_t)(semi - content_type) : strlen(content_type);
    char type[MEDIA_TYPE_MAX];
    trimmed_lower(content_type, n, type, sizeof(type));
    if (!type[0] && !semi) {
        *out = RENDER_FMT_AUTO; /* an empty header is as good as none */
        return 0;
    }
    char charset[32];
    if (semi && media_param(semi + 1, "charset", charset, sizeof(charset)) &&
        strcmp(charset, "utf-8") != 0 && strcmp(charset, "utf8") != 0) {
        return err_set(err, ERR_UNSUPPORTED_MEDIA, "Content-Type",
                       "unsupported charset '%s': specs must be UTF-8", charset);
    }
    for (size_t i = 0; i < ARRAY_LEN(known); i++) {
        if (strcmp(type, known[i].type) == 0) {
            *out = known[i].fmt;
            return 0;
        }
    }
    return err_set(err, ERR_UNSUPPORTED_MEDIA, "Content-Type",
                   "unsupported media type '%s'; use application/json, application/yaml, "
                   "application/x-yaml or text/yaml",
                   type);
}

/* A "q=0" weight means "not acceptable" (RFC 9110 12.4.2). */
static bool weight_is_zero(const char *params)
{
    char q[16];
    if (!params || !media_param(params, "q", q, sizeof(q))) {
        return false;
    }
    for (const char *c = q; *c; c++) {
        if (*c != '0' && *c != '.') {
            return false;
        }
    }
    return true;
}

bool http_accepts_envelope(const char *accept)
{
    const char *p = accept;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *semi = memchr(p, ';', n);
        char type[MEDIA_TYPE_MAX];
        trimmed_lower(p, semi ? (size_t)(semi - p) : n, type, sizeof(type));
        if (strcmp(type, envelope_media_type) == 0) {
            char params[64] = "";
            if (semi) {
                size_t plen = n - (size_t)(semi + 1 - p);
                if (plen >= sizeof(params)) {
                    plen = sizeof(params) - 1;
                }
                memcpy(params, semi + 1, plen);
                params[plen] = '\0';
            }
            return !weight_is_zero(params);
        }
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

enum query_key {
    Q_SERVICE,
    Q_REPLICA,
    Q_ROLE,
    Q_NODE_ID,
    Q_HOSTNAME,
    Q_HOST_NETWORK,
    Q_SCOPE,
    Q_FORMAT,
    Q_COMPACT,
    Q_COUNT
};

static const char *const query_names[Q_COUNT] = {
    [Q_SERVICE] = "service", [Q_REPLICA] = "replica",   [Q_ROLE] = "role",
    [Q_NODE_ID] = "node_id", [Q_HOSTNAME] = "hostname", [Q_HOST_NETWORK] = "host_network",
    [Q_SCOPE] = "scope",     [Q_FORMAT] = "format",     [Q_COMPACT] = "compact",
};

static int query_key_of(const char *name)
{
    for (int k = 0; k < Q_COUNT; k++) {
        if (strcmp(query_names[k], name) == 0) {
            return k;
        }
    }
    return -1;
}

/* Copy the parameter values into a table, refusing unknown, repeated and valueless ones. */
static int collect_query(const struct http_req *req, const char *values[Q_COUNT], struct err *err)
{
    for (size_t i = 0; i < req->n_query; i++) {
        const struct http_param *q = &req->query[i];
        int k = query_key_of(q->name);
        if (k < 0) {
            return err_set(err, ERR_BAD_REQUEST, q->name,
                           "unknown query parameter; expected one of service, replica, role, "
                           "node_id, hostname, host_network, scope, format, compact");
        }
        if (values[k]) {
            return err_set(err, ERR_BAD_REQUEST, q->name, "query parameter given more than once");
        }
        if (!q->value || !*q->value) {
            return err_set(err, ERR_BAD_REQUEST, q->name, "query parameter needs a value");
        }
        values[k] = q->value;
    }
    return 0;
}

/* replica, node_id and host_network as the typed values render takes. */
static int typed_render_params(const char *const v[Q_COUNT], struct render_params *p,
                               struct err *err)
{
    uint64_t n = 0;
    bool b = false;
    if (v[Q_REPLICA]) {
        if (param_u64("replica", v[Q_REPLICA], RENDER_REPLICA_MAX, &n, err)) {
            return -1;
        }
        p->has_replica = true;
        p->replica = (uint32_t)n;
    }
    if (v[Q_NODE_ID]) {
        if (param_u64("node_id", v[Q_NODE_ID], RENDER_NODE_ID_MAX, &p->node_id, err)) {
            return -1;
        }
        p->has_node_id = true;
    }
    if (v[Q_HOST_NETWORK]) {
        if (param_bool("host_network", v[Q_HOST_NETWORK], &b, err)) {
            return -1;
        }
        p->host_network = b ? RENDER_FLAG_TRUE : RENDER_FLAG_FALSE;
    }
    return 0;
}

int http_render_query(const struct http_req *req, struct render_query *out, struct err *err)
{
    const char *v[Q_COUNT] = {0};
    if (collect_query(req, v, err)) {
        return -1;
    }
    struct render_query q = {
        .params = {.service = v[Q_SERVICE],
                   .role = v[Q_ROLE],
                   .hostname = v[Q_HOSTNAME],
                   .scope = v[Q_SCOPE]},
        .envelope = http_accepts_envelope(req->accept),
    };
    if (typed_render_params(v, &q.params, err)) {
        return -1;
    }
    if (v[Q_FORMAT]) {
        if (strcmp(v[Q_FORMAT], "envelope") == 0) {
            q.envelope = true;
        } else if (strcmp(v[Q_FORMAT], "config") == 0) {
            q.envelope = false;
        } else {
            return err_set(err, ERR_BAD_REQUEST, "format", "format must be 'envelope' or 'config'");
        }
    }
    if (v[Q_COMPACT]) {
        if (strcmp(v[Q_COMPACT], "true") != 0 && strcmp(v[Q_COMPACT], "false") != 0) {
            return err_set(err, ERR_BAD_REQUEST, "compact", "compact must be true or false");
        }
        q.compact = strcmp(v[Q_COMPACT], "true") == 0;
    }
    *out = q;
    return 0;
}

bool http_request_id_valid(const char *id)
{
    if (!id || !*id) {
        return false;
    }
    size_t n = 0;
    for (const char *c = id; *c; c++, n++) {
        if (n >= 128 || *c < 0x21 || *c > 0x7e) {
            return false;
        }
    }
    return true;
}

bool handler_scope_allowed(const struct http_req *req, const char *scope)
{
    return !req->scope_allowed || req->scope_allowed(req->grant, scope);
}

int handler_check_scopes(const struct http_req *req, const char *scope,
                         const struct render_secret_refs *refs, struct err *err)
{
    if (!handler_scope_allowed(req, scope)) {
        return err_set(err, ERR_FORBIDDEN, "scope", "the token is not allowed for scope '%s'",
                       scope);
    }
    for (size_t i = 0; i < refs->n; i++) {
        const struct render_secret_ref *ref = &refs->items[i];
        if (!handler_scope_allowed(req, ref->scope)) {
            return err_set(err, ERR_FORBIDDEN, ref->path,
                           "the token is not allowed for scope '%s' of secret reference %s",
                           ref->scope, ref->ref);
        }
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0) {
        lo = 0xa0;
    } else if (c == 0xed) {
        hi = 0x9f;
    } else if (c == 0xf0) {
        lo = 0x90;
    } else if (c == 0xf4) {
        hi = 0x8f;
    }
    if (!n || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return n;
}

void http_text_sanitize(const char *in, char *out, size_t out_len)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t k = 0;
    while (*s) {
        size_t n = utf8_sequence(s);
        if (n) {
            if (k + n >= out_len) {
                break;
            }
            memcpy(out + k, s, n);
            k += n;
            s += n;
            continue;
        }
        if (k + 4 >= out_len) {
            break;
        }
        static const char hex[] = "0123456789abcdef";
        out[k++] = '\\';
        out[k++] = 'x';
        out[k++] = hex[*s >> 4];
        out[k++] = hex[*s & 15];
        s++;
    }
    out[k] = '\0';
}
