/*
 * process.env: each key once, layers lowest first:
 * image env, PATH/TERM defaults, spec env (sorted by key), options env (in order), CDI env
 * overrides, baked-in GPU and distributed-training defaults, MPS and time-slice overrides.
 *
 * The list is c->cfg->process.env, "KEY=VALUE" strings in the result's arena. An entry that
 * already reads KEY=VALUE (image config, CDI, a constant default) is used in place; only
 * entries joined from a key and a value are built. Entries may hold secret values: they live
 * only in the arena, which is wiped when the result is released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/spec_path.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SECRET_PREFIX "$S:"
#define ENV_PREFIX "$E:"

/* One KEY=VALUE entry is at most 4 MiB; a longer one is reported as out of memory, as the
 * bounded builder the list was first made with did (errors must not change). */
#define ENV_ENTRY_MAX ((size_t)1 << 22)

/* ---- the env list ---- */

static bool entry_has_key(const char *entry, const char *key, size_t key_len)
{
    return strncmp(entry, key, key_len) == 0 && entry[key_len] == '=';
}

static bool env_has(const struct rctx *c, const char *key, size_t key_len)
{
    const struct strv *env = &c->cfg->process.env;
    for (size_t i = 0; i < env->n; i++) {
        if (entry_has_key(env->v[i], key, key_len)) {
            return true;
        }
    }
    return false;
}

/* First half of an override: drop every entry with this key (the others keep their order),
 * then make sure one more entry is allowed. */
static int env_drop(struct rctx *c, const char *key, size_t key_len)
{
    struct strv *env = &c->cfg->process.env;
    size_t kept = 0;
    for (size_t i = 0; i < env->n; i++) {
        if (!entry_has_key(env->v[i], key, key_len)) {
            env->v[kept++] = env->v[i];
        }
    }
    env->n = kept;
    if (env->n >= LIMIT_ENV_ENTRIES) {
        return rctx_fail(c, "env", "too many environment variables (more than %d)",
                         LIMIT_ENV_ENTRIES);
    }
    return 0;
}

static int env_append(struct rctx *c, const char *entry)
{
    return strv_push(c->a, &c->cfg->process.env, entry) ? rctx_nomem(c) : 0;
}

/* "Override" with an entry that already reads KEY=VALUE: it is used in place, so it must live
 * as long as the result (request strings, CDI edits the result keeps, string literals). */
static int env_put(struct rctx *c, const char *key, size_t key_len, const char *entry)
{
    if (env_drop(c, key, key_len)) {
        return -1;
    }
    return strlen(entry) > ENV_ENTRY_MAX ? rctx_nomem(c) : env_append(c, entry);
}

/* "Override": drop every entry with this key, then append KEY=VALUE. */
int env_set(struct rctx *c, const char *key, size_t key_len, const char *value)
{
    if (env_drop(c, key, key_len)) {
        return -1;
    }
    size_t value_len = strlen(value);
    if (value_len > ENV_ENTRY_MAX || key_len + 1 > ENV_ENTRY_MAX - value_len) {
        return rctx_nomem(c);
    }
    char *entry = arena_alloc(c->a, key_len + 1 + value_len + 1);
    if (!entry) {
        return rctx_nomem(c);
    }
    memcpy(entry, key, key_len);
    entry[key_len] = '=';
    memcpy(entry + key_len + 1, value, value_len + 1);
    return env_append(c, entry);
}

int env_set_default(struct rctx *c, const char *key, const char *value)
{
    size_t n = strlen(key);
    return env_has(c, key, n) ? 0 : env_set(c, key, n, value);
}

/* A default whose entry is a constant: KEY and VALUE are string literals. */
#define ENV_CONST_DEFAULT(c, KEY, VALUE) env_const_default(c, KEY, KEY "=" VALUE)

static int env_const_default(struct rctx *c, const char *key, const char *entry)
{
    size_t n = strlen(key);
    return env_has(c, key, n) ? 0 : env_put(c, key, n, entry);
}

/* ---- $S: references (the original's grammar plus @N version pins) ---- */

void render_secret_ref_clear(struct render_secret_ref *r)
{
    if (!r) {
        return;
    }
    free(r->env);
    free(r->ref);
    free(r->scope);
    free(r->name);
    free(r->field);
    free(r->path);
    memset(r, 0, sizeof(*r));
}

void render_secret_refs_release(struct render_secret_refs *refs)
{
    for (size_t i = 0; refs && i < refs->n; i++) {
        render_secret_ref_clear(&refs->items[i]);
    }
    if (refs) {
        free(refs->items);
        refs->items = NULL;
        refs->n = 0;
    }
}

/* Secret names become vault path segments: keep them to a safe alphabet. */
static bool valid_secret_name(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_field(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == '/') {
            return false;
        }
    }
    return true;
}

/* Split "name@N" into name length and version; 0 when not pinned. */
static int split_version(const char *name, size_t *len, unsigned *version)
{
    const char *at = memchr(name, '@', *len);
    *version = 0;
    if (!at) {
        return 0;
    }
    size_t digits = *len - (size_t)(at - name) - 1;
    if (digits == 0 || digits > 9) {
        return -1;
    }
    unsigned v = 0;
    for (size_t i = 0; i < digits; i++) {
        char ch = at[1 + i];
        if (ch < '0' || ch > '9') {
            return -1;
        }
        v = v * 10 + (unsigned)(ch - '0');
    }
    if (v == 0) {
        return -1;
    }
    *version = v;
    *len = (size_t)(at - name);
    return 0;
}

struct ref_parts {
    const char *svc, *project, *envname, *name, *field;
    size_t svc_len, project_len, env_len, name_len, field_len;
    bool env_form;
};

static int split_ref(const char *rest, struct ref_parts *p)
{
    memset(p, 0, sizeof(*p));
    size_t n = strlen(rest);
    if (n == 0 || rest[0] == '/') {
        return -1;
    }
    if (rest[0] == '@') {
        const char *a = rest + 1;
        const char *s1 = strchr(a, '/');
        if (!s1 || s1 == a) {
            return -1;
        }
        const char *b = s1 + 1;
        const char *s2 = strchr(b, '/');
        p->svc = a;
        p->svc_len = (size_t)(s1 - a);
        p->name = b;
        p->name_len = s2 ? (size_t)(s2 - b) : strlen(b);
        if (s2 && s2[1]) {
            p->field = s2 + 1;
            p->field_len = strlen(s2 + 1);
        }
        return p->name_len ? 0 : -1;
    }
    const char *slash = strchr(rest, '/');
    if (!slash) {
        if (strchr(rest, ':')) {
            return -1;
        }
        p->name = rest;
        p->name_len = n;
        return 0;
    }
    size_t scope_len = (size_t)(slash - rest);
    const char *tail = slash + 1;
    const char *colon = memchr(rest, ':', scope_len);
    if (colon) {
        p->env_form = true;
        p->project = rest;
        p->project_len = (size_t)(colon - rest);
        p->envname = colon + 1;
        p->env_len = scope_len - p->project_len - 1;
        if (p->env_len == 0 || memchr(p->envname, ':', p->env_len)) {
            return -1;
        }
        const char *s2 = strchr(tail, '/');
        p->name = tail;
        p->name_len = s2 ? (size_t)(s2 - tail) : strlen(tail);
        if (s2) {
            p->field = s2 + 1;
            p->field_len = strlen(s2 + 1);
            if (p->field_len == 0 || strchr(p->field, '/')) {
                return -1;
            }
        }
        return p->name_len ? 0 : -1;
    }
    if (scope_len == 0 || !*tail || strchr(tail, '/')) {
        return -1;
    }
    p->name = rest;
    p->name_len = scope_len;
    p->field = tail;
    p->field_len = strlen(tail);
    return 0;
}

int render_parse_secret_ref(const char *value, const char *base_scope, const char *path,
                            struct render_secret_ref *out, struct err *err)
{
    struct ref_parts p;
    memset(out, 0, sizeof(*out));
    if (!str_has_prefix(value, SECRET_PREFIX) || split_ref(value + 3, &p) ||
        split_version(p.name, &p.name_len, &out->version) ||
        !valid_secret_name(p.name, p.name_len) || (p.field && !valid_field(p.field, p.field_len)) ||
        (p.svc && !valid_secret_name(p.svc, p.svc_len)) ||
        (p.env_form && (!valid_secret_name(p.envname, p.env_len) ||
                        (p.project_len && !valid_secret_name(p.project, p.project_len))))) {
        return err_set(err, ERR_SPEC_INVALID, path,
                       "invalid secret reference '%s' (expected $S:name[@N][/field], "
                       "$S:@service/name[/field], $S::env/name[/field] or "
                       "$S:project:env/name[/field]; names use letters, digits, '_', '-', '.')",
                       value);
    }
    struct sbuf scope;
    sbuf_init(&scope, 1024);
    int rc;
    if (p.env_form && p.project_len) {
        rc = sbuf_add(&scope, "project:") || sbuf_addn(&scope, p.project, p.project_len) ||
             sbuf_add(&scope, ":env:") || sbuf_addn(&scope, p.envname, p.env_len);
    } else if (p.env_form) {
        rc = sbuf_add(&scope, "env:") || sbuf_addn(&scope, p.envname, p.env_len);
    } else {
        rc = sbuf_add(&scope, base_scope);
        if (!rc && p.svc) {
            rc = sbuf_addc(&scope, '/') || sbuf_addn(&scope, p.svc, p.svc_len);
        }
    }
    if (rc) {
        return err_nomem(err);
    }
    out->scope = sbuf_take(&scope, NULL);
    out->ref = str_dup(value);
    out->name = str_ndup(p.name, p.name_len);
    out->field = p.field ? str_ndup(p.field, p.field_len) : NULL;
    out->path = str_dup(path ? path : "");
    if (!out->scope || !out->ref || !out->name || (p.field && !out->field) || !out->path) {
        render_secret_ref_clear(out);
        return err_nomem(err);
    }
    return 0;
}

/* ---- spec env ---- */

/* One spec env variable; the spec map is sorted into a list of these. */
struct env_item {
    const char *key, *value;
};

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const struct env_item *)a)->key, ((const struct env_item *)b)->key);
}

/* The spec env sorted by key (borrowed strings), in `a`. NULL on OOM or an empty map. */
static const struct env_item *sorted_env(struct arena *a, const struct mmap *env)
{
    if (env->n == 0) {
        return NULL;
    }
    struct env_item *items = arena_calloc(a, env->n, sizeof(*items));
    if (!items) {
        return NULL;
    }
    for (size_t i = 0; i < env->n; i++) {
        items[i] = (struct env_item){.key = env->keys[i], .value = mmap_str(env, i)};
    }
    qsort(items, env->n, sizeof(*items), cmp_items);
    return items;
}

/* The service-relative field of a spec env key: env.NAME, or env["odd name"]. */
static const char *env_field(const char *key, char *buf, size_t size)
{
    spec_path_of_key(buf, size, "env", key);
    return buf;
}

static void env_field_path(struct rctx *c, const char *key, char *buf, size_t size)
{
    char field[ERR_PATH_MAX];
    rctx_path(c, buf, size, env_field(key, field, sizeof(field)));
}

/* An rctx with just what env_field_path needs, for request-time work outside a render. */
static void request_path_ctx(const struct render_request *req, struct rctx *c, struct err *err)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->err = err;
    rctx_set_service_path(c, req);
}

/* Keep the first malformed reference's key and message: render_request_secret_refs and
 * render_execute report it when they reach it, as if they had parsed it themselves. */
static int keep_bad_ref(struct render_request *req, const char *key, const struct err *cause,
                        struct err *err)
{
    req->bad_ref_key = str_dup(key);
    req->bad_ref_msg = str_dup(err_message(cause));
    return req->bad_ref_key && req->bad_ref_msg ? 0 : err_nomem(err);
}

/* The references are the request's (malloc'd: render_secret_refs_release frees them); the
 * sorted view of the env is a scratch list in the request's arena. */
int request_parse_secret_refs(struct render_request *req, struct err *err)
{
    struct rctx c;
    request_path_ctx(req, &c, err);
    struct render_secret_refs *out = &req->refs;
    const struct mmap *env = &req->service->env;
    size_t n = env->n;
    const struct env_item *items = sorted_env(&req->arena, env);
    if (n && !items) {
        return err_nomem(err);
    }
    out->items = n ? calloc(n, sizeof(*out->items)) : NULL;
    if (n && !out->items) {
        return err_nomem(err);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && !req->bad_ref_key; i++) {
        const char *key = items[i].key, *value = items[i].value;
        if (!str_has_prefix(value, SECRET_PREFIX)) {
            continue;
        }
        char path[ERR_PATH_MAX];
        env_field_path(&c, key, path, sizeof(path));
        struct render_secret_ref *r = &out->items[out->n];
        struct err perr;
        err_init(&perr);
        if (render_parse_secret_ref(value, req->scope, path, r, &perr)) {
            rc = perr.code == ERR_NOMEM ? err_nomem(err) : keep_bad_ref(req, key, &perr, err);
            continue;
        }
        out->n++;
        r->env = str_dup(key);
        if (!r->env) {
            rc = err_nomem(err);
        }
    }
    return rc;
}

static int bad_ref_error(const struct render_request *req, struct rctx *c)
{
    char path[ERR_PATH_MAX];
    env_field_path(c, req->bad_ref_key, path, sizeof(path));
    return err_set(c->err, ERR_SPEC_INVALID, path, "%s", req->bad_ref_msg);
}

static int secret_ref_copy(struct render_secret_ref *dst, const struct render_secret_ref *src)
{
    *dst = (struct render_secret_ref){.env = str_dup(src->env), .ref = str_dup(src->ref),
                                      .scope = str_dup(src->scope), .name = str_dup(src->name),
                                      .field = str_dup(src->field), .version = src->version,
                                      .path = str_dup(src->path)};
    if (!dst->env || !dst->ref || !dst->scope || !dst->name || (src->field && !dst->field) ||
        !dst->path) {
        render_secret_ref_clear(dst);
        return -1;
    }
    return 0;
}

int render_request_secret_refs(const struct render_request *req, struct render_secret_refs *out,
                               struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (req->bad_ref_key) {
        struct rctx c;
        request_path_ctx(req, &c, err);
        return bad_ref_error(req, &c);
    }
    const struct render_secret_refs *refs = &req->refs;
    out->items = refs->n ? calloc(refs->n, sizeof(*out->items)) : NULL;
    if (refs->n && !out->items) {
        return err_nomem(err);
    }
    for (; out->n < refs->n; out->n++) {
        if (secret_ref_copy(&out->items[out->n], &refs->items[out->n])) {
            render_secret_refs_release(out);
            return err_nomem(err);
        }
    }
    return 0;
}

/* $E: reads host.env first, then the server environment the settings allow. */
static const char *lookup_env_fact(const struct rctx *c, const char *name)
{
    const struct mmap *env = &c->host->env;
    const char *v = NULL;
    for (size_t i = 0; i < env->n && !v; i++) {
        if (strcmp(env->keys[i], name) == 0) {
            v = mmap_str(env, i);
        }
    }
    if (!v && c->set->server_env) {
        v = jsonx_get_str(c->set->server_env, name);
    }
    return v;
}

/* Resolve one spec env value: $$ escape, $E: host facts, $S: secret values, or literal. */
static int resolve_value(struct rctx *c, const char *key, const char *value, const char **out)
{
    char path[ERR_PATH_MAX]; /* made only for an error: most values are plain */
    if (value[0] == '$' && value[1] == '$') {
        *out = value + 1;
        return 0;
    }
    if (str_has_prefix(value, ENV_PREFIX)) {
        const char *name = value + strlen(ENV_PREFIX);
        const char *v = lookup_env_fact(c, name);
        if (!v) {
            env_field_path(c, key, path, sizeof(path));
            return err_set(c->err, ERR_SPEC_INVALID, path,
                           "environment variable '%s' referenced by $E:%s is not set "
                           "(send it in host.env)",
                           name, name);
        }
        char field[ERR_PATH_MAX];
        if (!*v && rctx_warn(c, "env_empty", env_field(key, field, sizeof(field)),
                             "environment variable '%s' referenced by %s is set but empty", name,
                             key)) {
            return -1;
        }
        *out = v;
        return 0;
    }
    if (str_has_prefix(value, SECRET_PREFIX)) {
        /* Parsed with the request: only the first malformed one is kept, and rendering
         * stops there. */
        if (c->req->bad_ref_key && strcmp(key, c->req->bad_ref_key) == 0) {
            return bad_ref_error(c->req, c);
        }
        const char *v = jsonx_get_str(c->secret_values, value);
        if (!v && c->set->placeholder_secrets) {
            v = "<secret>";
        }
        if (!v) {
            env_field_path(c, key, path, sizeof(path));
            return err_set(c->err, ERR_SECRET_NOT_FOUND, path,
                           "secret reference %s was not resolved", value);
        }
        *out = v;
        return 0;
    }
    *out = value;
    return 0;
}

/* A name with '=' or a newline would smuggle a second variable into the runtime's KEY=VALUE
 * list ("A\nPATH=x"); whitespace and control characters are never part of a usable name. NUL
 * cannot reach here: both loaders refuse it in keys. */
static bool env_key_ok(const char *key)
{
    if (!*key) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p == '=' || *p <= 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

static int env_key_error(struct rctx *c, const char *path)
{
    return err_set(c->err, ERR_SPEC_INVALID, path,
                   "environment variable names must be non-empty and must not contain '=', "
                   "whitespace or control characters");
}

static int valid_env_key(struct rctx *c, const char *key)
{
    if (!env_key_ok(key)) {
        char path[ERR_PATH_MAX];
        env_field_path(c, key, path, sizeof(path));
        return env_key_error(c, path);
    }
    return 0;
}

/* The image's entries already read KEY=VALUE: they go in as they are. One without a key is
 * skipped with a warning at its place in the image config (not a spec path). */
static int image_env(struct rctx *c)
{
    if (!c->image) {
        return 0;
    }
    const struct mlist *list = &c->image->env;
    for (size_t i = 0; i < list->n; i++) {
        const char *e = mlist_str(list, i);
        const char *eq = strchr(e, '=');
        if (!eq || eq == e) {
            char path[64];
            snprintf(path, sizeof(path), "image_config.Env[%zu]", i);
            if (rctx_warn_at(c, "image_env_invalid", path,
                             "image env entry is not KEY=VALUE; skipped")) {
                return -1;
            }
            continue;
        }
        if (env_put(c, e, (size_t)(eq - e), e)) {
            return -1;
        }
    }
    return 0;
}

static int options_env(struct rctx *c)
{
    const struct mlist *pairs = &c->opt->env;
    for (size_t i = 0; i < pairs->n; i++) {
        const struct env_pair *p = mlist_ptr(pairs, i);
        if (!env_key_ok(p->name)) {
            char path[64];
            snprintf(path, sizeof(path), "options.env[%zu][0]", i);
            return env_key_error(c, path);
        }
        if (env_set(c, p->name, strlen(p->name), p->value)) {
            return -1;
        }
    }
    return 0;
}

/* KEY=value, or for KEY_FILE with a $S: value the path of the file that holds it. */
static int set_spec_env(struct rctx *c, const char *key, const char *raw, const char *value)
{
    if (secret_file_key(key, raw)) {
        char path[ERR_PATH_MAX];
        env_field_path(c, key, path, sizeof(path));
        return secret_file_add(c, key, value, path);
    }
    return env_set(c, key, strlen(key), value);
}

int render_env(struct rctx *c)
{
    if (image_env(c) || ENV_CONST_DEFAULT(c, "PATH", DEFAULT_PATH) ||
        ENV_CONST_DEFAULT(c, "TERM", "xterm")) {
        return -1;
    }
    const struct mmap *env = &c->svc->env;
    const struct env_item *items = sorted_env(c->a, env);
    if (env->n && !items) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < env->n; i++) {
        const char *key = items[i].key, *raw = items[i].value;
        const char *value;
        if (valid_env_key(c, key) || resolve_value(c, key, raw, &value) ||
            set_spec_env(c, key, raw, value)) {
            return -1;
        }
    }
    return options_env(c);
}

/* ---- GPU env: CDI overrides, baked-in defaults, MPS, time-slicing, distributed ---- */

/* Every entry of the CDI edits' env lists, in order. They read KEY=VALUE (the CDI loader
 * checks it) and are used in place: the result keeps the edits (render/oci.h). */
static int cdi_env(struct rctx *c)
{
    for (size_t i = 0; i < json_array_size(c->cdi_edits); i++) {
        const json_t *list = json_object_get(json_array_get(c->cdi_edits, i), "env");
        for (size_t j = 0; j < json_array_size(list); j++) {
            const char *e = json_string_value(json_array_get(list, j));
            const char *eq = strchr(e, '=');
            if (env_put(c, e, (size_t)(eq - e), e)) {
                return -1;
            }
        }
    }
    return 0;
}

/* Room for "0,1,...,N-1" with every id of at most 4 digits (gpu.count <= LIMIT_GPU_COUNT). */
#define GPU_IDS_MAX (LIMIT_GPU_COUNT * 5)

/* The GPU ids "0,1,...,count-1" into buf. -1 when they do not fit. */
static int gpu_ids(long long count, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (long long i = 0; i < count; i++) {
        int n = snprintf(buf + len, size - len, "%s%lld", i ? "," : "", i);
        if (n < 0 || (size_t)n >= size - len) {
            return -1;
        }
        len += (size_t)n;
    }
    return 0;
}

static int gpu_visibility_env(struct rctx *c)
{
    if (c->cdi_edits) {
        if (cdi_env(c)) {
            return -1;
        }
        /* The device `all` exposes every GPU: the visibility defaults keep gpu.count's say. */
        if (!c->cdi_all) {
            return 0;
        }
    }
    if (!c->gpu) {
        return 0;
    }
    char ids[GPU_IDS_MAX + 1];
    if (gpu_ids(c->gpu->count.set ? c->gpu->count.v : 1, ids, sizeof(ids))) {
        return rctx_nomem(c);
    }
    const char *vendor = c->gpu->vendor ? c->gpu->vendor : "nvidia";
    int rc = 0;
    if (strcmp(vendor, "nvidia") == 0) {
        rc = env_set_default(c, "NVIDIA_VISIBLE_DEVICES", ids) ||
             env_set_default(c, "CUDA_VISIBLE_DEVICES", ids);
    } else if (strcmp(vendor, "amd") == 0) {
        rc = env_set_default(c, "ROCR_VISIBLE_DEVICES", ids) ||
             env_set_default(c, "HIP_VISIBLE_DEVICES", ids);
    } else if (strcmp(vendor, "intel") == 0) {
        rc = env_set_default(c, "ZE_AFFINITY_MASK", ids);
    }
    return rc ? -1 : 0;
}

/* MPS directories must exist on the node: checked against host.dirs when sent. */
static int check_mps_dir(struct rctx *c, const char *field, const char *dir, const char *what)
{
    char f[64];
    snprintf(f, sizeof(f), "resources.gpu.%s", field);
    if (dir[0] != '/') {
        return rctx_fail(c, f, "MPS %s directory '%s' must be an absolute path", what, dir);
    }
    if (!rctx_has_facts(c, "dirs")) {
        return rctx_warn(c, "mps_dir_unverified", f,
                         "MPS %s directory %s was not verified on the node (no host.dirs facts)",
                         what, dir);
    }
    if (!rctx_fact_listed(c, "dirs", dir)) {
        return rctx_fail(c, f,
                         "GPU sharing mode 'mps' is unavailable: MPS %s directory %s does not "
                         "exist; ensure nvidia-cuda-mps-control is running",
                         what, dir);
    }
    return 0;
}

/* The value of `key` in the env list (borrowed), or NULL. */
static const char *env_get(const struct rctx *c, const char *key)
{
    const struct strv *env = &c->cfg->process.env;
    size_t n = strlen(key);
    for (size_t i = 0; i < env->n; i++) {
        if (entry_has_key(env->v[i], key, n)) {
            return env->v[i] + n + 1;
        }
    }
    return NULL;
}

static bool path_list_has(const char *list, const char *dir)
{
    size_t n = strlen(dir);
    for (const char *p = list;; p++) {
        if (strncmp(p, dir, n) == 0 && (p[n] == ':' || p[n] == '\0')) {
            return true;
        }
        p = strchr(p, ':');
        if (!p) {
            return false;
        }
    }
}

static bool wsl_lib_dir_listed(const struct host_wsl *wsl, const char *dir)
{
    for (size_t i = 0; i < wsl->lib_dirs.n; i++) {
        if (str_eq(mlist_str(&wsl->lib_dirs, i), dir)) {
            return true;
        }
    }
    return false;
}

/*
 * WSL2 (docs/wsl2.md): the Windows driver's user-space libraries (libcuda, libdxcore, ...) are
 * in the WSL library directories, bind-mounted read-only (mounts.c); the dynamic loader must
 * look there first. The directories that exist go before any value the layers above set, in
 * the original's order (drivers, then lib); one already in the value is not repeated.
 */
static int wsl_library_path(struct rctx *c)
{
    static const char *const order[] = {"/usr/lib/wsl/drivers", "/usr/lib/wsl/lib"};
    if (!c->gpu || !c->wsl) {
        return 0;
    }
    const char *old = env_get(c, "LD_LIBRARY_PATH");
    char dirs[64]; /* both directories joined */
    size_t len = 0;
    dirs[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (wsl_lib_dir_listed(c->wsl, order[i]) && !(old && path_list_has(old, order[i]))) {
            len += (size_t)snprintf(dirs + len, sizeof(dirs) - len, "%s%s", len ? ":" : "",
                                    order[i]);
        }
    }
    if (len == 0) {
        return 0;
    }
    const char *value = dirs;
    if (old && *old) {
        /* The old value may be a secret: the joined value is built in the arena only. */
        if (strlen(old) > ENV_ENTRY_MAX - len - 1) {
            return rctx_nomem(c);
        }
        value = rctx_printf(c, "%s:%s", dirs, old);
        if (!value) {
            return -1;
        }
    }
    return env_set(c, "LD_LIBRARY_PATH", strlen("LD_LIBRARY_PATH"), value);
}

/* resources.gpu.distributed: the rendezvous defaults of torch.distributed. */
static int distributed_env(struct rctx *c, const struct spec_distributed *dist)
{
    const char *backend = dist->backend ? dist->backend : "nccl";
    char port[24];
    snprintf(port, sizeof(port), "%lld", dist->master_port.set ? dist->master_port.v : 29500ll);
    if (env_set_default(c, "MASTER_PORT", port) ||
        env_set_default(c, "MASTER_ADDR", c->req->container_service) ||
        ENV_CONST_DEFAULT(c, "WORLD_SIZE", "1") || ENV_CONST_DEFAULT(c, "RANK", "0") ||
        ENV_CONST_DEFAULT(c, "LOCAL_RANK", "0")) {
        return -1;
    }
    if (strcmp(backend, "nccl") == 0) {
        return ENV_CONST_DEFAULT(c, "NCCL_SOCKET_IFNAME", "eth0");
    }
    if (strcmp(backend, "gloo") == 0) {
        return ENV_CONST_DEFAULT(c, "GLOO_SOCKET_IFNAME", "eth0");
    }
    return 0;
}

int render_gpu_sharing_env(struct rctx *c)
{
    if (gpu_visibility_env(c) || wsl_library_path(c)) {
        return -1;
    }
    if (!c->gpu) {
        return 0;
    }
    const char *sharing = c->gpu->sharing;
    if (str_eq(sharing, "mps")) {
        const char *pipe = c->gpu->mps_pipe_dir ? c->gpu->mps_pipe_dir : "/tmp/nvidia-mps";
        const char *log = c->gpu->mps_log_dir ? c->gpu->mps_log_dir : "/tmp/nvidia-log";
        if (check_mps_dir(c, "mps_pipe_dir", pipe, "pipe") ||
            check_mps_dir(c, "mps_log_dir", log, "log") ||
            env_set(c, "CUDA_MPS_PIPE_DIRECTORY", strlen("CUDA_MPS_PIPE_DIRECTORY"), pipe) ||
            env_set(c, "CUDA_MPS_LOG_DIRECTORY", strlen("CUDA_MPS_LOG_DIRECTORY"), log)) {
            return -1;
        }
    }
    if (str_eq(sharing, "time-slice") && c->gpu->time_slice_index.set) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", c->gpu->time_slice_index.v);
        if (env_set(c, "CUDA_VISIBLE_DEVICES", strlen("CUDA_VISIBLE_DEVICES"), v)) {
            return -1;
        }
    }
    return c->gpu->distributed ? distributed_env(c, c->gpu->distributed) : 0;
}
