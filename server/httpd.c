#include "server/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

#include "common/clock.h"
#include "common/jsonx.h"
#include "common/jw.h"
#include "common/sbuf.h"
#include "common/strutil.h"
#include "handlers/handlers.h"
#include "secrets/secrets.h"
#include "server/auth.h"
#include "server/conns.h"
#include "server/log.h"
#include "server/metrics.h"

#define QUERY_PARAMS_MAX 32
#define LOG_PATH_MAX     256
#define TLS_PRIORITIES   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define SWEEP_INTERVAL_MS 100

struct request_state;

struct httpd {
    struct MHD_Daemon *daemon;
    struct httpd_options o;
    atomic_uint_least64_t next_id;
    char id_prefix[17];
    atomic_bool started;    /* libmicrohttpd messages before this are start-up errors */
    MHD_socket quiesced_fd; /* the listening socket handed back by MHD_quiesce_daemon */
    struct conns *conns;    /* per-IP counts and header/body deadlines */
    /* Requests parked (connection suspended) while the vault answers; the sweeper thread
     * resumes those whose deadline passed and cuts connections past theirs. */
    pthread_mutex_t park_lock;
    pthread_cond_t sweeper_cond;
    struct request_state *parked;
    bool stopping;
    bool sweeper_stop;
    bool sweeper_on;
    pthread_t sweeper;
};

/* Who resumes a parked request: exactly one of the wake-up, the sweeper and httpd_stop. */
enum park_state { PARK_NONE = 0, PARK_WOKEN_EARLY, PARK_PARKED, PARK_CLAIMED };

/*
 * The status of libmicrohttpd's last own error answer on this worker thread. A request it
 * refuses before our first callback (a malformed request line, an unsupported version) leaves
 * no other trace of the status it got; the connection's CLOSED notification, on the same
 * thread, logs it (log_orphan).
 */
static _Thread_local unsigned mhd_error_status;

/* Everything one request needs between its first and its completion callback. */
struct request_state {
    struct httpd *h;
    struct MHD_Connection *mhd;
    struct conn *conn; /* bookkeeping of the connection (server/conns.h) */
    bool headers_seen;
    struct timespec start;
    const struct route *route;
    size_t route_label;
    struct sbuf body;
    bool buffering;
    bool body_failed; /* out of memory while buffering */
    bool too_large;
    size_t received;
    struct auth_table *tokens; /* reference held while the request runs */
    const struct auth_token *grant;
    int status; /* 0 until a response is queued */
    size_t bytes;
    unsigned warnings;
    const char *error_name;
    char method[16];
    char path[LOG_PATH_MAX];
    char client[64];
    char forwarded_for[64]; /* X-Forwarded-For's last hop, from a trusted proxy only */
    char request_id[129];
    /* Parked while the vault answers (render_job pending). */
    struct render_job *job;
    atomic_int park;
    atomic_bool woken; /* the vault has answered: the result is there */
    uint64_t wait_deadline_ms;
    struct request_state *pprev, *pnext;
};

static const char canned_500[] =
    "{\n  \"type\": \"urn:ocirender:problem:internal\",\n  \"title\": \"Internal error\",\n"
    "  \"status\": 500,\n  \"detail\": \"the response could not be built\",\n"
    "  \"code\": \"INTERNAL\",\n  \"errors\": []\n}\n";

const char *httpd_library_version(void)
{
    static char text[48];
    if (!text[0]) {
        snprintf(text, sizeof(text), "libmicrohttpd %s", MHD_get_version());
    }
    return text;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- responses ---------------------------------------------------------------------------- */

/* Free callback for bodies holding secret values (NUL-terminated text, see http_resp). */
static void free_wiped(void *body)
{
    mem_wipe(body, strlen(body));
    free(body);
}

/* Hand the body to libmicrohttpd (which frees it once sent); NULL when out of memory. */
static struct MHD_Response *mhd_response_new(struct http_resp *resp)
{
    struct MHD_Response *r;
    if (!resp->body) {
        return MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_MUST_COPY);
    }
    if (resp->body_secret) {
        r = MHD_create_response_from_buffer_with_free_callback_cls(resp->body_len, resp->body,
                                                                   free_wiped, resp->body);
    } else {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
    }
    if (r) {
        resp->body = NULL; /* owned by the response now */
        resp->body_len = 0;
    }
    return r;
}

static bool add_headers(struct MHD_Response *r, const struct request_state *rs,
                        const struct http_resp *resp)
{
    bool ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      resp->content_type ? resp->content_type
                                                         : "application/json") == MHD_YES &&
              MHD_add_response_header(r, "X-Request-Id", rs->request_id) == MHD_YES &&
              /* Rendered configs hold secret values: no cache may keep them. */
              MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    for (unsigned i = 0; ok && i < resp->n_headers; i++) {
        ok = MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) == MHD_YES;
    }
    if (ok && atomic_load(&rs->h->o.app->draining)) {
        /* Draining: do not invite another request on this connection. */
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    }
    return ok;
}

static enum MHD_Result queue_canned_500(struct request_state *rs, struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof(canned_500) - 1, (void *)(uintptr_t)canned_500, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(r, "X-Request-Id", rs->request_id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result q = MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
    MHD_destroy_response(r);
    rs->status = 500;
    rs->bytes = sizeof(canned_500) - 1;
    rs->error_name = "INTERNAL";
    return q;
}

/* Queue `resp` (built == 0) or the canned 500 (built != 0); releases `resp` either way. */
static enum MHD_Result respond(struct request_state *rs, struct MHD_Connection *c,
                               struct http_resp *resp, int built)
{
    if (built) {
        http_resp_release(resp);
        return queue_canned_500(rs, c);
    }
    size_t len = resp->body_len;
    struct MHD_Response *r = mhd_response_new(resp);
    if (!r || !add_headers(r, rs, resp)) {
        if (r) {
            MHD_destroy_response(r);
        }
        http_resp_release(resp);
        return queue_canned_500(rs, c);
    }
    rs->status = resp->status;
    rs->bytes = len;
    rs->warnings = resp->warnings;
    rs->error_name = resp->error_name;
    enum MHD_Result q = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    http_resp_release(resp);
    return q;
}

static enum MHD_Result respond_error(struct request_state *rs, struct MHD_Connection *c,
                                     const struct err *err)
{
    struct http_resp resp;
    http_resp_init(&resp);
    return respond(rs, c, &resp, http_reply_problem(&resp, err));
}

/* ---- request start: identity, route, TLS client, token, size and type ---------------------- */

static void request_id_init(struct request_state *rs, struct MHD_Connection *c)
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (http_request_id_valid(given)) {
        snprintf(rs->request_id, sizeof(rs->request_id), "%s", given);
        return;
    }
    unsigned long long n = atomic_fetch_add(&rs->h->next_id, 1);
    snprintf(rs->request_id, sizeof(rs->request_id), "%s-%012llx", rs->h->id_prefix, n);
}

static void client_address(struct MHD_Connection *c, char *out, size_t out_len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, out_len, "?");
    if (!ci || !ci->client_addr) {
        return;
    }
    const struct sockaddr *sa = ci->client_addr;
    const void *raw = NULL;
    if (sa->sa_family == AF_INET) {
        raw = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        raw = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    }
    if (raw && !inet_ntop(sa->sa_family, raw, out, (socklen_t)out_len)) {
        snprintf(out, out_len, "?");
    }
}

static struct conn *connection_tracked(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? (struct conn *)ci->socket_context : NULL;
}

/* The path for logs: client bytes, so invalid UTF-8 and control characters are escaped. */
static void set_log_path(struct request_state *rs, const char *url)
{
    char raw[LOG_PATH_MAX];
    snprintf(raw, sizeof(raw), "%.*s", (int)strcspn(url, "?"), url);
    http_text_sanitize(raw, rs->path, sizeof(rs->path));
}

/* As soon as the request line is read (libmicrohttpd's URI callback), so that requests
 * libmicrohttpd itself rejects later (bad headers, too large) are logged and counted too. */
static struct request_state *request_begin(struct httpd *h, struct MHD_Connection *c,
                                           const char *uri)
{
    struct request_state *rs = calloc(1, sizeof(*rs));
    if (!rs) {
        return NULL;
    }
    rs->h = h;
    rs->mhd = c;
    rs->conn = connection_tracked(c);
    clock_gettime(CLOCK_MONOTONIC, &rs->start);
    rs->route_label = metrics_route_none();
    snprintf(rs->method, sizeof(rs->method), "-");
    set_log_path(rs, uri ? uri : "");
    client_address(c, rs->client, sizeof(rs->client));
    atomic_init(&rs->park, PARK_NONE);
    atomic_init(&rs->woken, false);
    conns_request_seen(h->conns, rs->conn);
    metrics_request_started(h->o.metrics);
    return rs;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    return request_begin(cls, c, uri);
}

/* The last X-Forwarded-For hop, when the peer is a trusted proxy: the address it saw. */
static void forwarded_for_init(struct request_state *rs, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const char *xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff || !ci || !ci->client_addr ||
        !conns_trusted_has(&rs->h->o.trusted, ci->client_addr)) {
        return;
    }
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    last += strspn(last, " \t");
    char raw[64];
    snprintf(raw, sizeof(raw), "%.*s", (int)strcspn(last, " \t"), last);
    http_text_sanitize(raw, rs->forwarded_for, sizeof(rs->forwarded_for));
}

/* First access-handler call: the headers are complete. */
static void request_headers_seen(struct request_state *rs, struct MHD_Connection *c,
                                 const char *url, const char *method)
{
    rs->headers_seen = true;
    char m[sizeof(rs->method)];
    snprintf(m, sizeof(m), "%s", method);
    http_text_sanitize(m, rs->method, sizeof(rs->method));
    set_log_path(rs, url);
    request_id_init(rs, c);
    forwarded_for_init(rs, c);
}

/* With --tls-client-ca the peer must have presented a certificate that verifies against it. */
static bool client_certificate_ok(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session) {
        return false;
    }
    gnutls_session_t session = (gnutls_session_t)ci->tls_session;
    unsigned n_certs = 0;
    unsigned status = 0;
    if (!gnutls_certificate_get_peers(session, &n_certs) || n_certs == 0) {
        return false;
    }
    return gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS && status == 0;
}

/* Bearer token against the current tokens table; the table reference lives with the request. */
static int authenticate(struct request_state *rs, struct MHD_Connection *c, struct err *err,
                        bool *presented)
{
    const char *header =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token;
    size_t len;
    *presented = false;
    if (auth_bearer_token(header, &token, &len)) {
        return err_set(err, ERR_UNAUTHORIZED, "Authorization",
                       "a bearer token is required (Authorization: Bearer TOKEN)");
    }
    *presented = true;
    rs->tokens = auth_store_get(rs->h->o.auth);
    rs->grant = auth_table_find(rs->tokens, token, len);
    if (!rs->grant) {
        return err_set(err, ERR_UNAUTHORIZED, "Authorization", "the bearer token is not valid");
    }
    return 0;
}

static enum MHD_Result reply_no_route(struct request_state *rs, struct MHD_Connection *c,
                                      int status, const char *allow)
{
    struct err err;
    err_init(&err);
    if (status == 405) {
        err_set(&err, ERR_METHOD, NULL, "method %s is not allowed on %s (allowed: %s)", rs->method,
                rs->path, allow);
    } else {
        err_set(&err, ERR_NOT_FOUND, NULL, "no such route: %s", rs->path);
    }
    struct http_resp resp;
    http_resp_init(&resp);
    int built = http_reply_problem(&resp, &err);
    if (!built && status == 405) {
        built = http_resp_set_header(&resp, MHD_HTTP_HEADER_ALLOW, "%s", allow);
    }
    return respond(rs, c, &resp, built);
}

static enum MHD_Result reply_unauthenticated(struct request_state *rs, struct MHD_Connection *c,
                                             const struct err *err, bool presented)
{
    struct http_resp resp;
    http_resp_init(&resp);
    int built = http_reply_problem(&resp, err);
    if (!built && presented) {
        built = http_resp_set_header(&resp, "WWW-Authenticate",
                                     "Bearer realm=\"ocirender\", error=\"invalid_token\"");
    }
    return respond(rs, c, &resp, built);
}

static enum MHD_Result reply_no_client_certificate(struct request_state *rs,
                                                   struct MHD_Connection *c)
{
    struct err err;
    err_init(&err);
    err_set(&err, ERR_FORBIDDEN, NULL,
            "a client certificate signed by the configured client CA is required");
    struct http_resp resp;
    http_resp_init(&resp);
    int built = http_reply_problem(&resp, &err);
    http_resp_unset_header(&resp, "WWW-Authenticate"); /* not a bearer-token matter */
    return respond(rs, c, &resp, built);
}

/* The body length the client declared (Content-Length), or false. */
static bool declared_length(struct MHD_Connection *c, uint64_t *n)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && str_to_u64(cl, n) == 0;
}

static bool expects_continue(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return v && strcasecmp(v, "100-continue") == 0;
}

enum declared_size { DECLARED_WITHIN, DECLARED_DRAIN, DECLARED_REFUSE_NOW };

/*
 * What to do with a Content-Length over the limit. Answering at once and closing while the
 * body still arrives makes the kernel reset the connection, and the reset can destroy the 413
 * before the client reads it. So a body within HTTPD_BODY_DRAIN_MAX of the limit is read and
 * dropped, then answered. A client that waits for 100 Continue sends nothing yet, and one that
 * declares far more is not worth reading: both are answered before the body.
 */
static enum declared_size declared_size(struct MHD_Connection *c, size_t max)
{
    uint64_t n;
    if (!declared_length(c, &n) || n <= max) {
        return DECLARED_WITHIN;
    }
    return n - max <= HTTPD_BODY_DRAIN_MAX && !expects_continue(c) ? DECLARED_DRAIN
                                                                    : DECLARED_REFUSE_NOW;
}

/*
 * Room for the declared body at once, so it arrives in one block: growing a secret-mode
 * buffer copies and wipes it each time. Only up to BODY_FIRST_ROOM: a client may declare
 * the whole limit and send nothing, and real specs are a few KiB; a larger body grows as it
 * comes.
 */
#define BODY_FIRST_ROOM (64u << 10)

static void reserve_declared_body(struct request_state *rs, struct MHD_Connection *c)
{
    uint64_t n;
    if (declared_length(c, &n) && n > 0 &&
        sbuf_reserve(&rs->body, n < BODY_FIRST_ROOM ? (size_t)n : BODY_FIRST_ROOM)) {
        rs->body_failed = true; /* the builder freed itself: answered as out of memory */
        rs->buffering = false;
    }
}

static int too_large_error(const struct request_state *rs, struct err *err)
{
    return err_set(err, ERR_TOO_LARGE, NULL,
                   "the request body exceeds the limit of %zu bytes (--max-body)",
                   rs->h->o.max_body);
}

/* RFC 9112 6.3: a message with both is a smuggling attempt or a broken client; either way the
 * framing of what follows on the connection cannot be trusted, so answer 400 and close. */
static bool framing_ambiguous(struct MHD_Connection *c)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static enum MHD_Result reply_ambiguous_framing(struct request_state *rs, struct MHD_Connection *c)
{
    struct err err;
    err_init(&err);
    err_set(&err, ERR_BAD_REQUEST, NULL,
            "the request has both Content-Length and Transfer-Encoding; the connection is "
            "closed");
    struct http_resp resp;
    http_resp_init(&resp);
    int built = http_reply_problem(&resp, &err);
    if (!built) {
        built = http_resp_set_header(&resp, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    return respond(rs, c, &resp, built);
}

static enum MHD_Result request_route(struct request_state *rs, struct MHD_Connection *c);

static enum MHD_Result request_on_headers(struct request_state *rs, struct MHD_Connection *c)
{
    enum MHD_Result r = request_route(rs, c);
    /* A body to read or drain runs the body deadline; anything else has been answered or is
     * ours. */
    bool body_ahead = rs->buffering || rs->too_large;
    conns_set_phase(rs->h->conns, rs->conn, r == MHD_YES && body_ahead ? CONN_BODY : CONN_WORKING);
    return r;
}

static enum MHD_Result request_route(struct request_state *rs, struct MHD_Connection *c)
{
    struct httpd *h = rs->h;
    char allow[64];
    int status = 404;
    struct err err;
    err_init(&err);
    if (framing_ambiguous(c)) {
        return reply_ambiguous_framing(rs, c);
    }
    rs->route =
        routes_lookup(rs->method, rs->path, h->o.bench_route, allow, sizeof(allow), &status);
    if (!rs->route) {
        return reply_no_route(rs, c, status, allow);
    }
    size_t n_routes;
    rs->route_label = (size_t)(rs->route - routes_table(&n_routes));
    if (h->o.tls_client_ca && !client_certificate_ok(c)) {
        return reply_no_client_certificate(rs, c);
    }
    bool presented = false;
    if ((rs->route->flags & ROUTE_AUTH) && h->o.auth && authenticate(rs, c, &err, &presented)) {
        return reply_unauthenticated(rs, c, &err, presented);
    }
    switch (declared_size(c, h->o.max_body)) {
    case DECLARED_WITHIN: break;
    case DECLARED_DRAIN: rs->too_large = true; return MHD_YES; /* 413 once it is read */
    case DECLARED_REFUSE_NOW: too_large_error(rs, &err); return respond_error(rs, c, &err);
    }
    if (rs->route->flags & ROUTE_BODY) {
        enum render_format fmt;
        const char *type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (http_body_format(type, &fmt, &err)) {
            return respond_error(rs, c, &err); /* 415 without reading the body */
        }
        /* Secret mode: an envelope body may carry host env values, and growth must not
         * leave copies of them behind. */
        sbuf_init_secret(&rs->body, h->o.max_body);
        rs->buffering = true;
        reserve_declared_body(rs, c);
    }
    return MHD_YES;
}

/* ---- body ------------------------------------------------------------------------------------ */

/* false: drop the connection (the client keeps sending far past the limit). */
static bool request_on_body(struct request_state *rs, const char *data, size_t size)
{
    size_t max = rs->h->o.max_body;
    rs->received = size > SIZE_MAX - rs->received ? SIZE_MAX : rs->received + size;
    if (rs->received > max) {
        if (!rs->too_large) {
            rs->too_large = true;
            sbuf_free_secret(&rs->body); /* stop buffering at once */
            rs->buffering = false;
        }
        return rs->received - max <= HTTPD_BODY_DRAIN_MAX;
    }
    if (rs->buffering && !rs->body_failed && sbuf_addn(&rs->body, data, size)) {
        rs->body_failed = true; /* the builder freed itself */
        rs->buffering = false;
    }
    return true;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* ---- parking: the connection waits for the vault, no thread does ----------------------------- */

static void parked_unlink(struct httpd *h, struct request_state *rs)
{
    if (rs->pprev) {
        rs->pprev->pnext = rs->pnext;
    } else if (h->parked == rs) {
        h->parked = rs->pnext;
    }
    if (rs->pnext) {
        rs->pnext->pprev = rs->pprev;
    }
    rs->pprev = rs->pnext = NULL;
}

/* From a secrets thread: the vault has answered for this request. */
static void on_wake(void *ctx)
{
    struct request_state *rs = ctx;
    atomic_store(&rs->woken, true);
    int expect = PARK_PARKED;
    if (atomic_compare_exchange_strong(&rs->park, &expect, PARK_CLAIMED)) {
        MHD_resume_connection(rs->mhd);
        return;
    }
    expect = PARK_NONE; /* not suspended yet: park() resumes it itself */
    atomic_compare_exchange_strong(&rs->park, &expect, PARK_WOKEN_EARLY);
}

static enum MHD_Result reply_shutting_down(struct request_state *rs, struct MHD_Connection *c)
{
    struct err err;
    err_init(&err);
    err_set(&err, ERR_SECRET_UNAVAILABLE, NULL,
            "the server is shutting down before the vault answered; retry on another replica");
    err.retry_after = 1;
    return respond_error(rs, c, &err);
}

/* Suspend the connection until on_wake, the request's deadline, or shutdown. */
static enum MHD_Result park(struct request_state *rs, struct MHD_Connection *c,
                           struct render_job *job)
{
    struct httpd *h = rs->h;
    rs->job = job;
    pthread_mutex_lock(&h->park_lock);
    if (h->stopping) {
        pthread_mutex_unlock(&h->park_lock);
        handler_render_cancel(job);
        rs->job = NULL;
        return reply_shutting_down(rs, c);
    }
    rs->wait_deadline_ms = (uint64_t)rs->start.tv_sec * 1000u +
                           (uint64_t)rs->start.tv_nsec / 1000000u +
                           secrets_timeout_ms(h->o.app->secrets);
    rs->pnext = h->parked;
    if (h->parked) {
        h->parked->pprev = rs;
    }
    h->parked = rs;
    MHD_suspend_connection(c);
    int expect = PARK_NONE;
    bool resume_now = !atomic_compare_exchange_strong(&rs->park, &expect, PARK_PARKED);
    if (resume_now) {
        atomic_store(&rs->park, PARK_CLAIMED); /* woken before it was suspended */
    }
    pthread_mutex_unlock(&h->park_lock);
    if (resume_now) {
        MHD_resume_connection(c);
    }
    return MHD_YES;
}

/* Called again after MHD_resume_connection: answer with what the vault said, or the 504 of a
 * passed deadline, or 503 when the server stops before the vault answered. */
static enum MHD_Result request_on_resumed(struct request_state *rs, struct MHD_Connection *c)
{
    struct httpd *h = rs->h;
    pthread_mutex_lock(&h->park_lock);
    parked_unlink(h, rs);
    bool stopping = h->stopping;
    pthread_mutex_unlock(&h->park_lock);
    struct render_job *job = rs->job;
    rs->job = NULL;
    atomic_store(&rs->park, PARK_NONE);
    if (stopping && !atomic_load(&rs->woken)) { /* the vault answered: that answer goes out */
        handler_render_cancel(job);
        return reply_shutting_down(rs, c);
    }
    struct http_resp resp;
    http_resp_init(&resp);
    int built = handler_render_finish(job, &resp);
    return respond(rs, c, &resp, built);
}

/* Sweeper: parked requests past their deadline are resumed (they answer 504). */
static void resume_overdue(struct httpd *h, bool all)
{
    struct MHD_Connection *due[64];
    size_t n;
    do {
        n = 0;
        uint64_t now = clock_mono_ms();
        pthread_mutex_lock(&h->park_lock);
        for (struct request_state *rs = h->parked; rs && n < 64; rs = rs->pnext) {
            int expect = PARK_PARKED;
            if ((all || now >= rs->wait_deadline_ms) &&
                atomic_compare_exchange_strong(&rs->park, &expect, PARK_CLAIMED)) {
                due[n++] = rs->mhd;
            }
        }
        pthread_mutex_unlock(&h->park_lock);
        /* A claimed request stays suspended (and alive) until resumed: only we resume it. */
        for (size_t i = 0; i < n; i++) {
            MHD_resume_connection(due[i]);
        }
    } while (n == 64);
}

static void *sweeper_main(void *arg)
{
    struct httpd *h = arg;
    pthread_mutex_lock(&h->park_lock);
    while (!h->sweeper_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SWEEP_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->sweeper_cond, &h->park_lock, &until);
        if (h->sweeper_stop) {
            break;
        }
        pthread_mutex_unlock(&h->park_lock);
        conns_sweep(h->conns);
        resume_overdue(h, false);
        pthread_mutex_lock(&h->park_lock);
    }
    pthread_mutex_unlock(&h->park_lock);
    return NULL;
}

struct query_collect {
    struct http_param items[QUERY_PARAMS_MAX];
    size_t n;
    bool overflow;
};

static enum MHD_Result collect_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    struct query_collect *q = cls;
    if (q->n >= QUERY_PARAMS_MAX) {
        q->overflow = true;
        return MHD_NO;
    }
    q->items[q->n++] = (struct http_param){key, value};
    return MHD_YES;
}

static enum MHD_Result dispatch(struct request_state *rs, struct MHD_Connection *c)
{
    struct query_collect q = {.n = 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query_arg, &q);
    struct err err;
    err_init(&err);
    if (q.overflow) {
        err_set(&err, ERR_BAD_REQUEST, NULL, "more than %d query parameters", QUERY_PARAMS_MAX);
        return respond_error(rs, c, &err);
    }
    struct http_req req = {
        .method = rs->method,
        .path = rs->path,
        .query = q.items,
        .n_query = q.n,
        .content_type =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT),
        .request_id = rs->request_id,
        .scope_allowed = rs->grant ? auth_token_allows : NULL,
        .grant = rs->grant,
    };
    if (rs->buffering) {
        req.body = sbuf_str(&rs->body);
        req.body_len = sbuf_len(&rs->body);
    }
    struct http_resp resp;
    http_resp_init(&resp);
    if (rs->route->begin) {
        struct render_job *job = NULL;
        int built = rs->route->begin(&req, &resp, rs->h->o.app, on_wake, rs, &job);
        if (job) {
            http_resp_release(&resp);
            return park(rs, c, job);
        }
        return respond(rs, c, &resp, built);
    }
    int built = rs->route->fn(&req, &resp, rs->h->o.app);
    return respond(rs, c, &resp, built);
}

static enum MHD_Result request_on_complete(struct request_state *rs, struct MHD_Connection *c)
{
    struct err err;
    err_init(&err);
    if (rs->too_large) {
        too_large_error(rs, &err);
        return respond_error(rs, c, &err);
    }
    if (rs->body_failed) {
        err_nomem(&err);
        return respond_error(rs, c, &err);
    }
    return dispatch(rs, c);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    struct request_state *rs = *con_cls;
    if (!rs && !(rs = *con_cls = request_begin(cls, c, url))) {
        return MHD_NO;
    }
    if (!rs->headers_seen) {
        /* First call: headers only. Early answers (404, 401, 413, 415...) are queued here,
         * before any body is read; libmicrohttpd then closes the connection after them. */
        request_headers_seen(rs, c, url, method);
        return request_on_headers(rs, c);
    }
    if (rs->job) {
        return request_on_resumed(rs, c);
    }
    if (*upload_size) {
        bool keep = request_on_body(rs, upload, *upload_size);
        *upload_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    conns_set_phase(rs->h->conns, rs->conn, CONN_WORKING);
    return request_on_complete(rs, c);
}

/* ---- completion: access log, metrics, release ------------------------------------------------ */

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
    switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return NULL;
    case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
    default: return "unknown";
    }
}

struct access_line {
    const struct request_state *rs;
    double seconds;
    const char *aborted;
};

/* The request log line's members, in their documented order (docs/operations.md). */
static void access_fields(struct jw *w, const void *ctx)
{
    const struct access_line *a = ctx;
    const struct request_state *rs = a->rs;
    size_t n_routes;
    const struct route *table = routes_table(&n_routes);
    jw_member_string(w, "request_id", rs->request_id);
    jw_member_string(w, "method", rs->method);
    jw_member_string(w, "path", rs->path);
    jw_member_string(w, "route",
                     rs->route_label < n_routes ? table[rs->route_label].name : "none");
    jw_member_int(w, "status", rs->status);
    jw_key(w, "duration_ms");
    jw_real_digits(w, (double)(long long)(a->seconds * 1e6) / 1e3, 6);
    jw_member_int(w, "bytes", (long long)rs->bytes);
    jw_member_int(w, "warnings", rs->warnings);
    jw_member_string(w, "client", rs->client);
    if (rs->forwarded_for[0]) {
        jw_member_string(w, "forwarded_for", rs->forwarded_for);
    }
    if (rs->error_name) {
        jw_member_string(w, "error", rs->error_name);
    }
    if (a->aborted) {
        jw_member_string(w, "aborted", a->aborted);
    }
}

static void access_log(const struct request_state *rs, double seconds, const char *aborted)
{
    enum log_level level = rs->status >= 500 ? LOG_ERROR : aborted ? LOG_WARN : LOG_INFO;
    const struct access_line line = {rs, seconds, aborted};
    log_event_with(level, "request", access_fields, &line);
}

/* A request we never answered: libmicrohttpd refused it itself (malformed, headers too large),
 * or our deadline cut it (408), or the client went away. */
static void status_when_unanswered(struct request_state *rs, struct MHD_Connection *c,
                                   const char *cut)
{
    if (rs->status) {
        return;
    }
    if (cut) {
        rs->status = 408;
        rs->error_name = "TIMEOUT";
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci && ci->http_status) {
        rs->status = (int)ci->http_status;
        rs->error_name = "HTTP_PARSER";
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct httpd *h = cls;
    struct request_state *rs = *con_cls;
    if (!rs) {
        return;
    }
    if (rs->job) { /* closed while parked (daemon stop): nobody may wake it any more */
        pthread_mutex_lock(&h->park_lock);
        parked_unlink(h, rs);
        pthread_mutex_unlock(&h->park_lock);
        handler_render_cancel(rs->job);
        rs->job = NULL;
    }
    const char *cut = conns_cut_reason(h->conns, rs->conn);
    status_when_unanswered(rs, c, cut);
    mhd_error_status = 0; /* this request's, if it was one */
    if (!rs->request_id[0]) { /* refused before its headers were ours */
        snprintf(rs->request_id, sizeof(rs->request_id), "%s-%012llx", h->id_prefix,
                 (unsigned long long)atomic_fetch_add(&h->next_id, 1));
    }
    double seconds = seconds_since(&rs->start);
    access_log(rs, seconds, cut ? cut : termination_name(toe));
    conns_set_phase(h->conns, rs->conn, CONN_HEADERS); /* the next request's deadline */
    metrics_request_finished(rs->h->o.metrics, rs->route_label, rs->status, seconds);
    auth_table_unref(rs->tokens);
    sbuf_free_secret(&rs->body); /* an envelope body may carry host env values */
    free(rs);
    *con_cls = NULL;
}

/* ---- connections: per-IP cap and deadlines (server/conns.h) ------------------------------------ */

static enum MHD_Result on_accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)len;
    struct httpd *h = cls;
    return conns_accept_ok(h->conns, addr) ? MHD_YES : MHD_NO;
}

/* Something arrived that never became a request of ours (conns_closed): cut before its
 * request line (408), or refused by libmicrohttpd before its first callback (its status, or
 * none when it closed without answering). No request state exists to log it, so log here. */
static void log_orphan(struct httpd *h, struct MHD_Connection *c, const char *cut)
{
    struct request_state rs = {.h = h, .status = 408, .error_name = "TIMEOUT"};
    if (!cut) {
        rs.status = (int)mhd_error_status;
        rs.error_name = rs.status ? "HTTP_PARSER" : "NOT_HTTP";
        cut = rs.status ? "rejected" : "closed_without_response";
    }
    snprintf(rs.method, sizeof(rs.method), "-");
    snprintf(rs.path, sizeof(rs.path), "-");
    snprintf(rs.request_id, sizeof(rs.request_id), "%s-%012llx", h->id_prefix,
             (unsigned long long)atomic_fetch_add(&h->next_id, 1));
    rs.route_label = metrics_route_none();
    client_address(c, rs.client, sizeof(rs.client));
    access_log(&rs, 0, cut);
    metrics_request_started(h->o.metrics);
    metrics_request_finished(h->o.metrics, rs.route_label, rs.status, 0);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_context = fd ? conns_opened(h->conns, fd->connect_fd, ad ? ad->client_addr : NULL)
                             : NULL;
        return;
    }
    bool orphan = false;
    const char *cut = conns_closed(h->conns, *socket_context, h->o.tls_cert != NULL, &orphan);
    *socket_context = NULL;
    if (orphan) {
        log_orphan(h, c, cut);
    }
}

/* ---- daemon ---------------------------------------------------------------------------------- */

static void note_mhd_error_status(const char *msg)
{
    static const char prefix[] = "Error processing request (HTTP response code is ";
    if (strncmp(msg, prefix, sizeof(prefix) - 1) == 0) {
        unsigned long code = strtoul(msg + sizeof(prefix) - 1, NULL, 10);
        mhd_error_status = code >= 400 && code <= 599 ? (unsigned)code : 0;
    }
}

static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    const struct httpd *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    note_mhd_error_status(msg);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    /* After start-up these are about single clients (bad requests, timeouts): debug noise. */
    log_msg(atomic_load(&h->started) ? LOG_DEBUG : LOG_ERROR, "libmicrohttpd", "%s", msg);
}

static void id_prefix_init(struct httpd *h)
{
    unsigned char raw[8] = {0};
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(raw, &ts.tv_nsec,
               sizeof(ts.tv_nsec) < sizeof(raw) ? sizeof(ts.tv_nsec) : sizeof(raw));
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        snprintf(h->id_prefix + 2 * i, 3, "%02x", raw[i]);
    }
}

#define OPTS_MAX 20

static void opt_int(struct MHD_OptionItem *opts, size_t *n, enum MHD_OPTION opt, intptr_t v)
{
    opts[(*n)++] = (struct MHD_OptionItem){opt, v, NULL};
}

static void opt_ptr(struct MHD_OptionItem *opts, size_t *n, enum MHD_OPTION opt, const void *p)
{
    opts[(*n)++] = (struct MHD_OptionItem){opt, 0, (void *)(uintptr_t)p};
}

static size_t build_options(const struct httpd_options *o, struct MHD_OptionItem *opts)
{
    size_t n = 0;
    opt_int(opts, &n, MHD_OPTION_LISTEN_SOCKET, o->listen_fd);
    if (o->threads > 1) {
        opt_int(opts, &n, MHD_OPTION_THREAD_POOL_SIZE, o->threads);
    }
    opt_int(opts, &n, MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout);
    opt_int(opts, &n, MHD_OPTION_CONNECTION_LIMIT,
            o->max_connections > o->threads ? o->max_connections : o->threads);
    opt_int(opts, &n, MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTPD_CONNECTION_MEMORY);
    opt_int(opts, &n, MHD_OPTION_STRICT_FOR_CLIENT, 1);
    opt_int(opts, &n, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1); /* main() ignores SIGPIPE */
    if (o->tls_cert) {
        opt_ptr(opts, &n, MHD_OPTION_HTTPS_MEM_CERT, o->tls_cert);
        opt_ptr(opts, &n, MHD_OPTION_HTTPS_MEM_KEY, o->tls_key);
        opt_ptr(opts, &n, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES);
        if (o->tls_client_ca) {
            opt_ptr(opts, &n, MHD_OPTION_HTTPS_MEM_TRUST, o->tls_client_ca);
        }
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return n;
}

static void httpd_free(struct httpd *h)
{
    conns_destroy(h->conns);
    pthread_cond_destroy(&h->sweeper_cond);
    pthread_mutex_destroy(&h->park_lock);
    free(h);
}

struct httpd *httpd_start(const struct httpd_options *o, struct err *err)
{
    struct httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        err_nomem(err);
        return NULL;
    }
    h->o = *o;
    h->quiesced_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&h->park_lock, NULL);
    pthread_cond_init(&h->sweeper_cond, NULL);
    struct conns_options co = {
        .header_timeout_ms = o->header_timeout * 1000u,
        .body_timeout_ms = o->body_timeout * 1000u,
        .per_ip_max = o->max_connections_per_ip,
        .trusted = o->trusted,
    };
    if (!(h->conns = conns_create(&co))) {
        httpd_free(h);
        err_nomem(err);
        return NULL;
    }
    id_prefix_init(h);
    struct MHD_OptionItem opts[OPTS_MAX];
    build_options(o, opts);
    /* ITC lets MHD_quiesce_daemon() wake the workers (graceful stop). */
    /* Suspend/resume parks renders waiting for the vault (resumed from other threads, which
     * MHD_USE_ITC makes safe). */
    unsigned flags = (o->event_loop == HTTPD_LOOP_EPOLL ? MHD_USE_EPOLL_INTERNAL_THREAD
                                                        : MHD_USE_POLL_INTERNAL_THREAD) |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (o->tls_cert) {
        flags |= MHD_USE_TLS;
    }
    /* Port 0: the socket is ours (MHD_OPTION_LISTEN_SOCKET). The logger goes first so start-up
     * errors reach our log. */
    h->daemon = MHD_start_daemon(flags, 0, on_accept_policy, h, on_access, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, h,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_ARRAY, opts,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        httpd_free(h);
        err_set(err, ERR_IO, "listen",
                "libmicrohttpd refused to start (see the libmicrohttpd log line above)");
        return NULL;
    }
    atomic_store(&h->started, true);
    h->sweeper_on = pthread_create(&h->sweeper, NULL, sweeper_main, h) == 0;
    if (!h->sweeper_on) {
        MHD_stop_daemon(h->daemon);
        httpd_free(h);
        err_set(err, ERR_IO, "listen", "cannot start the connection sweeper thread");
        return NULL;
    }
    return h;
}

void httpd_quiesce(struct httpd *h)
{
    if (h->quiesced_fd == MHD_INVALID_SOCKET) {
        /* The daemon gives the listening socket back; it may only be closed after the daemon
         * stops, but shutting its reading side makes Linux refuse new connections (and reset
         * those still in the backlog) right away instead of letting them wait for nothing. */
        h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
        if (h->quiesced_fd != MHD_INVALID_SOCKET) {
            shutdown(h->quiesced_fd, SHUT_RD);
        }
    }
}

unsigned long long httpd_inflight(const struct httpd *h)
{
    return metrics_inflight(h->o.metrics);
}

/* libmicrohttpd must not be stopped with suspended connections: resume every parked request
 * (they answer 503), give the workers a moment to send that, then stop. */
static void unpark_all(struct httpd *h)
{
    pthread_mutex_lock(&h->park_lock);
    h->stopping = true;
    pthread_mutex_unlock(&h->park_lock);
    resume_overdue(h, true);
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&h->park_lock);
        bool empty = h->parked == NULL;
        pthread_mutex_unlock(&h->park_lock);
        if (empty) {
            break;
        }
        struct timespec tick = {0, 10 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
}

void httpd_stop(struct httpd *h)
{
    if (h) {
        unpark_all(h);
        pthread_mutex_lock(&h->park_lock);
        h->sweeper_stop = true;
        pthread_cond_signal(&h->sweeper_cond);
        pthread_mutex_unlock(&h->park_lock);
        pthread_join(h->sweeper, NULL);
        MHD_stop_daemon(h->daemon);
        if (h->quiesced_fd != MHD_INVALID_SOCKET) {
            close(h->quiesced_fd);
        }
        httpd_free(h);
    }
}
