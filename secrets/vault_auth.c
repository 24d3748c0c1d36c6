/*
 * The vault token lifecycle: where the token comes from (VAULT_TOKEN, VAULT_TOKEN_FILE, or an
 * AppRole login), learning its TTL (lookup-self), keeping it alive (renew-self at ~2/3 of the
 * TTL, by a small maintenance thread so an idle server does not lose it), and recovering when
 * the vault says it is no longer valid (AppRole: log in again; token file: re-read it).
 *
 * Only one login or lookup runs at a time (`busy`); other threads wait for its result rather
 * than logging in again. The token is secret: copies handed out are wiped by their users, and
 * it never appears in a message.
 */
#include "secrets/vault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"

#define TOKEN_MAX LIMIT_TOKEN
#define LOOKUP_RETRY_MS 5000
#define RENEW_RETRY_MS 5000
#define LOGIN_HOLD_MS 1000

enum token_source { TOKEN_STATIC, TOKEN_FILE, TOKEN_APPROLE };

struct vault_auth {
    struct vault_http *http;
    const struct log_hook *log;
    enum token_source source;
    char *role_id, *secret_id, *approle_mount, *token_file;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* busy cleared, schedule changed, stopping (CLOCK_MONOTONIC) */
    char *token;         /* NULL: none yet (AppRole) or dropped */
    unsigned gen;        /* bumped whenever the token changes */
    bool busy;
    bool known; /* TTL/renewability learned (lookup-self or login) */
    uint64_t next_lookup_ms;
    bool renewable;
    unsigned increment_s; /* asked for on renew-self: the token's creation TTL */
    uint64_t expires_ms;  /* 0: no expiry known */
    uint64_t renew_at_ms; /* 0: nothing planned */
    uint64_t relogin_at_ms;
    uint64_t login_failed_ms; /* a failed login is reported to callers for a moment */
    struct err login_err;
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

struct token_info {
    char *token; /* login only */
    long ttl_s;
    long creation_ttl_s;
    bool renewable;
};

/* ---- helpers ---- */

static bool token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TOKEN_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f) {
            return false; /* header injection, or a copy-paste accident */
        }
    }
    return true;
}

static char *token_from_file(const char *path, struct err *err)
{
    size_t len = 0;
    char *buf = secret_file_read(path, TOKEN_MAX + 64, &len, "vault token file", err);
    if (!buf) {
        return NULL;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t')) {
        buf[--len] = '\0';
    }
    if (!token_ok(buf)) {
        secret_str_free(buf);
        err_set(err, ERR_SPEC_INVALID, "VAULT_TOKEN_FILE",
                "the vault token file %s does not hold a single printable token", path);
        return NULL;
    }
    return buf;
}

static void set_token(struct vault_auth *a, char *token)
{
    secret_str_free(a->token);
    a->token = token;
    a->gen++;
    a->known = false;
    a->renewable = false;
    a->expires_ms = a->renew_at_ms = a->relogin_at_ms = 0;
    a->next_lookup_ms = 0;
    pthread_cond_broadcast(&a->cond);
}

/* Plan renewal / re-login from a freshly learned TTL (lock held). */
static void schedule(struct vault_auth *a, const struct token_info *ti, uint64_t now)
{
    a->known = true;
    a->renewable = ti->renewable;
    if (ti->creation_ttl_s > 0) {
        a->increment_s = (unsigned)ti->creation_ttl_s;
    } else if (ti->ttl_s > 0 && !a->increment_s) {
        a->increment_s = (unsigned)ti->ttl_s;
    }
    a->expires_ms = ti->ttl_s > 0 ? now + (uint64_t)ti->ttl_s * 1000u : 0;
    uint64_t two_thirds = ti->ttl_s > 0 ? (uint64_t)ti->ttl_s * 2000u / 3u : 0;
    a->renew_at_ms = (ti->ttl_s > 0 && ti->renewable) ? now + two_thirds : 0;
    a->relogin_at_ms =
        (a->source == TOKEN_APPROLE && ti->ttl_s > 0 && !ti->renewable) ? now + two_thirds : 0;
    pthread_cond_broadcast(&a->cond);
}

static long json_long(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        return (long)json_integer_value(v);
    }
    if (json_is_string(v)) { /* some fields are strings in older servers */
        int64_t n;
        if (str_to_i64(json_string_value(v), &n) == 0) {
            return (long)n;
        }
    }
    return 0;
}

/* ---- requests ---- */

/* lookup-self: 0 valid (info filled), 1 the vault refused the token (403), -1 other failure. */
static int lookup(struct vault_auth *a, const char *token, unsigned timeout_ms,
                  struct token_info *ti, struct err *err)
{
    struct vault_req req = {.method = "GET", .path = "auth/token/lookup-self", .token = token,
                            .max_retries = timeout_ms ? 0 : -1, .timeout_ms = timeout_ms};
    struct vault_resp resp;
    if (vault_http_do(a->http, &req, "vault token lookup", &resp, err)) {
        return -1;
    }
    int rc = -1;
    if (resp.status == 403) {
        rc = 1;
        vault_status_error(&resp, "vault token lookup", err);
    } else if (resp.status != 200) {
        vault_status_error(&resp, "vault token lookup", err);
    } else {
        json_t *doc = vault_resp_json(&resp, "vault token lookup", err);
        const json_t *data = json_object_get(doc, "data");
        if (doc && !json_is_object(data)) {
            err_set(err, ERR_SECRET_BACKEND, NULL, "vault token lookup: no data in the answer");
        } else if (doc) {
            ti->ttl_s = json_long(data, "ttl");
            ti->creation_ttl_s = json_long(data, "creation_ttl");
            ti->renewable = json_is_true(json_object_get(data, "renewable"));
            rc = 0;
        }
        secret_json_decref(doc); /* data.id is the token itself */
    }
    vault_resp_release(&resp);
    return rc;
}

/* Read the `auth` block of a login or renew answer. */
static int auth_block(const struct vault_resp *resp, const char *what, bool want_token,
                      struct token_info *ti, struct err *err)
{
    json_t *doc = vault_resp_json(resp, what, err);
    if (!doc) {
        return -1;
    }
    const json_t *auth = json_object_get(doc, "auth");
    const char *tok = jsonx_get_str(auth, "client_token");
    int rc = -1;
    if (!json_is_object(auth) || (want_token && (!tok || !token_ok(tok)))) {
        err_set(err, ERR_SECRET_BACKEND, NULL, "%s: the vault's answer has no usable auth block",
                what);
    } else {
        ti->ttl_s = json_long(auth, "lease_duration");
        ti->creation_ttl_s = 0;
        ti->renewable = json_is_true(json_object_get(auth, "renewable"));
        ti->token = want_token ? str_dup(tok) : NULL;
        rc = (want_token && !ti->token) ? err_nomem(err) : 0;
    }
    secret_json_decref(doc);
    return rc;
}

static int login(struct vault_auth *a, struct token_info *ti, struct err *err)
{
    json_t *body = json_object();
    char *text = NULL;
    if (!body || jsonx_set_str(body, "role_id", a->role_id) ||
        jsonx_set_str(body, "secret_id", a->secret_id) ||
        !(text = jsonx_dump(body, JSONX_COMPACT, NULL))) {
        secret_json_decref(body);
        return err_nomem(err);
    }
    secret_json_decref(body);
    struct sbuf path;
    sbuf_init(&path, 1024);
    if (sbuf_add(&path, "auth/") || vault_path_add(&path, a->approle_mount) ||
        sbuf_add(&path, "/login")) {
        secret_str_free(text);
        return err_set(err, ERR_SPEC_INVALID, "VAULT_APPROLE_MOUNT", "invalid AppRole mount");
    }
    struct vault_req req = {.method = "POST", .path = sbuf_str(&path), .body = text,
                            .max_retries = -1};
    struct vault_resp resp;
    int rc = vault_http_do(a->http, &req, "vault AppRole login", &resp, err);
    secret_str_free(text);
    if (rc == 0) {
        if (resp.status == 200) {
            rc = auth_block(&resp, "vault AppRole login", true, ti, err);
        } else {
            /* 400 "invalid role or secret ID" is a credentials problem, like 403 */
            if (resp.status == 400) {
                resp.status = 403;
            }
            rc = vault_status_error(&resp, "vault AppRole login", err);
        }
        vault_resp_release(&resp);
    }
    sbuf_free(&path);
    log_hookf(a->log, rc ? LOG_WARN : LOG_INFO, "vault AppRole login %s%s%s",
                 rc ? "failed: " : "succeeded", rc ? err_message(err) : "", "");
    return rc;
}

static int renew(struct vault_auth *a, const char *token, unsigned increment_s,
                 struct token_info *ti, struct err *err)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"increment\":\"%us\"}", increment_s);
    struct vault_req req = {.method = "POST", .path = "auth/token/renew-self", .token = token,
                            .body = increment_s ? body : "{}", .max_retries = -1};
    struct vault_resp resp;
    if (vault_http_do(a->http, &req, "vault token renewal", &resp, err)) {
        return -1;
    }
    int rc;
    if (resp.status == 200) {
        rc = auth_block(&resp, "vault token renewal", false, ti, err);
    } else {
        vault_status_error(&resp, "vault token renewal", err);
        rc = resp.status == 403 ? 1 : -1;
    }
    vault_resp_release(&resp);
    return rc;
}

/* ---- maintenance thread ---- */

static void timed_wait(struct vault_auth *a, uint64_t until_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = clock_mono_ms();
    uint64_t wait = until_ms > now ? until_ms - now : 0;
    ts.tv_sec += (time_t)(wait / 1000);
    ts.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&a->cond, &a->lock, &ts);
}

static void do_relogin(struct vault_auth *a)
{
    a->busy = true;
    pthread_mutex_unlock(&a->lock);
    struct token_info ti = {0};
    struct err err;
    err_init(&err);
    int rc = login(a, &ti, &err);
    pthread_mutex_lock(&a->lock);
    a->busy = false;
    if (rc == 0) {
        set_token(a, ti.token);
        schedule(a, &ti, clock_mono_ms());
    } else {
        a->relogin_at_ms = clock_mono_ms() + RENEW_RETRY_MS;
    }
    pthread_cond_broadcast(&a->cond);
}

static void do_renew(struct vault_auth *a)
{
    char *token = str_dup(a->token);
    unsigned gen = a->gen, increment = a->increment_s;
    uint64_t expires = a->expires_ms;
    a->renew_at_ms = 0;
    pthread_mutex_unlock(&a->lock);
    struct token_info ti = {0};
    struct err err;
    err_init(&err);
    int rc = token ? renew(a, token, increment, &ti, &err) : -1;
    secret_str_free(token);
    pthread_mutex_lock(&a->lock);
    uint64_t now = clock_mono_ms();
    if (gen != a->gen) {
        return; /* replaced meanwhile */
    }
    if (rc == 0) {
        schedule(a, &ti, now);
        /* Capped by the token's max TTL: this was the last extension. */
        if (ti.ttl_s <= 0 || (unsigned long)ti.ttl_s < increment) {
            a->renew_at_ms = 0;
            if (a->source == TOKEN_APPROLE) {
                a->relogin_at_ms = now + (uint64_t)(ti.ttl_s > 0 ? ti.ttl_s : 0) * 2000u / 3u;
            } else {
                log_hookf(a->log, LOG_WARN,
                             "the vault token reaches its maximum TTL in %ld s and cannot be "
                             "renewed further; provide a new token (VAULT_TOKEN_FILE + SIGHUP) "
                             "or use AppRole",
                             ti.ttl_s);
            }
        }
        log_hookf(a->log, LOG_INFO, "vault token renewed: ttl %ld s", ti.ttl_s);
    } else if (rc == 1) {
        log_hookf(a->log, LOG_WARN, "vault token renewal refused: %s",
                     err_message(&err));
        if (a->source == TOKEN_APPROLE) {
            a->relogin_at_ms = now;
        }
    } else if (!expires || now + RENEW_RETRY_MS < expires) {
        a->renew_at_ms = now + RENEW_RETRY_MS;
        log_hookf(a->log, LOG_WARN, "vault token renewal failed (will retry): %s",
                     err_message(&err));
    }
}

static void *maintain(void *arg)
{
    struct vault_auth *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        uint64_t now = clock_mono_ms();
        uint64_t due = 0;
        if (a->renew_at_ms && a->renewable && a->token) {
            due = a->renew_at_ms;
        }
        if (a->relogin_at_ms && (!due || a->relogin_at_ms < due)) {
            due = a->relogin_at_ms;
        }
        if (!due || a->busy) {
            pthread_cond_wait(&a->cond, &a->lock);
        } else if (now < due) {
            timed_wait(a, due);
        } else if (a->relogin_at_ms && now >= a->relogin_at_ms) {
            do_relogin(a);
        } else {
            do_renew(a);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- public ---- */

static int copy_str(char **dst, const char *src, struct err *err)
{
    *dst = str_dup(src);
    return *dst ? 0 : err_nomem(err);
}

static int auth_source(struct vault_auth *a, const struct secrets_settings *s, struct err *err)
{
    if (s->vault_role_id && *s->vault_role_id) {
        if (!s->vault_secret_id || !*s->vault_secret_id) {
            return err_set(err, ERR_SPEC_INVALID, "VAULT_SECRET_ID",
                           "VAULT_ROLE_ID is set but VAULT_SECRET_ID is not");
        }
        a->source = TOKEN_APPROLE;
        return copy_str(&a->role_id, s->vault_role_id, err) ||
               copy_str(&a->secret_id, s->vault_secret_id, err) ||
               copy_str(&a->approle_mount,
                        s->vault_approle_mount && *s->vault_approle_mount
                            ? s->vault_approle_mount
                            : "approle",
                        err);
    }
    if (s->vault_token_file && *s->vault_token_file) {
        a->source = TOKEN_FILE;
        if (copy_str(&a->token_file, s->vault_token_file, err)) {
            return -1;
        }
        a->token = token_from_file(a->token_file, err);
        return a->token ? 0 : -1;
    }
    if (s->vault_token && *s->vault_token) {
        a->source = TOKEN_STATIC;
        if (!token_ok(s->vault_token)) {
            return err_set(err, ERR_SPEC_INVALID, "VAULT_TOKEN",
                           "VAULT_TOKEN holds characters a token cannot have");
        }
        return copy_str(&a->token, s->vault_token, err);
    }
    return err_set(err, ERR_SPEC_INVALID, "VAULT_TOKEN",
                   "the vault provider needs credentials: VAULT_TOKEN, VAULT_TOKEN_FILE, or "
                   "VAULT_ROLE_ID with VAULT_SECRET_ID");
}

struct vault_auth *vault_auth_create(const struct secrets_settings *s, struct vault_http *http,
                                     const struct log_hook *log, struct err *err)
{
    struct vault_auth *a = calloc(1, sizeof(*a));
    if (!a) {
        err_nomem(err);
        return NULL;
    }
    a->http = http;
    a->log = log;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (auth_source(a, s, err)) {
        vault_auth_destroy(a);
        return NULL;
    }
    if (pthread_create(&a->thread, NULL, maintain, a) != 0) {
        err_set(err, ERR_INTERNAL, NULL, "cannot start the vault token thread");
        vault_auth_destroy(a);
        return NULL;
    }
    a->thread_started = true;
    return a;
}

void vault_auth_destroy(struct vault_auth *a)
{
    if (!a) {
        return;
    }
    if (a->thread_started) {
        pthread_mutex_lock(&a->lock);
        a->stopping = true;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    secret_str_free(a->token);
    secret_str_free(a->secret_id);
    free(a->role_id);
    free(a->approle_mount);
    free(a->token_file);
    pthread_cond_destroy(&a->cond);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* AppRole: log in now (lock held, returns with it held). */
static int login_now(struct vault_auth *a, struct err *err)
{
    a->busy = true;
    pthread_mutex_unlock(&a->lock);
    struct token_info ti = {0};
    int rc = login(a, &ti, err);
    pthread_mutex_lock(&a->lock);
    a->busy = false;
    if (rc == 0) {
        a->login_failed_ms = 0;
        set_token(a, ti.token);
        schedule(a, &ti, clock_mono_ms());
    } else {
        a->login_failed_ms = clock_mono_ms();
        err_init(&a->login_err);
        err_set(&a->login_err, err ? err->code : ERR_SECRET_DENIED, NULL, "%s", err_message(err));
        a->login_err.retry_after = err ? err->retry_after : 0;
    }
    pthread_cond_broadcast(&a->cond);
    return rc;
}

/* First use of a given token: learn its TTL so it can be renewed (lock held). */
static void lookup_now(struct vault_auth *a)
{
    a->busy = true;
    char *token = str_dup(a->token);
    unsigned gen = a->gen;
    pthread_mutex_unlock(&a->lock);
    struct token_info ti = {0};
    struct err err;
    err_init(&err);
    int rc = token ? lookup(a, token, 0, &ti, &err) : -1;
    secret_str_free(token);
    pthread_mutex_lock(&a->lock);
    a->busy = false;
    uint64_t now = clock_mono_ms();
    if (gen == a->gen) {
        if (rc == 0) {
            schedule(a, &ti, now);
        } else {
            /* The read itself will tell the caller what is wrong; a token without the
             * lookup-self capability still reads secrets. */
            a->next_lookup_ms = now + LOOKUP_RETRY_MS;
            log_hookf(a->log, LOG_WARN, "vault token lookup failed: %s",
                         err_message(&err));
        }
    }
    pthread_cond_broadcast(&a->cond);
}

int vault_auth_token(struct vault_auth *a, char **token, unsigned *gen, struct err *err)
{
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (a->busy) {
            pthread_cond_wait(&a->cond, &a->lock);
        }
        uint64_t now = clock_mono_ms();
        if (a->source == TOKEN_APPROLE &&
            (!a->token || (a->expires_ms && now + 1000 >= a->expires_ms))) {
            if (a->login_failed_ms && now - a->login_failed_ms < LOGIN_HOLD_MS) {
                /* Waiters share the failure instead of each logging in again. */
                err_set(err, a->login_err.code, NULL, "%s", err_message(&a->login_err));
                if (err && err->code == a->login_err.code) {
                    err->retry_after = a->login_err.retry_after;
                }
                pthread_mutex_unlock(&a->lock);
                return -1;
            }
            if (login_now(a, err)) {
                pthread_mutex_unlock(&a->lock);
                return -1;
            }
            continue;
        }
        if (!a->known && a->token && now >= a->next_lookup_ms) {
            lookup_now(a);
            continue;
        }
        break;
    }
    char *copy = str_dup(a->token);
    *gen = a->gen;
    pthread_mutex_unlock(&a->lock);
    if (!copy) {
        return err_nomem(err);
    }
    *token = copy;
    return 0;
}

static bool says_invalid(const struct vault_resp *resp)
{
    char text[160];
    vault_resp_error_text(resp, text, sizeof(text));
    return strstr(text, "invalid token") || strstr(text, "token expired") ||
           strstr(text, "bad token");
}

bool vault_auth_recover(struct vault_auth *a, unsigned gen, const struct vault_resp *resp)
{
    bool invalid = says_invalid(resp);
    pthread_mutex_lock(&a->lock);
    while (a->busy) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    if (gen != a->gen) {
        pthread_mutex_unlock(&a->lock);
        return true; /* someone already replaced the token: try the new one */
    }
    if (!invalid) {
        /* "permission denied" is the same text for a policy denial and a dead token: ask.
         * (Always: a token validated a moment ago may have been revoked since.) */
        char *token = str_dup(a->token);
        pthread_mutex_unlock(&a->lock);
        struct token_info ti = {0};
        struct err err;
        err_init(&err);
        int rc = token ? lookup(a, token, 0, &ti, &err) : -1;
        secret_str_free(token);
        pthread_mutex_lock(&a->lock);
        if (rc != 1 || gen != a->gen) {
            pthread_mutex_unlock(&a->lock);
            return gen != a->gen;
        }
    }
    bool retry = false;
    if (a->source == TOKEN_APPROLE) {
        log_hookf(a->log, LOG_INFO, "vault token no longer valid; logging in again");
        set_token(a, NULL); /* the next vault_auth_token logs in */
        retry = true;
    } else if (a->source == TOKEN_FILE) {
        struct err err;
        err_init(&err);
        char *fresh = token_from_file(a->token_file, &err);
        if (fresh && strcmp(fresh, a->token) != 0) {
            log_hookf(a->log, LOG_INFO, "vault token file changed; using the new token");
            set_token(a, fresh);
            retry = true;
        } else {
            secret_str_free(fresh);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return retry;
}

int vault_auth_check(struct vault_auth *a, struct err *err)
{
    char *token = NULL;
    unsigned gen;
    if (vault_auth_token(a, &token, &gen, err)) {
        return -1;
    }
    struct token_info ti = {0};
    struct err lerr;
    err_init(&lerr);
    int rc = lookup(a, token, 5000, &ti, &lerr);
    secret_str_free(token);
    if (rc == 1) {
        return err_set(err, ERR_SECRET_DENIED, NULL,
                       "the vault token is invalid or expired (lookup-self was refused)");
    }
    if (rc) {
        err_set(err, lerr.code, NULL, "%s", err_message(&lerr));
        if (err && err->code == lerr.code) {
            err->retry_after = lerr.retry_after;
        }
        return -1;
    }
    (void)gen;
    return 0;
}

int vault_auth_reload(struct vault_auth *a, struct err *err)
{
    if (a->source != TOKEN_FILE) {
        return 0;
    }
    char *fresh = token_from_file(a->token_file, err);
    if (!fresh) {
        return -1;
    }
    pthread_mutex_lock(&a->lock);
    while (a->busy) {
        pthread_cond_wait(&a->cond, &a->lock);
    }
    if (strcmp(fresh, a->token) != 0) {
        set_token(a, fresh);
        log_hookf(a->log, LOG_INFO, "vault token file re-read: new token");
    } else {
        secret_str_free(fresh);
    }
    pthread_mutex_unlock(&a->lock);
    return 0;
}
