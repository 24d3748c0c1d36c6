#ifndef OCIRENDER_SECRETS_SECRETS_H
#define OCIRENDER_SECRETS_SECRETS_H

/*
 * secrets: resolves the $S: references render/ lists through one
 * provider: `vault` (HashiCorp Vault / OpenBao KV v2 over libcurl + OpenSSL), `file` (a JSON
 * file, for development and `make run`) or `none`.
 *
 * One `struct secrets` lives for the whole process and is shared by all worker threads: every
 * function here is thread-safe. It owns the provider, the positive/negative cache, the
 * in-flight table (concurrent renders needing the same secret share one request), the vault
 * token lifecycle (renew-self, AppRole re-login), and the secret metrics.
 *
 * Secret values never appear in logs, metrics, error messages or warnings: errors name the
 * reference (and scope/name), never a value. Buffers that held values are wiped.
 *
 * Error codes (struct err): SECRET_NOT_FOUND (422: missing secret, version or field),
 * SECRET_DENIED (502: vault 403), SECRET_BACKEND (502: vault error or malformed answer),
 * SECRET_UNAVAILABLE (503: sealed, unreachable, rate-limited; err->retry_after set when known),
 * SECRET_TIMEOUT (504), SPEC_INVALID (bad settings), IO, NOMEM.
 */

#include <stdbool.h>

#include <jansson.h>

#include "common/err.h"
#include "common/log.h"
#include "common/sbuf.h"
#include "render/render.h"

enum secrets_kind { SECRETS_NONE = 0, SECRETS_FILE = 1, SECRETS_VAULT = 2 };

/* Process settings. Strings are borrowed for the duration of secrets_create() only. */
struct secrets_settings {
    enum secrets_kind kind;
    const char *file_path;         /* OCIRENDER_SECRETS_FILE / --secrets-file */
    unsigned cache_ttl_ms;         /* OCIRENDER_SECRET_CACHE_TTL (seconds in the env), 30 s */
    unsigned negative_ttl_ms;      /* 404 answers are remembered this long (default 2 s) */
    /* vault: Vault's own VAULT_* conventions */
    const char *vault_addr;
    const char *vault_token;       /* VAULT_TOKEN */
    const char *vault_token_file;  /* VAULT_TOKEN_FILE */
    const char *vault_namespace;
    const char *vault_cacert;
    const char *vault_capath;
    const char *vault_client_cert;
    const char *vault_client_key;
    bool vault_skip_verify;
    const char *vault_mount;       /* default "secret" */
    const char *vault_path_prefix; /* VAULT_PATH_PREFIX, default "" */
    const char *vault_role_id;     /* AppRole */
    const char *vault_secret_id;
    const char *vault_approle_mount; /* default "approle" */
    unsigned vault_timeout_ms;     /* VAULT_CLIENT_TIMEOUT, default 60 s */
    unsigned vault_max_retries;    /* VAULT_MAX_RETRIES, default 2 */
    bool vault_allow_http;         /* OCIRENDER_VAULT_ALLOW_HTTP=1: plain http (tests/dev only) */
    /* Additive settings (0 means the default shown). */
    unsigned vault_connect_timeout_ms;  /* OCIRENDER_VAULT_CONNECT_TIMEOUT, 10 s */
    unsigned vault_retry_wait_min_ms;   /* OCIRENDER_VAULT_RETRY_WAIT_MIN, 1000 ms */
    unsigned vault_retry_wait_max_ms;   /* OCIRENDER_VAULT_RETRY_WAIT_MAX, 1500 ms */
    unsigned fetch_threads;             /* OCIRENDER_SECRET_FETCH_THREADS: parallel vault reads, 8 */
    unsigned ready_cache_ms;            /* /readyz answer reused this long, 1000 ms */
    /* Where messages go (common/log.h); they never contain a secret value or a credential.
     * Without a hook: log_hook_stderr, as "ocirender: secrets: LEVEL: MSG". */
    log_hook_fn log;
    void *log_ctx;
    enum log_level log_level;           /* OCIRENDER_LOG_LEVEL (debug|info|warn|error), warn */
};

/* Defaults, then OCIRENDER_SECRETS*, OCIRENDER_SECRET_CACHE_TTL and VAULT_* from the process
 * environment. The pointers refer to the environment (valid while it is not changed). */
int secrets_settings_from_env(struct secrets_settings *s, struct err *err);
/* Parse "vault" / "file" / "none". */
int secrets_kind_parse(const char *text, enum secrets_kind *out, struct err *err);

/* Create the service: loads the file provider, or prepares the vault client (a first
 * login/token check happens lazily, so a vault that is down does not stop start-up).
 * Call after curl_global_init(). NULL with err on bad settings (e.g. a secrets file readable
 * by group or others is refused). */
struct secrets *secrets_create(const struct secrets_settings *s, struct err *err);
void secrets_destroy(struct secrets *sec);

/*
 * Resolve every reference of a render: each distinct (namespace, scope, name, version) is
 * fetched once, concurrent callers share in-flight requests, the caches are consulted.
 * On success *values (new object: reference text -> value; free with secrets_values_free) and
 * *list (new array for the envelope: [{env, ref, scope, provider, version}], never values).
 * With no references both are empty. On failure nothing is returned and err names the first
 * failing reference: a render never gets a partial set.
 */
int secrets_resolve(struct secrets *sec, const struct render_secret_refs *refs, json_t **values,
                    json_t **list, struct err *err);
void secrets_values_free(json_t *values);

/*
 * The same resolution without blocking the caller, for a server that must not hold a request
 * thread while the vault answers. secrets_wait_begin() takes the cache entries, queues the
 * fetches on the pool and returns at once (a local provider is answered inside the call).
 * When secrets_wait_pending() is false the result is there: call secrets_wait_finish().
 * Otherwise `wake(ctx)` is called once, from a secrets thread, when every fetch is final; it
 * must only schedule work (e.g. resume a connection), never call back into this module.
 * `refs` is borrowed until finish.
 */
struct secrets_wait;
typedef void (*secrets_wake_fn)(void *ctx);
int secrets_wait_begin(struct secrets *sec, const struct render_secret_refs *refs,
                       secrets_wake_fn wake, void *ctx, struct secrets_wait **out,
                       struct err *err);
bool secrets_wait_pending(struct secrets_wait *w);
/*
 * Take the result as secrets_resolve() returns it and free `w`. Called before every fetch is
 * final (the caller's deadline passed), it fails with SECRET_TIMEOUT naming the first missing
 * reference; the fetches go on and fill the cache. After it returns `wake` is neither running
 * nor will it be called. With values and list NULL it only releases.
 */
int secrets_wait_finish(struct secrets_wait *w, json_t **values, json_t **list, struct err *err);
/* VAULT_CLIENT_TIMEOUT in ms: how long a render may wait for its secrets. A fetch that waited
 * that long in the queue fails as a timeout without being sent. */
unsigned secrets_timeout_ms(const struct secrets *sec);

/* SIGHUP: re-read the secrets file / token file and drop the caches. */
int secrets_reload(struct secrets *sec, struct err *err);

/* /readyz: 0 when the provider can serve (vault reachable, unsealed, token valid); else -1
 * with err (SECRET_UNAVAILABLE etc.). May make one request to the vault (sys/health and
 * token lookup-self), rate-limited internally. */
int secrets_ready(struct secrets *sec, struct err *err);

/* The same answer without waiting: remote providers are checked by a background thread
 * (started by the first call, then again when an answer older than the readiness cache is
 * asked for); the last known answer is returned, SECRET_UNAVAILABLE before the first. */
int secrets_ready_nowait(struct secrets *sec, struct err *err);

/* Append the secret metrics in Prometheus text format:
 * ocirender_secret_requests_total{provider,result}, ocirender_secret_request_duration_seconds
 * (histogram), ocirender_secret_cache_hits_total. 0 or an err_code from sbuf. */
int secrets_metrics(struct secrets *sec, struct sbuf *out);

const char *secrets_provider_name(const struct secrets *sec); /* "vault", "file", "none" */

#endif
