/*
 * ocirenderd: start-up, the signal loop and shutdown.
 *
 * Start-up order matters: signals are blocked and libraries initialised (curl_global_init,
 * json_object_seed) before any thread exists, so every worker and secrets thread inherits the
 * mask and no request ever initialises a library. The main thread then only waits for
 * signals: SIGHUP reloads, SIGTERM/SIGINT drain and exit 0.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/hostarch.h"
#include "common/jsonx.h"
#include "common/server_env.h"
#include "common/strutil.h"
#include "handlers/handlers.h"
#include "secrets/secrets.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/files.h"
#include "server/httpd.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/net.h"
#include "version.h"

#define DRAIN_SECONDS 10
#define EXIT_RUNTIME  1
#define EXIT_USAGE    2

struct server {
    struct server_config cfg;
    struct listen_addr addr;
    struct secrets *secrets;
    json_t *server_env;
    bool auth_on;
    struct auth_store auth;
    struct metrics *metrics;
    struct handler_app app;
    char *tls_cert, *tls_key, *tls_ca;
    size_t tls_cert_len, tls_key_len, tls_ca_len;
    char *bench_body;
    char machine[65]; /* uname -m: the arch assumed for requests without host.arch */
    struct render_prepared *prepared; /* constant config parts, made once */
    struct httpd *httpd;
};

/* ---- start-up ------------------------------------------------------------------------------ */

static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    /* Writes to closed sockets must fail with EPIPE, not kill the process. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);
}

/* Secrets messages join this process's JSON log as {"event": "secrets"}. */
static char secrets_event[] = "secrets";

static int start_secrets(struct server *s, struct err *err)
{
    struct secrets_settings ss;
    if (secrets_settings_from_env(&ss, err) || config_secrets_apply(&s->cfg, &ss, err)) {
        return -1;
    }
    ss.log = log_hook_json;
    ss.log_ctx = secrets_event;
    ss.log_level = s->cfg.log_level;
    s->secrets = secrets_create(&ss, err);
    return s->secrets ? 0 : -1;
}

/* $E: may read this server's environment only for the names OCIRENDER_ALLOW_SERVER_ENV lists
 * (common/server_env.h). Read once, before the workers. */
static int allowed_server_env(struct server *s, struct err *err)
{
    json_t *missing = NULL;
    if (server_env_allowed(getenv(SERVER_ENV_VAR), &s->server_env, &missing, err)) {
        return -1;
    }
    size_t i;
    const json_t *name;
    json_array_foreach(missing, i, name) {
        log_msg(LOG_WARN, "start", "OCIRENDER_ALLOW_SERVER_ENV names %s, which is not set",
                json_string_value(name));
    }
    json_decref(missing);
    return 0;
}

static int start_auth(struct server *s, struct err *err)
{
    if (!s->cfg.auth_tokens) {
        if (!s->cfg.insecure_no_auth && !net_is_loopback(&s->addr)) {
            return err_set(err, ERR_USAGE, "listen",
                           "refusing to listen on %s:%u without authentication: without "
                           "--auth-tokens only loopback addresses (127.0.0.0/8, ::1) are "
                           "allowed. Pass --auth-tokens FILE, or --insecure-no-auth when "
                           "something in front of this server authenticates clients",
                           s->addr.host, s->addr.port);
        }
        if (s->cfg.insecure_no_auth && !net_is_loopback(&s->addr)) {
            log_msg(LOG_WARN, "start",
                    "--insecure-no-auth: anyone who reaches %s:%u can render "
                    "configs with this server's secrets",
                    s->addr.host, s->addr.port);
        }
        return 0;
    }
    if (auth_store_init(&s->auth, s->cfg.auth_tokens, err)) {
        return -1;
    }
    s->auth_on = true;
    struct auth_table *t = auth_store_get(&s->auth);
    if (t->n_short) {
        log_msg(LOG_WARN, "start",
                "%u tokens are shorter than 16 characters; use long random "
                "tokens (e.g. openssl rand -hex 32)",
                t->n_short);
    }
    auth_table_unref(t);
    return 0;
}

static int load_tls(struct server *s, struct err *err)
{
    if (!s->cfg.tls_cert) {
        return 0;
    }
    if (!(s->tls_cert =
              files_read_pem(s->cfg.tls_cert, "TLS certificate", &s->tls_cert_len, err)) ||
        !(s->tls_key = files_read_pem(s->cfg.tls_key, "TLS key", &s->tls_key_len, err))) {
        return -1;
    }
    if (s->cfg.tls_client_ca &&
        !(s->tls_ca = files_read_pem(s->cfg.tls_client_ca, "TLS client CA", &s->tls_ca_len, err))) {
        return -1;
    }
    return 0;
}

/* The hidden benchmark baseline: a JSON body of exactly `bytes` bytes. */
static int make_bench_body(struct server *s, struct err *err)
{
    size_t n = s->cfg.bench_static_bytes;
    if (!n) {
        return 0;
    }
    if (!(s->bench_body = malloc(n + 1))) {
        return err_nomem(err);
    }
    memset(s->bench_body, ' ', n);
    static const char head[] = "{\"pad\":\"", tail[] = "\"}\n";
    if (n >= sizeof(head) + sizeof(tail) - 2) {
        memcpy(s->bench_body, head, sizeof(head) - 1);
        memset(s->bench_body + sizeof(head) - 1, 'x', n - (sizeof(head) + sizeof(tail) - 2));
        memcpy(s->bench_body + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    }
    s->bench_body[n] = '\0';
    s->app.bench_body = s->bench_body;
    s->app.bench_body_len = n;
    return 0;
}

static void setup_app(struct server *s)
{
    s->app.secrets = s->secrets;
    s->app.settings.default_cgroup_parent = s->cfg.cgroup_parent;
    s->app.settings.server_env = s->server_env;
    s->app.settings.native_arch = host_machine(s->machine, sizeof(s->machine));
    s->app.settings.prepared = s->prepared;
    s->app.server_version = OCIRENDER_VERSION;
    s->app.http_library = httpd_library_version();
    s->app.server_metrics = metrics_render;
    s->app.server_metrics_ctx = s->metrics;
    atomic_init(&s->app.draining, false);
}

static int start_httpd(struct server *s, struct err *err)
{
    int fd = net_listen(&s->addr, err);
    if (fd < 0) {
        return -1;
    }
    struct trusted_set trusted;
    if (conns_trusted_parse(s->cfg.trusted_proxies, &trusted, err)) {
        close(fd);
        return -1;
    }
    struct httpd_options o = {
        .event_loop = s->cfg.event_loop_epoll ? HTTPD_LOOP_EPOLL : HTTPD_LOOP_POLL,
        .listen_fd = fd,
        .threads = s->cfg.threads,
        .connection_timeout = s->cfg.connection_timeout,
        .max_connections = s->cfg.max_connections,
        .max_connections_per_ip = s->cfg.max_connections_per_ip,
        .header_timeout = s->cfg.header_timeout,
        .body_timeout = s->cfg.body_timeout,
        .max_body = s->cfg.max_body,
        .tls_cert = s->tls_cert,
        .tls_key = s->tls_key,
        .tls_client_ca = s->tls_ca,
        .auth = s->auth_on ? &s->auth : NULL,
        .app = &s->app,
        .metrics = s->metrics,
        .bench_route = s->bench_body != NULL,
    };
    o.trusted = trusted;
    s->httpd = httpd_start(&o, err);
    return s->httpd ? 0 : -1;
}

/* The names (never the values) of the server variables $E: may read. */
static json_t *server_env_names_new(const json_t *env)
{
    json_t *names = json_array();
    const char *key;
    const json_t *value;
    json_object_foreach ((json_t *)(uintptr_t)env, key, value) {
        (void)value;
        if (names && jsonx_append_str(names, key)) {
            json_decref(names);
            return NULL;
        }
    }
    return names;
}

static void log_started(const struct server *s)
{
    char listen[96];
    snprintf(listen, sizeof(listen), s->addr.ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
             s->addr.host, s->addr.port);
    json_t *f = json_object();
    if (!f || jsonx_set_str(f, "msg", "listening") ||
        jsonx_set_str(f, "version", OCIRENDER_VERSION) || jsonx_set_str(f, "listen", listen) ||
        jsonx_set_int(f, "port", s->addr.port) || jsonx_set_bool(f, "tls", s->tls_cert != NULL) ||
        jsonx_set_bool(f, "client_certificates", s->tls_ca != NULL) ||
        jsonx_set_str(f, "auth",
                      s->auth_on                ? "tokens"
                      : s->cfg.insecure_no_auth ? "none (insecure)"
                                                : "none (loopback only)") ||
        jsonx_set_str(f, "secrets", secrets_provider_name(s->secrets)) ||
        jsonx_set_int(f, "threads", s->cfg.threads) ||
        jsonx_set_int(f, "max_body", (long long)s->cfg.max_body) ||
        jsonx_set_int(f, "connection_timeout", s->cfg.connection_timeout) ||
        jsonx_set_int(f, "max_connections", s->cfg.max_connections) ||
        jsonx_set_int(f, "max_connections_per_ip", s->cfg.max_connections_per_ip) ||
        jsonx_set_int(f, "header_timeout", s->cfg.header_timeout) ||
        jsonx_set_int(f, "body_timeout", s->cfg.body_timeout) ||
        jsonx_set_str(f, "event_loop", s->cfg.event_loop_epoll ? "epoll" : "poll") ||
        jsonx_set_int(f, "pid", (long long)getpid()) ||
        json_object_set_new(f, "server_env", server_env_names_new(s->server_env))) {
        json_decref(f);
        return;
    }
    log_event(LOG_INFO, "start", f);
    json_decref(f);
}

static int server_start(struct server *s, struct err *err)
{
    if (net_parse_listen(s->cfg.listen, &s->addr, err) || start_auth(s, err) || load_tls(s, err) ||
        allowed_server_env(s, err) || start_secrets(s, err) || make_bench_body(s, err)) {
        return -1;
    }
    if (!(s->metrics = metrics_create()) || !(s->prepared = render_prepared_new())) {
        return err_nomem(err);
    }
    setup_app(s);
    if (start_httpd(s, err)) {
        return -1;
    }
    /* Start the background readiness checks now, so the first probe finds an answer. */
    struct err ignored;
    err_init(&ignored);
    (void)secrets_ready_nowait(s->secrets, &ignored);
    log_started(s);
    return 0;
}

/* ---- signals ------------------------------------------------------------------------------- */

static void reload(struct server *s)
{
    struct err err;
    err_init(&err);
    if (s->auth_on) {
        if (auth_store_reload(&s->auth, &err)) {
            log_msg(LOG_ERROR, "reload",
                    "tokens file %s not reloaded, the previous tokens stay "
                    "in force: %s",
                    s->cfg.auth_tokens, err_message(&err));
        } else {
            struct auth_table *t = auth_store_get(&s->auth);
            log_msg(LOG_INFO, "reload", "tokens file reloaded: %zu tokens", t->n);
            auth_table_unref(t);
        }
    }
    err_init(&err);
    if (secrets_reload(s->secrets, &err)) {
        log_msg(LOG_ERROR, "reload", "secrets not reloaded, the previous state stays: %s",
                err_message(&err));
    } else {
        log_msg(LOG_INFO, "reload", "secrets reloaded (%s provider)",
                secrets_provider_name(s->secrets));
    }
}

static int wait_for_stop_signal(struct server *s, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            reload(s);
            continue;
        }
        return sig;
    }
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Stop accepting, let in-flight requests finish (up to DRAIN_SECONDS), then stop. A second
 * SIGTERM/SIGINT cuts the wait short. */
static void drain_and_stop(struct server *s, const sigset_t *set, int sig)
{
    atomic_store(&s->app.draining, true);
    httpd_quiesce(s->httpd);
    log_msg(LOG_INFO, "stop",
            "%s: no longer accepting connections; waiting for %llu in-flight "
            "requests (up to %d s)",
            sig == SIGINT ? "SIGINT" : "SIGTERM", httpd_inflight(s->httpd), DRAIN_SECONDS);
    double deadline = monotonic_now() + DRAIN_SECONDS;
    while (httpd_inflight(s->httpd) > 0 && monotonic_now() < deadline) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        int again = sigtimedwait(set, NULL, &tick);
        if (again == SIGTERM || again == SIGINT) {
            log_msg(LOG_WARN, "stop", "second stop signal: not waiting any longer");
            break;
        }
    }
    unsigned long long left = httpd_inflight(s->httpd);
    if (left) {
        log_msg(LOG_WARN, "stop", "%llu requests still in flight are cut off", left);
    }
    httpd_stop(s->httpd);
    s->httpd = NULL;
    log_msg(LOG_INFO, "stop", "stopped");
}

static void server_release(struct server *s)
{
    httpd_stop(s->httpd);
    secrets_destroy(s->secrets);
    if (s->auth_on) {
        auth_store_destroy(&s->auth);
    }
    metrics_destroy(s->metrics);
    render_prepared_free(s->prepared);
    json_decref(s->server_env);
    files_free_secret(s->tls_cert, s->tls_cert_len);
    files_free_secret(s->tls_key, s->tls_key_len);
    files_free_secret(s->tls_ca, s->tls_ca_len);
    free(s->bench_body);
}

/*
 * Every render frees a few blocks of tens of KiB (its arenas, its answer) at the top of its
 * worker's heap. With glibc's default trim threshold (128 KiB, adjusted as it goes) that top is
 * handed back to the kernel and faulted in again on the next request: madvise, page faults and
 * cross-CPU TLB flushes cost about a tenth of the render route's throughput
 * (bench/README.md). A fixed 8 MiB threshold keeps a worker's working set mapped; peak RSS
 * stays what the busiest moment needed.
 */
#define TRIM_THRESHOLD (8 << 20)

static void tune_allocator(void)
{
    if (mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1) {
        log_msg(LOG_WARN, "start", "mallopt(M_TRIM_THRESHOLD) failed; using glibc's default");
    }
}

int main(int argc, char **argv)
{
    static struct server s; /* one per process; static keeps the large struct off the stack */
    struct err err;
    err_init(&err);
    int prc = config_parse(&s.cfg, argc, argv, &err);
    if (prc != 0) {
        if (prc < 0) {
            fprintf(stderr, "ocirenderd: %s\n", err_message(&err));
        }
        return prc < 0 ? EXIT_USAGE : 0;
    }
    log_set_level(s.cfg.log_level);
    sigset_t set;
    block_signals(&set);
    /* Process-wide library set-up, once, before any thread starts. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_msg(LOG_ERROR, "start", "curl_global_init failed");
        return EXIT_RUNTIME;
    }
    json_object_seed(0);
    tune_allocator();
    int rc = 0;
    if (server_start(&s, &err)) {
        log_msg(LOG_ERROR, "start", "%s%s%s", err_path(&err), *err_path(&err) ? ": " : "",
                err_message(&err));
        rc = err.code == ERR_USAGE ? EXIT_USAGE : EXIT_RUNTIME;
    } else {
        drain_and_stop(&s, &set, wait_for_stop_signal(&s, &set));
    }
    server_release(&s);
    curl_global_cleanup();
    return rc;
}
