/*
 * The secrets service: per-render dedup, the shared cache with single-flight, the bounded fetch
 * pool, the envelope list and the metrics. Providers (file.c, vault.c) only fetch one secret.
 *
 * Cache entries are keyed by (scope, name, version); the namespace and mount are fixed per
 * process, so they need not be part of the key. An entry is PENDING while one thread fetches
 * it; everyone else who needs it waits on `cond` instead of asking the vault again. Finished
 * entries stay in the table until their TTL passes (positive: cache_ttl_ms, 404: negative_ttl_ms);
 * other failures are handed to the waiters and dropped. Entries are reference counted so a
 * waiter can read a result after the table let go of it; the last holder wipes the data.
 */
#include "secrets/secrets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/histogram.h"
#include "common/jsonx.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "secrets/internal.h"

#define CACHE_MAX_ENTRIES 8192 /* past this, results are handed out but not kept */
#define CACHE_BUCKETS 1024

enum entry_state { ENTRY_PENDING, ENTRY_READY, ENTRY_FAILED };

/* What a FAILED entry remembers of the provider's error: a negative-cache entry holds this,
 * not a whole struct err. The message names the secret, never a value. */
struct entry_failure {
    enum err_code code;
    int sys_errno;
    unsigned retry_after;
    char *msg; /* NULL when it could not be copied: the code's title is shown instead */
};

struct entry;
struct want;
struct secrets_wait;
struct secrets;
static void ready_thread_stop(struct secrets *sec);
static void waits_wake(struct secrets_wait *list);
static struct secrets_wait *entry_final_waits(struct entry *e);

struct entry {
    struct entry *next;  /* hash chain */
    struct entry *qnext; /* fetch queue */
    char *key;
    char *scope;
    char *name;
    unsigned version;
    unsigned hash;
    enum entry_state state;
    bool linked; /* in the table (the table holds one reference) */
    unsigned refs;
    uint64_t expires_ms;
    json_t *data;
    long resolved_version;
    struct entry_failure fail; /* the provider's error when FAILED */
    uint64_t queued_ms;     /* when it went into the fetch queue */
    struct want *waiters;   /* asynchronous waits to wake when it is final */
};

static const char *const result_names[] = {"ok",          "not_found", "denied", "backend_error",
                                           "unavailable", "timeout",   "error"};
enum { RESULT_COUNT = 7 };
static const double bucket_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct secrets_metrics {
    atomic_ulong requests[RESULT_COUNT];
    struct histogram duration;
    atomic_ulong cache_hits;
    atomic_ulong cache_misses;
    atomic_ulong shared;
};

struct secrets {
    enum secrets_kind kind;
    const struct provider_ops *ops;
    void *impl;
    struct log_hook log;
    unsigned cache_ttl_ms;
    unsigned negative_ttl_ms;

    pthread_mutex_t lock; /* table, queue, entry states */
    pthread_cond_t done;  /* an entry finished */
    pthread_cond_t work;  /* the queue got an entry, or stopping */
    struct entry *buckets[CACHE_BUCKETS];
    size_t count;
    struct entry *qhead, *qtail;
    bool stopping;
    pthread_t *workers;
    unsigned n_workers;

    pthread_mutex_t ready_lock;
    unsigned ready_cache_ms;
    uint64_t ready_at;
    bool ready_known;
    struct err ready_err;
    /* Remote providers: readiness is checked by its own thread, so /readyz never waits. */
    pthread_cond_t ready_cond;
    pthread_t ready_thread;
    bool ready_thread_on;
    bool ready_wanted;
    bool ready_stopping;

    unsigned timeout_ms; /* VAULT_CLIENT_TIMEOUT: the most a render waits for its secrets */

    struct secrets_metrics m;
};

/* ---- the none provider ---- */

static int none_get(void *impl, const char *scope, const char *name, unsigned version,
                    struct secret_doc *out, struct err *err)
{
    (void)impl;
    (void)version;
    (void)out;
    return err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                   "cannot resolve secret %s/%s: no secrets provider is configured "
                   "(OCIRENDER_SECRETS=none; use vault or file)",
                   scope, name);
}

static int none_ok(void *impl, struct err *err)
{
    (void)impl;
    (void)err;
    return 0;
}

static void none_destroy(void *impl)
{
    (void)impl;
}

static const struct provider_ops none_provider_ops = {
    .name = "none",
    .remote = false,
    .get = none_get,
    .reload = none_ok,
    .ready = none_ok,
    .destroy = none_destroy,
};

/* ---- metrics ---- */

static unsigned result_index(const struct err *e)
{
    switch (e->code) {
    case ERR_OK: return 0;
    case ERR_SECRET_NOT_FOUND: return 1;
    case ERR_SECRET_DENIED: return 2;
    case ERR_SECRET_BACKEND: return 3;
    case ERR_SECRET_UNAVAILABLE: return 4;
    case ERR_SECRET_TIMEOUT: return 5;
    default: return 6;
    }
}

static void metrics_record(struct secrets_metrics *m, const struct err *e, uint64_t us)
{
    atomic_fetch_add(&m->requests[result_index(e)], 1);
    histogram_observe_us(&m->duration, us);
}

int secrets_metrics(struct secrets *sec, struct sbuf *out)
{
    const char *p = sec->ops->name;
    int rc = sbuf_add(out, "# HELP ocirender_secret_requests_total Secret fetches from the "
                           "provider, by result.\n"
                           "# TYPE ocirender_secret_requests_total counter\n");
    for (unsigned i = 0; i < RESULT_COUNT && !rc; i++) {
        rc = sbuf_addf(out, "ocirender_secret_requests_total{provider=\"%s\",result=\"%s\"} %lu\n",
                       p, result_names[i], atomic_load(&sec->m.requests[i]));
    }
    if (!rc) {
        rc = sbuf_add(out, "# HELP ocirender_secret_request_duration_seconds Time of one secret "
                           "fetch, retries included.\n"
                           "# TYPE ocirender_secret_request_duration_seconds histogram\n");
    }
    char labels[64];
    snprintf(labels, sizeof(labels), "provider=\"%s\"", p);
    if (!rc) {
        rc = histogram_write(&sec->m.duration, "ocirender_secret_request_duration_seconds",
                             labels, out);
    }
    if (!rc) {
        rc = sbuf_addf(out,
                       "# HELP ocirender_secret_cache_hits_total Secret lookups answered from "
                       "the cache.\n"
                       "# TYPE ocirender_secret_cache_hits_total counter\n"
                       "ocirender_secret_cache_hits_total %lu\n"
                       "# HELP ocirender_secret_cache_misses_total Secret lookups that needed "
                       "a fetch.\n"
                       "# TYPE ocirender_secret_cache_misses_total counter\n"
                       "ocirender_secret_cache_misses_total %lu\n"
                       "# HELP ocirender_secret_inflight_shared_total Secret lookups that "
                       "joined a fetch already in flight.\n"
                       "# TYPE ocirender_secret_inflight_shared_total counter\n"
                       "ocirender_secret_inflight_shared_total %lu\n",
                       atomic_load(&sec->m.cache_hits), atomic_load(&sec->m.cache_misses),
                       atomic_load(&sec->m.shared));
    }
    return rc;
}

/* ---- entries and the table (callers hold sec->lock unless noted) ---- */

static unsigned key_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static void entry_free(struct entry *e)
{
    secret_json_decref(e->data);
    free(e->key);
    free(e->scope);
    free(e->name);
    free(e->fail.msg);
    free(e);
}

static void entry_put(struct entry *e)
{
    if (--e->refs == 0) {
        entry_free(e);
    }
}

static void table_unlink(struct secrets *sec, struct entry *e)
{
    if (!e->linked) {
        return;
    }
    struct entry **pp = &sec->buckets[e->hash % CACHE_BUCKETS];
    while (*pp && *pp != e) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = e->next;
    }
    e->next = NULL;
    e->linked = false;
    sec->count--;
    entry_put(e);
}

static struct entry *table_find(struct secrets *sec, const char *key, unsigned hash)
{
    for (struct entry *e = sec->buckets[hash % CACHE_BUCKETS]; e; e = e->next) {
        if (e->hash == hash && strcmp(e->key, key) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Drop finished entries whose time is up, so the table stays near its live size. */
static void table_sweep(struct secrets *sec, uint64_t now)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        struct entry *e = sec->buckets[b];
        while (e) {
            struct entry *next = e->next;
            if (e->state != ENTRY_PENDING && e->expires_ms <= now) {
                table_unlink(sec, e);
            }
            e = next;
        }
    }
}

static struct entry *entry_new(const char *key, unsigned hash, const char *scope,
                               const char *name, unsigned version)
{
    struct entry *e = calloc(1, sizeof(*e));
    if (!e) {
        return NULL;
    }
    e->key = str_dup(key);
    e->scope = str_dup(scope);
    e->name = str_dup(name);
    if (!e->key || !e->scope || !e->name) {
        entry_free(e);
        return NULL;
    }
    e->hash = hash;
    e->version = version;
    e->state = ENTRY_PENDING;
    e->resolved_version = -1;
    return e;
}

/* ---- fetching ---- */

/* Run the provider for one entry (no lock held) and publish the result. */
static void entry_fetch(struct secrets *sec, struct entry *e)
{
    struct secret_doc doc = {NULL, -1};
    struct err ferr;
    err_init(&ferr);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = sec->ops->get(sec->impl, e->scope, e->name, e->version, &doc, &ferr);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t us = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u +
                  (uint64_t)((b.tv_nsec - a.tv_nsec) / 1000);
    if (rc == 0) {
        err_init(&ferr);
    } else if (!err_is_set(&ferr)) {
        err_set(&ferr, ERR_INTERNAL, NULL, "secret provider failed without a reason");
    }
    metrics_record(&sec->m, &ferr, us);
    struct entry_failure fail = {ferr.code, ferr.sys_errno, ferr.retry_after,
                                 rc ? str_dup(err_message(&ferr)) : NULL};
    log_hookf(&sec->log, LOG_DEBUG, "%s fetch of %s/%s%s%.0u: %s (%lu ms)",
              sec->ops->name, e->scope, e->name, e->version ? "@" : "", e->version,
              result_names[result_index(&ferr)], (unsigned long)(us / 1000));
    pthread_mutex_lock(&sec->lock);
    uint64_t now = clock_mono_ms();
    if (rc == 0) {
        e->state = ENTRY_READY;
        e->data = doc.data;
        e->resolved_version = doc.version;
        e->expires_ms = now + sec->cache_ttl_ms;
    } else {
        e->state = ENTRY_FAILED;
        free(e->fail.msg);
        e->fail = fail;
        e->expires_ms = ferr.code == ERR_SECRET_NOT_FOUND ? now + sec->negative_ttl_ms : now;
    }
    bool keep = sec->ops->remote && e->expires_ms > now && sec->count <= CACHE_MAX_ENTRIES;
    struct secrets_wait *woken = entry_final_waits(e);
    if (!keep) {
        table_unlink(sec, e);
    }
    pthread_cond_broadcast(&sec->done);
    pthread_mutex_unlock(&sec->lock);
    waits_wake(woken);
}

/* A queued fetch nobody can still use: its waiters' deadline (the vault timeout) has passed
 * while it sat in the queue. It fails as a timeout without asking the vault, so a backlog
 * drains instead of growing. */
static bool entry_expired_in_queue(struct secrets *sec, struct entry *e)
{
    return sec->timeout_ms && clock_mono_ms() - e->queued_ms >= sec->timeout_ms;
}

static void entry_fail_unfetched(struct secrets *sec, struct entry *e)
{
    struct err ferr;
    err_init(&ferr);
    err_set(&ferr, ERR_SECRET_TIMEOUT, NULL,
            "%s did not answer within %u ms (the read waited in the queue behind others)",
            sec->ops->name, sec->timeout_ms);
    metrics_record(&sec->m, &ferr, 0);
    struct entry_failure fail = {ferr.code, ferr.sys_errno, ferr.retry_after,
                                 str_dup(err_message(&ferr))};
    pthread_mutex_lock(&sec->lock);
    e->state = ENTRY_FAILED;
    free(e->fail.msg);
    e->fail = fail;
    e->expires_ms = clock_mono_ms();
    struct secrets_wait *woken = entry_final_waits(e);
    table_unlink(sec, e);
    pthread_cond_broadcast(&sec->done);
    pthread_mutex_unlock(&sec->lock);
    waits_wake(woken);
}

static void *worker_main(void *arg)
{
    struct secrets *sec = arg;
    pthread_mutex_lock(&sec->lock);
    for (;;) {
        while (!sec->qhead && !sec->stopping) {
            pthread_cond_wait(&sec->work, &sec->lock);
        }
        if (!sec->qhead) {
            break;
        }
        struct entry *e = sec->qhead;
        sec->qhead = e->qnext;
        if (!sec->qhead) {
            sec->qtail = NULL;
        }
        e->qnext = NULL;
        pthread_mutex_unlock(&sec->lock);
        if (entry_expired_in_queue(sec, e)) {
            entry_fail_unfetched(sec, e);
        } else {
            entry_fetch(sec, e);
        }
        pthread_mutex_lock(&sec->lock);
        entry_put(e); /* the queue's reference */
    }
    pthread_mutex_unlock(&sec->lock);
    return NULL;
}

static int workers_start(struct secrets *sec, unsigned n, struct err *err)
{
    if (n == 0) {
        return 0;
    }
    sec->workers = calloc(n, sizeof(*sec->workers));
    if (!sec->workers) {
        return err_nomem(err);
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&sec->workers[i], NULL, worker_main, sec) != 0) {
            break;
        }
        sec->n_workers++;
    }
    return 0;
}

/* ---- create / destroy ---- */

static const struct provider_ops *provider_for(enum secrets_kind kind)
{
    switch (kind) {
    case SECRETS_FILE: return &file_provider_ops;
    case SECRETS_VAULT: return &vault_provider_ops;
    default: return &none_provider_ops;
    }
}

/* Without a hook, lines read "ocirender: secrets: ..." (log_hook_stderr). */
static char stderr_log_name[] = "secrets";

struct secrets *secrets_create(const struct secrets_settings *s, struct err *err)
{
    struct secrets *sec = calloc(1, sizeof(*sec));
    if (!sec) {
        err_nomem(err);
        return NULL;
    }
    sec->kind = s->kind;
    sec->ops = provider_for(s->kind);
    histogram_init(&sec->m.duration, bucket_bounds, ARRAY_LEN(bucket_bounds));
    sec->log.fn = s->log;
    sec->log.ctx = s->log ? s->log_ctx : stderr_log_name;
    sec->log.level = s->log_level;
    sec->cache_ttl_ms = s->cache_ttl_ms;
    sec->negative_ttl_ms = s->negative_ttl_ms;
    sec->ready_cache_ms = s->ready_cache_ms ? s->ready_cache_ms : 1000;
    pthread_mutex_init(&sec->lock, NULL);
    pthread_mutex_init(&sec->ready_lock, NULL);
    pthread_cond_init(&sec->done, NULL);
    pthread_cond_init(&sec->work, NULL);
    pthread_cond_init(&sec->ready_cond, NULL);
    sec->timeout_ms = s->vault_timeout_ms ? s->vault_timeout_ms : 60000;
    if (s->kind == SECRETS_FILE) {
        sec->impl = file_provider_create(s, &sec->log, err);
    } else if (s->kind == SECRETS_VAULT) {
        sec->impl = vault_provider_create(s, &sec->log, err);
    }
    if (s->kind != SECRETS_NONE && !sec->impl) {
        secrets_destroy(sec);
        return NULL;
    }
    /* Parallel fetches only pay off for a remote provider; the caller fetches one itself. */
    unsigned threads = s->fetch_threads ? s->fetch_threads : 8;
    /* At least one worker: asynchronous waits (secrets_wait_begin) never fetch themselves. */
    if (sec->ops->remote && workers_start(sec, threads > 1 ? threads - 1 : 1, err)) {
        secrets_destroy(sec);
        return NULL;
    }
    return sec;
}

void secrets_destroy(struct secrets *sec)
{
    if (!sec) {
        return;
    }
    /* Threads blocked on a slow vault must not hold up the process's exit. */
    if (sec->impl && sec->ops->abort) {
        sec->ops->abort(sec->impl);
    }
    ready_thread_stop(sec);
    pthread_mutex_lock(&sec->lock);
    sec->stopping = true;
    pthread_cond_broadcast(&sec->work);
    pthread_mutex_unlock(&sec->lock);
    for (unsigned i = 0; i < sec->n_workers; i++) {
        pthread_join(sec->workers[i], NULL);
    }
    free(sec->workers);
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        while (sec->buckets[b]) {
            table_unlink(sec, sec->buckets[b]);
        }
    }
    if (sec->impl) {
        sec->ops->destroy(sec->impl);
    }
    pthread_cond_destroy(&sec->done);
    pthread_cond_destroy(&sec->work);
    pthread_cond_destroy(&sec->ready_cond);
    pthread_mutex_destroy(&sec->ready_lock);
    pthread_mutex_destroy(&sec->lock);
    free(sec);
}

const char *secrets_provider_name(const struct secrets *sec)
{
    return sec ? sec->ops->name : "none";
}

/* ---- resolve ---- */

/* One distinct secret a render needs. */
struct want {
    const struct render_secret_ref *ref; /* the first reference that needs it */
    struct entry *e;
    bool mine;                /* this call fetches it */
    struct want *wnext;       /* in e->waiters while an asynchronous wait is registered */
    struct secrets_wait *w;   /* that wait */
};

static int make_key(const struct render_secret_ref *r, char **out, struct err *err)
{
    struct sbuf b;
    sbuf_init(&b, 4096);
    if (sbuf_add(&b, r->scope) || sbuf_addc(&b, '\x1f') || sbuf_add(&b, r->name) ||
        sbuf_addf(&b, "\x1f%u", r->version)) {
        return err_set(err, ERR_SPEC_INVALID, r->path, "secret reference %s is too long", r->ref);
    }
    *out = sbuf_take(&b, NULL);
    return *out ? 0 : err_nomem(err);
}

/* Find or create the entry for one key. Returns a held entry (refs + 1). */
static struct entry *acquire(struct secrets *sec, const struct render_secret_ref *r,
                             const char *key, bool *mine, uint64_t now)
{
    unsigned hash = key_hash(key);
    struct entry *e = table_find(sec, key, hash);
    if (e && e->state != ENTRY_PENDING && e->expires_ms <= now) {
        table_unlink(sec, e);
        e = NULL;
    }
    *mine = false;
    if (e) {
        if (e->state == ENTRY_PENDING) {
            atomic_fetch_add(&sec->m.shared, 1);
        } else {
            atomic_fetch_add(&sec->m.cache_hits, 1);
        }
        e->refs++;
        return e;
    }
    if (sec->count >= CACHE_MAX_ENTRIES) {
        table_sweep(sec, now);
    }
    e = entry_new(key, hash, r->scope, r->name, r->version);
    if (!e) {
        return NULL;
    }
    atomic_fetch_add(&sec->m.cache_misses, 1);
    e->refs = 2; /* the table and us */
    e->linked = true;
    e->next = sec->buckets[hash % CACHE_BUCKETS];
    sec->buckets[hash % CACHE_BUCKETS] = e;
    sec->count++;
    *mine = true;
    return e;
}

static void queue_push(struct secrets *sec, struct entry *e)
{
    e->refs++;
    e->queued_ms = clock_mono_ms();
    e->qnext = NULL;
    if (sec->qtail) {
        sec->qtail->qnext = e;
    } else {
        sec->qhead = e;
    }
    sec->qtail = e;
    pthread_cond_signal(&sec->work);
}

/* Collect the distinct secrets; refs sharing (scope, name, version) share one want. */
static int plan(const struct render_secret_refs *refs, struct want *wants, size_t *n_wants,
                size_t *ref_want, char **keys, struct err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < refs->n; i++) {
        char *key;
        if (make_key(&refs->items[i], &key, err)) {
            return -1;
        }
        size_t j = 0;
        while (j < n && strcmp(keys[j], key) != 0) {
            j++;
        }
        if (j == n) {
            keys[n] = key;
            wants[n].ref = &refs->items[i];
            n++;
        } else {
            free(key);
        }
        ref_want[i] = j;
    }
    *n_wants = n;
    return 0;
}

static int fetch_all(struct secrets *sec, struct want *wants, size_t n, char **keys,
                     struct err *err)
{
    int rc = 0;
    uint64_t now = clock_mono_ms();
    pthread_mutex_lock(&sec->lock);
    struct entry *inline_e = NULL;
    for (size_t i = 0; i < n; i++) {
        wants[i].e = acquire(sec, wants[i].ref, keys[i], &wants[i].mine, now);
        if (!wants[i].e) {
            rc = err_nomem(err);
            break;
        }
        if (!wants[i].mine) {
            continue;
        }
        /* The caller fetches one itself; the rest go to the pool (if any). */
        if (!inline_e && sec->ops->remote && sec->n_workers > 0) {
            inline_e = wants[i].e;
        } else if (sec->ops->remote && sec->n_workers > 0) {
            queue_push(sec, wants[i].e);
        }
    }
    pthread_mutex_unlock(&sec->lock);
    /* Without a pool (local providers), fetch in order here. */
    for (size_t i = 0; i < n && wants[i].e; i++) {
        if (wants[i].mine && (wants[i].e == inline_e || !sec->ops->remote || !sec->n_workers)) {
            entry_fetch(sec, wants[i].e);
        }
    }
    pthread_mutex_lock(&sec->lock);
    for (size_t i = 0; i < n && wants[i].e; i++) {
        while (wants[i].e->state == ENTRY_PENDING) {
            pthread_cond_wait(&sec->done, &sec->lock);
        }
    }
    pthread_mutex_unlock(&sec->lock);
    return rc;
}

static void release_all(struct secrets *sec, struct want *wants, size_t n)
{
    pthread_mutex_lock(&sec->lock);
    for (size_t i = 0; i < n; i++) {
        if (wants[i].e) {
            entry_put(wants[i].e);
        }
    }
    pthread_mutex_unlock(&sec->lock);
}

static int ref_fail(const struct render_secret_ref *r, const struct err *cause, struct err *err)
{
    err_set(err, cause->code, r->path, "secret reference %s: %s", r->ref, err_message(cause));
    if (err && err->code == cause->code) {
        err->retry_after = cause->retry_after;
        err->sys_errno = cause->sys_errno;
    }
    return -1;
}

static int ref_fail_cached(const struct render_secret_ref *r, const struct entry_failure *f,
                           struct err *err)
{
    struct err cause;
    err_init(&cause);
    err_set(&cause, f->code, NULL, "%s", f->msg ? f->msg : err_code_title(f->code));
    cause.retry_after = f->retry_after;
    cause.sys_errno = f->sys_errno;
    return ref_fail(r, &cause, err);
}

static int add_list_item(json_t *list, const struct render_secret_ref *r, const char *provider,
                         long version)
{
    json_t *item = json_object();
    if (!item || jsonx_set_str(item, "env", r->env ? r->env : "") ||
        jsonx_set_str(item, "ref", r->ref) || jsonx_set_str(item, "scope", r->scope) ||
        jsonx_set_str(item, "provider", provider) ||
        json_object_set_new(item, "version",
                            version >= 0 ? json_integer(version) : json_null()) ||
        json_array_append_new(list, item)) {
        json_decref(item);
        return -1;
    }
    return 0;
}

/* Extract every reference's value from the fetched entries, in reference order. */
static int build_outputs(struct secrets *sec, const struct render_secret_refs *refs,
                         const struct want *wants, const size_t *ref_want, json_t *values,
                         json_t *list, struct err *err)
{
    for (size_t i = 0; i < refs->n; i++) {
        const struct render_secret_ref *r = &refs->items[i];
        const struct entry *e = wants[ref_want[i]].e;
        if (e->state == ENTRY_FAILED) {
            return ref_fail_cached(r, &e->fail, err);
        }
        if (!json_object_get(values, r->ref)) {
            struct err xerr;
            err_init(&xerr);
            char what[ERR_MSG_MAX / 2];
            snprintf(what, sizeof(what), "secret %s/%s%s%.0u", r->scope, r->name,
                     r->version ? "@" : "", r->version);
            char *v = secret_extract(e->data, r->field, what, &xerr);
            if (!v) {
                return ref_fail(r, &xerr, err);
            }
            json_t *s = json_string(v);
            secret_str_free(v);
            if (!s || json_object_set_new(values, r->ref, s)) {
                return err_nomem(err);
            }
        }
        if (add_list_item(list, r, sec->ops->name, e->resolved_version)) {
            return err_nomem(err);
        }
    }
    return 0;
}

int secrets_resolve(struct secrets *sec, const struct render_secret_refs *refs, json_t **values,
                    json_t **list, struct err *err)
{
    json_t *vals = json_object(), *lst = json_array();
    size_t n = refs->n ? refs->n : 1;
    struct want *wants = calloc(n, sizeof(*wants));
    size_t *ref_want = calloc(n, sizeof(*ref_want));
    char **keys = calloc(n, sizeof(*keys));
    size_t n_wants = 0;
    int rc = -1;
    if (!vals || !lst || !wants || !ref_want || !keys) {
        err_nomem(err);
    } else if (plan(refs, wants, &n_wants, ref_want, keys, err) == 0 &&
               fetch_all(sec, wants, n_wants, keys, err) == 0) {
        rc = build_outputs(sec, refs, wants, ref_want, vals, lst, err);
    }
    if (wants) {
        release_all(sec, wants, n_wants);
    }
    for (size_t i = 0; keys && i < n_wants; i++) {
        free(keys[i]);
    }
    free(keys);
    free(ref_want);
    free(wants);
    if (rc) {
        secret_json_decref(vals); /* never a partial set */
        json_decref(lst);
        return -1;
    }
    *values = vals;
    *list = lst;
    return 0;
}

/* ---- asynchronous resolution ---- */

/*
 * One render's wait. The wants are registered on their pending entries (e->waiters); when the
 * last one becomes final, the fetch thread that finished it calls `wake` (outside sec->lock,
 * under wake_lock). secrets_wait_finish() unregisters what is still pending and clears `wake`
 * under wake_lock, so after it returns the callback is neither running nor will run. The
 * struct is freed by whichever of the two lets go last (refs).
 */
struct secrets_wait {
    struct secrets *sec;
    const struct render_secret_refs *refs;
    struct want *wants;
    size_t *ref_want;
    char **keys;
    size_t n_wants;
    size_t pending;              /* wants not final yet (sec->lock) */
    struct secrets_wait *wnext;  /* in a list of waits to wake (sec->lock) */
    pthread_mutex_t wake_lock;
    secrets_wake_fn wake;        /* NULL once finished */
    void *wake_ctx;
    atomic_uint refs_held;
};

static void wait_free(struct secrets_wait *w)
{
    for (size_t i = 0; w->keys && i < w->n_wants; i++) {
        free(w->keys[i]);
    }
    free(w->keys);
    free(w->ref_want);
    free(w->wants);
    pthread_mutex_destroy(&w->wake_lock);
    free(w);
}

static void wait_put(struct secrets_wait *w)
{
    if (atomic_fetch_sub(&w->refs_held, 1) == 1) {
        wait_free(w);
    }
}

/* Under sec->lock: `e` just became final; the waits whose last pending want it was. */
static struct secrets_wait *entry_final_waits(struct entry *e)
{
    struct secrets_wait *list = NULL;
    struct want *next;
    for (struct want *wt = e->waiters; wt; wt = next) {
        next = wt->wnext;
        wt->wnext = NULL;
        struct secrets_wait *w = wt->w;
        wt->w = NULL;
        if (--w->pending == 0) {
            atomic_fetch_add(&w->refs_held, 1); /* the waker's reference */
            w->wnext = list;
            list = w;
        }
    }
    e->waiters = NULL;
    return list;
}

/* Without sec->lock: call the callbacks of finished waits. */
static void waits_wake(struct secrets_wait *list)
{
    struct secrets_wait *next;
    for (struct secrets_wait *w = list; w; w = next) {
        next = w->wnext;
        pthread_mutex_lock(&w->wake_lock);
        if (w->wake) {
            w->wake(w->wake_ctx);
            w->wake = NULL;
        }
        pthread_mutex_unlock(&w->wake_lock);
        wait_put(w);
    }
}

/* Under sec->lock: take the entries, queue the fetches this wait starts, register on the
 * pending ones. Local providers (no pool) are fetched by the caller afterwards. */
static int wait_register(struct secrets *sec, struct secrets_wait *w, struct err *err)
{
    uint64_t now = clock_mono_ms();
    bool pool = sec->ops->remote && sec->n_workers > 0;
    for (size_t i = 0; i < w->n_wants; i++) {
        struct want *wt = &w->wants[i];
        wt->e = acquire(sec, wt->ref, w->keys[i], &wt->mine, now);
        if (!wt->e) {
            return err_nomem(err);
        }
        if (wt->mine && pool) {
            queue_push(sec, wt->e);
        }
        if (wt->e->state == ENTRY_PENDING && (pool || !wt->mine)) {
            wt->w = w;
            wt->wnext = wt->e->waiters;
            wt->e->waiters = wt;
            w->pending++;
        }
    }
    return 0;
}

/* Under sec->lock: take the wait's wants off the entries that are still pending. */
static void wait_unregister(struct secrets_wait *w)
{
    for (size_t i = 0; i < w->n_wants; i++) {
        struct want *wt = &w->wants[i];
        if (!wt->w) {
            continue;
        }
        struct want **pp = &wt->e->waiters;
        while (*pp && *pp != wt) {
            pp = &(*pp)->wnext;
        }
        if (*pp) {
            *pp = wt->wnext;
        }
        wt->wnext = NULL;
        wt->w = NULL;
    }
}

int secrets_wait_begin(struct secrets *sec, const struct render_secret_refs *refs,
                       secrets_wake_fn wake, void *ctx, struct secrets_wait **out, struct err *err)
{
    *out = NULL;
    struct secrets_wait *w = calloc(1, sizeof(*w));
    size_t n = refs->n ? refs->n : 1;
    if (!w || !(w->wants = calloc(n, sizeof(*w->wants))) ||
        !(w->ref_want = calloc(n, sizeof(*w->ref_want))) ||
        !(w->keys = calloc(n, sizeof(*w->keys)))) {
        if (w) {
            free(w->wants);
            free(w->ref_want);
            free(w);
        }
        return err_nomem(err);
    }
    pthread_mutex_init(&w->wake_lock, NULL);
    atomic_init(&w->refs_held, 1);
    w->sec = sec;
    w->refs = refs;
    w->wake = wake;
    w->wake_ctx = ctx;
    if (plan(refs, w->wants, &w->n_wants, w->ref_want, w->keys, err)) {
        wait_free(w);
        return -1;
    }
    pthread_mutex_lock(&sec->lock);
    int rc = wait_register(sec, w, err);
    pthread_mutex_unlock(&sec->lock);
    /* Local providers answer at once: fetch here, as secrets_resolve does. */
    for (size_t i = 0; rc == 0 && i < w->n_wants; i++) {
        if (w->wants[i].mine && w->wants[i].e->state == ENTRY_PENDING &&
            !(sec->ops->remote && sec->n_workers > 0)) {
            entry_fetch(sec, w->wants[i].e);
        }
    }
    *out = w;
    if (rc) {
        struct err ignored;
        err_init(&ignored);
        secrets_wait_finish(w, NULL, NULL, &ignored);
        *out = NULL;
        return -1;
    }
    return 0;
}

bool secrets_wait_pending(struct secrets_wait *w)
{
    pthread_mutex_lock(&w->sec->lock);
    bool pending = w->pending > 0;
    pthread_mutex_unlock(&w->sec->lock);
    return pending;
}

/* The first reference whose secret is not final yet: the render failed waiting for it. */
static int wait_timed_out(const struct secrets_wait *w, struct err *err)
{
    for (size_t i = 0; i < w->refs->n; i++) {
        const struct want *wt = &w->wants[w->ref_want[i]];
        if (wt->e && wt->e->state == ENTRY_PENDING) {
            const struct render_secret_ref *r = &w->refs->items[i];
            return err_set(err, ERR_SECRET_TIMEOUT, r->path,
                           "secret reference %s: %s did not answer within %u ms", r->ref,
                           w->sec->ops->name, w->sec->timeout_ms);
        }
    }
    return err_set(err, ERR_SECRET_TIMEOUT, NULL, "the secrets did not arrive in time");
}

int secrets_wait_finish(struct secrets_wait *w, json_t **values, json_t **list, struct err *err)
{
    struct secrets *sec = w->sec;
    pthread_mutex_lock(&sec->lock);
    bool timed_out = w->pending > 0;
    wait_unregister(w);
    w->pending = 0;
    pthread_mutex_unlock(&sec->lock);
    pthread_mutex_lock(&w->wake_lock);
    w->wake = NULL; /* waits for a callback in progress */
    pthread_mutex_unlock(&w->wake_lock);
    int rc = -1;
    json_t *vals = NULL, *lst = NULL;
    if (values && list) {
        if (timed_out) {
            /* Entry states are read under the lock: fetches go on and may finish now. */
            pthread_mutex_lock(&sec->lock);
            wait_timed_out(w, err);
            pthread_mutex_unlock(&sec->lock);
        } else if (!(vals = json_object()) || !(lst = json_array())) {
            err_nomem(err);
        } else {
            rc = build_outputs(sec, w->refs, w->wants, w->ref_want, vals, lst, err);
        }
    }
    release_all(sec, w->wants, w->n_wants);
    wait_put(w);
    if (rc) {
        secret_json_decref(vals);
        json_decref(lst);
        return -1;
    }
    *values = vals;
    *list = lst;
    return 0;
}

unsigned secrets_timeout_ms(const struct secrets *sec)
{
    return sec->timeout_ms;
}

void secrets_values_free(json_t *values)
{
    secret_json_decref(values);
}

/* ---- reload, ready ---- */

int secrets_reload(struct secrets *sec, struct err *err)
{
    int rc = sec->ops->reload(sec->impl, err);
    /* Drop the caches even when the reload failed: the operator asked for fresh data. In-flight
     * fetches finish for their waiters but are not kept. */
    pthread_mutex_lock(&sec->lock);
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        while (sec->buckets[b]) {
            table_unlink(sec, sec->buckets[b]);
        }
    }
    pthread_mutex_unlock(&sec->lock);
    pthread_mutex_lock(&sec->ready_lock);
    sec->ready_known = false;
    pthread_mutex_unlock(&sec->ready_lock);
    return rc;
}

/* The readiness thread of remote providers: one check whenever one is wanted. */
static void *ready_main(void *arg)
{
    struct secrets *sec = arg;
    pthread_mutex_lock(&sec->ready_lock);
    for (;;) {
        while (!sec->ready_wanted && !sec->ready_stopping) {
            pthread_cond_wait(&sec->ready_cond, &sec->ready_lock);
        }
        if (sec->ready_stopping) {
            break;
        }
        sec->ready_wanted = false;
        pthread_mutex_unlock(&sec->ready_lock);
        struct err e;
        err_init(&e);
        sec->ops->ready(sec->impl, &e);
        pthread_mutex_lock(&sec->ready_lock);
        sec->ready_err = e;
        sec->ready_at = clock_mono_ms();
        sec->ready_known = true;
    }
    pthread_mutex_unlock(&sec->ready_lock);
    return NULL;
}

static void ready_thread_start(struct secrets *sec)
{
    sec->ready_wanted = true; /* the first check starts right away */
    sec->ready_thread_on = pthread_create(&sec->ready_thread, NULL, ready_main, sec) == 0;
}

static void ready_thread_stop(struct secrets *sec)
{
    pthread_mutex_lock(&sec->ready_lock);
    sec->ready_stopping = true;
    bool on = sec->ready_thread_on;
    pthread_cond_signal(&sec->ready_cond);
    pthread_mutex_unlock(&sec->ready_lock);
    if (on) {
        pthread_join(sec->ready_thread, NULL);
    }
}

static int ready_copy_out(const struct err *known, struct err *err)
{
    if (!err_is_set(known)) {
        return 0;
    }
    err_set(err, known->code, NULL, "%s", err_message(known));
    if (err && err->code == known->code) {
        err->retry_after = known->retry_after;
    }
    return -1;
}

int secrets_ready_nowait(struct secrets *sec, struct err *err)
{
    if (!sec->ops->remote) {
        return secrets_ready(sec, err); /* local providers answer at once */
    }
    pthread_mutex_lock(&sec->ready_lock);
    if (!sec->ready_thread_on && !sec->ready_stopping) {
        ready_thread_start(sec); /* the first call starts the checks */
    }
    uint64_t now = clock_mono_ms();
    if (!sec->ready_known || now - sec->ready_at >= sec->ready_cache_ms) {
        sec->ready_wanted = true;
        pthread_cond_signal(&sec->ready_cond);
    }
    bool known = sec->ready_known;
    struct err copy = sec->ready_err;
    pthread_mutex_unlock(&sec->ready_lock);
    if (!known) {
        err_set(err, ERR_SECRET_UNAVAILABLE, NULL, "the first %s check has not finished yet",
                sec->ops->name);
        if (err) {
            err->retry_after = 1;
        }
        return -1;
    }
    return ready_copy_out(&copy, err);
}

int secrets_ready(struct secrets *sec, struct err *err)
{
    /* One check at a time, and its answer is reused for ready_cache_ms: /readyz polled by
     * many probes must not turn into vault traffic. */
    pthread_mutex_lock(&sec->ready_lock);
    uint64_t now = clock_mono_ms();
    if (!sec->ready_known || now - sec->ready_at >= sec->ready_cache_ms) {
        err_init(&sec->ready_err);
        sec->ops->ready(sec->impl, &sec->ready_err);
        sec->ready_at = clock_mono_ms();
        sec->ready_known = true;
    }
    struct err copy = sec->ready_err;
    pthread_mutex_unlock(&sec->ready_lock);
    return ready_copy_out(&copy, err);
}
