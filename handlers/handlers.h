#ifndef OCIRENDER_HANDLERS_HANDLERS_H
#define OCIRENDER_HANDLERS_HANDLERS_H

/*
 * handlers: thin adapters from an HTTP request to the render and secrets libraries
 *.
 *
 * Handlers know nothing about sockets or libmicrohttpd: they take a plain `struct http_req`
 * (method, path, query parameters, the few headers they need, an already size-capped body)
 * and fill a plain `struct http_resp` (status, content type, body, extra headers). The server
 * (server/) owns the connection, authentication, limits, logging and metrics, and converts the
 * response for libmicrohttpd. That split lets tests/server/ call handlers directly.
 *
 * Routing is the static table in routes.c. Every handler has the signature `handler_fn`:
 * it returns 0 with `resp` filled (any status, errors included as problem+json), or -1 when it
 * could not even build a response (out of memory): the server then answers a canned 500.
 *
 * Thread-safety: handlers run concurrently on the server's worker threads. They only read the
 * shared `struct handler_app` (the secrets service it points to is thread-safe itself).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/compiler.h"
#include "common/err.h"
#include "render/render.h"

struct sbuf;
struct secrets;

/* One query parameter (already percent-decoded by the server). Borrowed strings. */
struct http_param {
    const char *name;
    const char *value;
};

/* A request as handlers see it. Every pointer is borrowed for the duration of the call. */
struct http_req {
    const char *method;
    const char *path;
    const char *body; /* NULL when the request has none; not NUL-terminated */
    size_t body_len;
    const struct http_param *query;
    size_t n_query;
    const char *content_type; /* Content-Type header, NULL when absent */
    const char *accept;       /* Accept header, NULL when absent */
    const char *request_id;
    /*
     * Authorisation, decided by the server after it authenticated the bearer token. NULL when
     * auth is off (no tokens file: loopback only, or --insecure-no-auth): every scope allowed.
     */
    bool (*scope_allowed)(const void *grant, const char *scope);
    const void *grant;
};

#define HTTP_RESP_MAX_HEADERS 8
#define HTTP_HEADER_VALUE_MAX 192

struct http_header {
    const char *name; /* static string */
    char value[HTTP_HEADER_VALUE_MAX];
};

/* A response. Release with http_resp_release(), or hand `body` over and reset it to NULL. */
struct http_resp {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc'ed, owned */
    size_t body_len;
    bool body_secret; /* the body may hold secret values: wipe before freeing (such a
                         body is NUL-terminated text, so its length can be recomputed) */
    unsigned n_headers;
    struct http_header headers[HTTP_RESP_MAX_HEADERS];
    unsigned warnings;      /* render warnings, for the access log */
    const char *error_name; /* err_code_name() of an error reply, for the access log */
};

/* Process-wide state the handlers read; owned by the server, set up before the workers run. */
struct handler_app {
    struct secrets *secrets;         /* borrowed, thread-safe */
    struct render_settings settings; /* default cgroup parent, allowed server env */
    const char *server_version;      /* "0.1.0" */
    const char *http_library;        /* e.g. "libmicrohttpd 0.9.75" */
    /* Appends the server's own metrics (requests, durations, inflight); may be NULL. */
    int (*server_metrics)(void *ctx, struct sbuf *out);
    void *server_metrics_ctx;
    atomic_bool draining;       /* shutting down: /readyz answers 503 */
    /* Hidden benchmark route POST /bench/static (bench/README.md): its fixed body, or NULL. */
    const char *bench_body;
    size_t bench_body_len;
};

typedef int (*handler_fn)(const struct http_req *req, struct http_resp *resp,
                          struct handler_app *app);

/*
 * Routes that may wait for the vault also have a two-step form, so the server can park the
 * request instead of a thread (server/httpd.c suspends the connection). begin answers at once
 * (resp filled, *job NULL) when the request fails early or every secret is at hand; otherwise
 * it returns 0 with *job set and `wake(ctx)` is called once, from a secrets thread, when the
 * vault has answered. finish answers (a 504 naming the reference when called before wake,
 * i.e. the caller's deadline passed) and frees the job; cancel frees it without answering.
 * All return -1 only when no response could be built.
 */
struct render_job;
typedef void (*handler_wake_fn)(void *ctx);
typedef int (*handler_begin_fn)(const struct http_req *req, struct http_resp *resp,
                                struct handler_app *app, handler_wake_fn wake, void *ctx,
                                struct render_job **job);

/* ---- routes.c ---------------------------------------------------------------------------- */

enum route_flags {
    ROUTE_BODY = 1u << 0,  /* reads a request body (bounded by --max-body) */
    ROUTE_AUTH = 1u << 1,  /* needs a bearer token when a tokens file is configured */
    ROUTE_BENCH = 1u << 2, /* exists only with --bench-static-route */
};

struct route {
    const char *method; /* "GET" routes also answer HEAD */
    const char *path;
    const char *name; /* metrics label: "render", "validate", ... */
    handler_fn fn;
    unsigned flags;
    handler_begin_fn begin; /* the two-step form, or NULL */
};

/*
 * Find the route for `method` and `path` (exact match; the query string is not part of
 * `path`). On a miss returns NULL and sets *status to 404 (no such path) or 405 (the path
 * exists with other methods; `allow` then holds the Allow header value, e.g. "GET, HEAD").
 * `bench` enables the ROUTE_BENCH routes. Borrowed result (static table).
 */
const struct route *routes_lookup(const char *method, const char *path, bool bench, char *allow,
                                  size_t allow_len, int *status);

/* The whole table, for metrics labels. */
const struct route *routes_table(size_t *n);

/* ---- request.c: media types and query parameters ---------------------------------------- */

/*
 * Content-Type to body format: application/json -> JSON; application/yaml,
 * application/x-yaml, text/yaml -> YAML; application/x-www-form-urlencoded or none (curl's
 * default) -> sniffed. Parameters are allowed; a charset other than UTF-8 is refused.
 * 0, or -1 with ERR_UNSUPPORTED_MEDIA (415).
 */
int http_body_format(const char *content_type, enum render_format *out, struct err *err);

/* True when the Accept header lists application/vnd.ocirender.envelope+json (q > 0). */
bool http_accepts_envelope(const char *accept);

/* Query parameters of POST /render and /validate, as render_params: numbers and flags typed
 * here, strings borrowed from the request. */
struct render_query {
    struct render_params params;
    bool envelope; /* format=envelope or the envelope Accept type */
    bool compact;  /* compact=true */
};

/*
 * Collect the render query parameters: service, replica, role, node_id, hostname,
 * host_network, scope, format (envelope|config), compact (true|false). Unknown or repeated
 * parameters and bad values are ERR_BAD_REQUEST (400) naming the parameter.
 */
int http_render_query(const struct http_req *req, struct render_query *out, struct err *err);

/*
 * Client bytes made safe to echo in JSON text (problem details, log lines): valid UTF-8 is
 * kept, each byte of an invalid sequence and each control character becomes "\xNN". The
 * result is truncated at a character boundary to fit `out` (out_len >= 1).
 */
void http_text_sanitize(const char *in, char *out, size_t out_len);

/* The server's check for X-Request-Id: 1..128 printable ASCII characters. */
bool http_request_id_valid(const char *id);

/* ---- response.c -------------------------------------------------------------------------- */

void http_resp_init(struct http_resp *resp);
void http_resp_release(struct http_resp *resp);

/* Add (or replace, when `name` is already set) a header. -1 when the table is full. */
int http_resp_set_header(struct http_resp *resp, const char *name, const char *fmt, ...)
    PRINTF(3, 4);
const char *http_resp_header(const struct http_resp *resp, const char *name);
void http_resp_unset_header(struct http_resp *resp, const char *name);

/* Serialize `body` (borrowed) with jsonx_dump (JSONX_PRETTY or JSONX_COMPACT) as the body.
 * 0, or -1 when out of memory. */
int http_reply_json(struct http_resp *resp, int status, const json_t *body, unsigned flags);

/* A plain-text body (copied). */
int http_reply_text(struct http_resp *resp, int status, const char *content_type, const char *text,
                    size_t len);

/* ---- reply_error.c: RFC 9457 problem details --------------------------------------------- */

/*
 * application/problem+json from `err`: {"type", "title", "status", "detail", "code",
 * "errors": [{"path", "message"}]} with every issue of the error. The status comes from
 * err_http_status(); Retry-After is set from err->retry_after; 401 adds WWW-Authenticate.
 * 0, or -1 when out of memory.
 */
int http_reply_problem(struct http_resp *resp, const struct err *err);
/* The same with an explicit status (readiness answers 503 for any failure). */
int http_reply_problem_status(struct http_resp *resp, int status, const struct err *err);
/* Convenience: one issue with `code` and message. */
int http_reply_error(struct http_resp *resp, enum err_code code, const char *path, const char *fmt,
                     ...) PRINTF(4, 5);

/* The problem document itself (new reference), for tests and the server. */
json_t *http_problem_new(int status, const struct err *err) WARN_UNUSED;
/* [{"path", "message"}] of every issue of `err` (new reference, NULL on OOM). */
json_t *http_err_issues_new(const struct err *err) WARN_UNUSED;

/* ---- one file per endpoint ---------------------------------------------------------------- */

int handler_render_post(const struct http_req *req, struct http_resp *resp,
                        struct handler_app *app);
int handler_render_begin(const struct http_req *req, struct http_resp *resp,
                         struct handler_app *app, handler_wake_fn wake, void *ctx,
                         struct render_job **job);
int handler_render_finish(struct render_job *job, struct http_resp *resp);
void handler_render_cancel(struct render_job *job);
int handler_validate_post(const struct http_req *req, struct http_resp *resp,
                          struct handler_app *app);
int handler_healthz_get(const struct http_req *req, struct http_resp *resp,
                        struct handler_app *app);
int handler_readyz_get(const struct http_req *req, struct http_resp *resp, struct handler_app *app);
int handler_metrics_get(const struct http_req *req, struct http_resp *resp,
                        struct handler_app *app);
int handler_version_get(const struct http_req *req, struct http_resp *resp,
                        struct handler_app *app);
int handler_bench_static_post(const struct http_req *req, struct http_resp *resp,
                              struct handler_app *app);

/* Shared by render and validate: is the caller allowed for `scope`? */
bool handler_scope_allowed(const struct http_req *req, const char *scope);
/*
 * The caller must be allowed for the request's effective `scope` and for the scope of every
 * secret reference (`$S:@svc/...` and `$S::env/...` reach outside the request scope).
 * 0, or -1 with ERR_FORBIDDEN (403) naming the scope.
 */
int handler_check_scopes(const struct http_req *req, const char *scope,
                         const struct render_secret_refs *refs, struct err *err);

#endif
