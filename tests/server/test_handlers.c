/*
 * Handler unit tests: the route table, media types, Accept, query parameters, request ids,
 * problem+json mapping (every status the API documents, SECRET_* faults included), and each
 * endpoint called directly with plain request/response structs, no sockets involved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/sbuf.h"
#include "handlers/handlers.h"
#include "secrets/secrets.h"
#include "tests/harness.h"

static const char web_spec[] = "version: v1\n"
                               "deployment: shop\n"
                               "services:\n"
                               "  web:\n"
                               "    image: {name: nginx}\n"
                               "    command: {entrypoint: [/bin/app]}\n"
                               "    env:\n"
                               "      MODE: prod\n";

static const char secret_spec[] = "version: v1\n"
                                  "deployment: shop\n"
                                  "services:\n"
                                  "  web:\n"
                                  "    image: {name: nginx}\n"
                                  "    command: {entrypoint: [/bin/app]}\n"
                                  "    env:\n"
                                  "      DB_PASSWORD: $S:db/password\n";

static const char svc_secret_spec[] = "version: v1\n"
                                      "deployment: shop\n"
                                      "services:\n"
                                      "  web:\n"
                                      "    image: {name: nginx}\n"
                                      "    env:\n"
                                      "      KEY: $S:@api/key\n";

static const char warn_spec[] = "version: v1\n"
                                "deployment: warned\n"
                                "services:\n"
                                "  app:\n"
                                "    image: {name: busybox}\n"
                                "    command: {entrypoint: [/bin/app]}\n"
                                "    devices:\n"
                                "      - path: /dev/fuse\n";

/* ---- fixtures ---------------------------------------------------------------------------- */

static struct secrets *secrets_of_kind(enum secrets_kind kind, const char *file)
{
    struct secrets_settings s;
    struct err err;
    err_init(&err);
    if (secrets_settings_from_env(&s, &err)) {
        return NULL;
    }
    s.kind = kind;
    s.file_path = file;
    s.log_level = LOG_ERROR;
    return secrets_create(&s, &err);
}

static void app_init(struct handler_app *app, struct secrets *sec)
{
    memset(app, 0, sizeof(*app));
    app->secrets = sec;
    app->server_version = "9.9.9";
    app->http_library = "libmicrohttpd test";
    atomic_init(&app->draining, false);
}

static struct http_req post_req(const char *path, const char *body, const char *type)
{
    struct http_req r = {.method = "POST",
                         .path = path,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .content_type = type,
                         .request_id = "test-1"};
    return r;
}

static json_t *body_json(const struct http_resp *resp)
{
    return json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
}

static const char *problem_code(const struct http_resp *resp, char *out, size_t len)
{
    json_t *doc = body_json(resp);
    snprintf(out, len, "%s", doc ? json_string_value(json_object_get(doc, "code")) : "none");
    json_decref(doc);
    return out;
}

/* ---- routes ------------------------------------------------------------------------------- */

static void test_routes_lookup(void)
{
    char allow[64];
    int status = 0;
    const struct route *r = routes_lookup("POST", "/render", false, allow, sizeof(allow), &status);
    CHECK(r && strcmp(r->name, "render") == 0);
    CHECK(r && r->flags == (ROUTE_BODY | ROUTE_AUTH));
    r = routes_lookup("POST", "/validate", false, allow, sizeof(allow), &status);
    CHECK(r && strcmp(r->name, "validate") == 0 && (r->flags & ROUTE_AUTH));
    const char *open_routes[] = {"/healthz", "/readyz", "/metrics", "/version"};
    for (size_t i = 0; i < ARRAY_LEN(open_routes); i++) {
        r = routes_lookup("GET", open_routes[i], false, allow, sizeof(allow), &status);
        CHECK(r && r->flags == 0);
        r = routes_lookup("HEAD", open_routes[i], false, allow, sizeof(allow), &status);
        CHECK(r != NULL);
    }
}

static void test_routes_404_405(void)
{
    char allow[64];
    int status = 0;
    CHECK(!routes_lookup("GET", "/render", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 405);
    CHECK_STR(allow, "POST");
    CHECK(!routes_lookup("POST", "/healthz", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 405);
    CHECK_STR(allow, "GET, HEAD");
    CHECK(!routes_lookup("GET", "/nope", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 404);
    CHECK(!routes_lookup("POST", "/render/", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 404);
    CHECK(!routes_lookup("POST", "/RENDER", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 404);
    CHECK(!routes_lookup("POST", "", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 404);
}

static void test_routes_bench_hidden(void)
{
    char allow[64];
    int status = 0;
    CHECK(!routes_lookup("POST", "/bench/static", false, allow, sizeof(allow), &status));
    CHECK_INT(status, 404);
    const struct route *r =
        routes_lookup("POST", "/bench/static", true, allow, sizeof(allow), &status);
    CHECK(r && (r->flags & ROUTE_BENCH) && (r->flags & ROUTE_AUTH) && (r->flags & ROUTE_BODY));
    CHECK(!routes_lookup("GET", "/bench/static", true, allow, sizeof(allow), &status));
    CHECK_INT(status, 405);
}

static void test_routes_table_sane(void)
{
    size_t n;
    const struct route *t = routes_table(&n);
    CHECK(n >= 7);
    for (size_t i = 0; i < n; i++) {
        CHECK(t[i].fn && t[i].name && t[i].path[0] == '/');
        for (size_t j = i + 1; j < n; j++) {
            CHECK(strcmp(t[i].name, t[j].name) != 0);
            CHECK(strcmp(t[i].path, t[j].path) != 0 || strcmp(t[i].method, t[j].method) != 0);
        }
    }
}

/* ---- media types, Accept, query, request ids ---------------------------------------------- */

static int format_of(const char *type, enum render_format *fmt, enum err_code *code)
{
    struct err err;
    err_init(&err);
    int rc = http_body_format(type, fmt, &err);
    *code = err.code;
    return rc;
}

static void test_content_types(void)
{
    static const struct {
        const char *type;
        enum render_format fmt;
    } good[] = {
        {NULL, RENDER_FMT_AUTO},
        {"", RENDER_FMT_AUTO},
        {"application/json", RENDER_FMT_JSON},
        {"application/json; charset=utf-8", RENDER_FMT_JSON},
        {"APPLICATION/JSON;CHARSET=\"UTF-8\"", RENDER_FMT_JSON},
        {"application/json; foo=bar", RENDER_FMT_JSON},
        {"application/yaml", RENDER_FMT_YAML},
        {"application/x-yaml", RENDER_FMT_YAML},
        {"text/yaml", RENDER_FMT_YAML},
        {" text/yaml ; charset=utf8", RENDER_FMT_YAML},
        {"application/x-www-form-urlencoded", RENDER_FMT_AUTO},
        {"application/x-www-form-urlencoded; charset=UTF-8", RENDER_FMT_AUTO},
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        enum render_format fmt = (enum render_format) - 1;
        enum err_code code;
        CHECK_INT(format_of(good[i].type, &fmt, &code), 0);
        CHECK_INT(fmt, good[i].fmt);
    }
    static const char *const bad[] = {
        "text/plain",
        "application/jsonx",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin1",
        "application/yaml; charset=\"utf-16\"",
        "*/*",
        "application/octet-stream",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum render_format fmt;
        enum err_code code = ERR_OK;
        CHECK_INT(format_of(bad[i], &fmt, &code), -1);
        CHECK_INT(code, ERR_UNSUPPORTED_MEDIA);
        CHECK_INT(err_http_status(code), 415);
    }
}

static void test_accept_envelope(void)
{
    CHECK(!http_accepts_envelope(NULL));
    CHECK(!http_accepts_envelope("application/json"));
    CHECK(http_accepts_envelope("application/vnd.ocirender.envelope+json"));
    CHECK(http_accepts_envelope("Application/Vnd.Ocirender.Envelope+JSON"));
    CHECK(http_accepts_envelope("application/json, application/vnd.ocirender.envelope+json"));
    CHECK(http_accepts_envelope("application/vnd.ocirender.envelope+json;q=0.5"));
    CHECK(!http_accepts_envelope("application/vnd.ocirender.envelope+json; q=0"));
    CHECK(!http_accepts_envelope("application/vnd.ocirender.envelope+json;q=0.0, */*"));
    CHECK(!http_accepts_envelope("application/vnd.ocirender.envelope+jsonx"));
}

static int query_of(const struct http_param *params, size_t n, const char *accept,
                    struct render_query *q, struct err *err)
{
    struct http_req r = {
        .method = "POST", .path = "/render", .query = params, .n_query = n, .accept = accept};
    err_init(err);
    return http_render_query(&r, q, err);
}

static void test_query_params(void)
{
    struct http_param all[] = {
        {"service", "web"},   {"replica", "2"},       {"role", "worker"},
        {"node_id", "7"},     {"hostname", "web-2"},  {"host_network", "true"},
        {"scope", "shop/eu"}, {"format", "envelope"}, {"compact", "true"},
    };
    struct render_query q;
    struct err err;
    CHECK_INT(query_of(all, ARRAY_LEN(all), NULL, &q, &err), 0);
    CHECK_STR(q.params.service, "web");
    CHECK(q.params.has_replica);
    CHECK_INT(q.params.replica, 2);
    CHECK_STR(q.params.role, "worker");
    CHECK(q.params.has_node_id);
    CHECK_INT(q.params.node_id, 7);
    CHECK_STR(q.params.hostname, "web-2");
    CHECK_INT(q.params.host_network, RENDER_FLAG_TRUE);
    CHECK_STR(q.params.scope, "shop/eu");
    CHECK(q.envelope && q.compact);

    CHECK_INT(query_of(NULL, 0, NULL, &q, &err), 0);
    CHECK(!q.envelope && !q.compact && !q.params.service);
    CHECK_INT(query_of(NULL, 0, "application/vnd.ocirender.envelope+json", &q, &err), 0);
    CHECK(q.envelope);
    struct http_param config[] = {{"format", "config"}};
    CHECK_INT(query_of(config, 1, "application/vnd.ocirender.envelope+json", &q, &err), 0);
    CHECK(!q.envelope);
}

static void test_query_params_rejected(void)
{
    struct {
        struct http_param p[2];
        size_t n;
        const char *path;
    } cases[] = {
        {{{"servce", "web"}}, 1, "servce"},  {{{"replica", "1"}, {"replica", "2"}}, 2, "replica"},
        {{{"service", NULL}}, 1, "service"}, {{{"scope", ""}}, 1, "scope"},
        {{{"format", "xml"}}, 1, "format"},  {{{"compact", "1"}}, 1, "compact"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct render_query q;
        struct err err;
        CHECK_INT(query_of(cases[i].p, cases[i].n, NULL, &q, &err), -1);
        CHECK_INT(err.code, ERR_BAD_REQUEST);
        CHECK_STR(err_path(&err), cases[i].path);
    }
}

static void test_request_ids(void)
{
    char max[129], over[130];
    memset(max, 'a', 128);
    max[128] = '\0';
    memset(over, 'a', 129);
    over[129] = '\0';
    CHECK(http_request_id_valid("abc-123_XYZ.9"));
    CHECK(http_request_id_valid(max));
    CHECK(!http_request_id_valid(over));
    CHECK(!http_request_id_valid(""));
    CHECK(!http_request_id_valid(NULL));
    CHECK(!http_request_id_valid("has space"));
    CHECK(!http_request_id_valid("tab\there"));
    CHECK(!http_request_id_valid("caf\xc3\xa9"));
}

/* ---- problem+json -------------------------------------------------------------------------- */

static void test_problem_status_mapping(void)
{
    static const struct {
        enum err_code code;
        int status;
    } map[] = {
        {ERR_SPEC_SYNTAX, 400},
        {ERR_BAD_REQUEST, 400},
        {ERR_UNAUTHORIZED, 401},
        {ERR_FORBIDDEN, 403},
        {ERR_NOT_FOUND, 404},
        {ERR_METHOD, 405},
        {ERR_TOO_LARGE, 413},
        {ERR_UNSUPPORTED_MEDIA, 415},
        {ERR_SPEC_INVALID, 422},
        {ERR_SECRET_NOT_FOUND, 422},
        {ERR_SECRET_DENIED, 502},
        {ERR_SECRET_BACKEND, 502},
        {ERR_SECRET_UNAVAILABLE, 503},
        {ERR_SECRET_TIMEOUT, 504},
        {ERR_NOMEM, 500},
        {ERR_INTERNAL, 500},
        {ERR_IO, 500},
    };
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        struct err err;
        err_init(&err);
        err_set(&err, map[i].code, "services.web.env.X", "reference $S:x failed");
        struct http_resp resp;
        http_resp_init(&resp);
        CHECK_INT(http_reply_problem(&resp, &err), 0);
        CHECK_INT(resp.status, map[i].status);
        CHECK_STR(resp.content_type, "application/problem+json");
        CHECK_STR(resp.error_name, err_code_name(map[i].code));
        json_t *doc = body_json(&resp);
        CHECK(doc != NULL);
        CHECK_INT(json_integer_value(json_object_get(doc, "status")), map[i].status);
        CHECK(json_is_string(json_object_get(doc, "type")));
        CHECK_STR(json_string_value(json_object_get(doc, "title")), err_code_title(map[i].code));
        CHECK_STR(json_string_value(json_object_get(doc, "detail")),
                  "services.web.env.X: reference $S:x failed");
        CHECK_INT(json_array_size(json_object_get(doc, "errors")), 1);
        json_decref(doc);
        http_resp_release(&resp);
    }
}

static void test_problem_secret_faults_headers(void)
{
    struct err err;
    err_init(&err);
    err_set(&err, ERR_SECRET_UNAVAILABLE, "services.web.env.DB", "vault is sealed");
    err.retry_after = 7;
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(http_reply_problem(&resp, &err), 0);
    CHECK_INT(resp.status, 503);
    CHECK_STR(http_resp_header(&resp, "Retry-After"), "7");
    CHECK(http_resp_header(&resp, "WWW-Authenticate") == NULL);
    http_resp_release(&resp);

    err_init(&err);
    err_set(&err, ERR_SECRET_TIMEOUT, NULL, "vault did not answer in time");
    http_resp_init(&resp);
    CHECK_INT(http_reply_problem(&resp, &err), 0);
    CHECK_INT(resp.status, 504);
    CHECK(http_resp_header(&resp, "Retry-After") == NULL);
    http_resp_release(&resp);
}

static void test_problem_auth_headers(void)
{
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(http_reply_error(&resp, ERR_UNAUTHORIZED, NULL, "token required"), 0);
    CHECK_INT(resp.status, 401);
    CHECK_STR(http_resp_header(&resp, "WWW-Authenticate"), "Bearer realm=\"ocirender\"");
    http_resp_release(&resp);
    http_resp_init(&resp);
    CHECK_INT(http_reply_error(&resp, ERR_FORBIDDEN, "scope", "not for %s", "shop"), 0);
    CHECK_INT(resp.status, 403);
    CHECK_CONTAINS(http_resp_header(&resp, "WWW-Authenticate"), "insufficient_scope");
    http_resp_release(&resp);
}

static void test_problem_all_issues(void)
{
    struct err_issues issues;
    struct err err;
    err_init_issues(&err, &issues);
    for (int i = 0; i < ERR_ISSUES_MAX + 3; i++) {
        err_set(&err, ERR_SPEC_INVALID, "services.web.x", "issue %d", i);
    }
    json_t *doc = http_problem_new(422, &err);
    CHECK(doc != NULL);
    json_t *errors = json_object_get(doc, "errors");
    CHECK_INT(json_array_size(errors), ERR_ISSUES_MAX + 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(errors, 1), "message")), "issue 1");
    CHECK_STR(json_string_value(json_object_get(json_array_get(errors, ERR_ISSUES_MAX), "message")),
              "3 more issues not shown");
    CHECK_STR(json_string_value(json_object_get(doc, "type")),
              "urn:ocirender:problem:spec-invalid");
    CHECK_STR(json_string_value(json_object_get(doc, "code")), "SPEC_INVALID");
    json_decref(doc);
}

static void test_resp_headers(void)
{
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(http_resp_set_header(&resp, "ETag", "\"a\""), 0);
    CHECK_INT(http_resp_set_header(&resp, "etag", "\"b\""), 0);
    CHECK_INT(resp.n_headers, 1);
    CHECK_STR(http_resp_header(&resp, "ETAG"), "\"b\"");
    http_resp_unset_header(&resp, "ETag");
    CHECK_INT(resp.n_headers, 0);
    for (int i = 0; i < HTTP_RESP_MAX_HEADERS; i++) {
        CHECK_INT(http_resp_set_header(&resp, i % 2 ? "A" : "B", "%d", i), 0);
    }
    static const char *const names[] = {"C", "D", "E", "F", "G", "H", "I", "J", "K"};
    int failed = 0;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        failed += http_resp_set_header(&resp, names[i], "x") != 0;
    }
    CHECK_INT(failed, 3); /* two slots used (A, B), six free, nine attempted */
    http_resp_release(&resp);
}

/* ---- endpoints ----------------------------------------------------------------------------- */

static bool deny_all(const void *grant, const char *scope)
{
    (void)grant;
    (void)scope;
    return false;
}

static bool only_shop(const void *grant, const char *scope)
{
    (void)grant;
    return strcmp(scope, "shop") == 0;
}

static void test_render_plain(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    CHECK(sec != NULL);
    struct handler_app app;
    app_init(&app, sec);
    struct http_req req = post_req("/render", web_spec, NULL);
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.content_type, "application/json");
    CHECK(resp.body_secret); /* rendered configs may hold secret values */
    CHECK_INT(strlen(resp.body), resp.body_len);
    char hex[65], etag[80];
    CHECK_INT(digest_sha256_hex(resp.body, resp.body_len, hex), 0);
    snprintf(etag, sizeof(etag), "\"sha256-%s\"", hex);
    CHECK_STR(http_resp_header(&resp, "ETag"), etag);
    /* a plain spec carries no host facts: the seccomp profile assumed the server's arch */
    CHECK_STR(http_resp_header(&resp, "Ocirender-Warnings"), "1");
    CHECK(strncmp(resp.body, "{\n  \"ociVersion\"", 16) == 0);

    /* compact and envelope forms of the same render */
    struct http_param compact[] = {{"compact", "true"}};
    req.query = compact;
    req.n_query = 1;
    struct http_resp resp2;
    http_resp_init(&resp2);
    CHECK_INT(handler_render_post(&req, &resp2, &app), 0);
    CHECK_INT(resp2.status, 200);
    CHECK(strchr(resp2.body, '\n') == NULL && strstr(resp2.body, ": ") == NULL);
    CHECK(strcmp(http_resp_header(&resp2, "ETag"), etag) != 0);
    http_resp_release(&resp2);

    struct http_param envelope[] = {{"format", "envelope"}};
    req.query = envelope;
    http_resp_init(&resp2);
    CHECK_INT(handler_render_post(&req, &resp2, &app), 0);
    json_t *doc = body_json(&resp2);
    char digest[80];
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    CHECK_STR(json_string_value(json_object_get(doc, "digest")), digest);
    CHECK(json_is_array(json_object_get(doc, "secrets")));
    CHECK(json_is_object(json_object_get(doc, "config")));
    json_decref(doc);
    http_resp_release(&resp2);
    http_resp_release(&resp);
    secrets_destroy(sec);
}

static void test_render_errors(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    struct handler_app app;
    app_init(&app, sec);
    char code[64];
    struct {
        const char *body;
        const char *type;
        int status;
        const char *code;
    } cases[] = {
        {web_spec, "text/plain", 415, "UNSUPPORTED_MEDIA"},
        {"services: [", "application/yaml", 400, "SPEC_SYNTAX"},
        {web_spec, "application/json", 400, "SPEC_SYNTAX"},
        {"", NULL, 400, "SPEC_SYNTAX"},
        {"version: v2\nservices: {}\n", NULL, 422, "SPEC_INVALID"},
        {secret_spec, NULL, 422, "SECRET_NOT_FOUND"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct http_req req = post_req("/render", cases[i].body, cases[i].type);
        struct http_resp resp;
        http_resp_init(&resp);
        CHECK_INT(handler_render_post(&req, &resp, &app), 0);
        CHECK_INT(resp.status, cases[i].status);
        CHECK_STR(resp.content_type, "application/problem+json");
        CHECK_STR(problem_code(&resp, code, sizeof(code)), cases[i].code);
        http_resp_release(&resp);
    }
    secrets_destroy(sec);
}

/* An unknown key: the whole message, with the key's line and column and the nearest valid
 * field, in the problem's detail and errors[]; a long list of fields stays whole too. */
static void test_render_unknown_key_message(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    struct handler_app app;
    app_init(&app, sec);
    static const struct {
        const char *body, *path, *msg;
    } cases[] = {
        {"version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: nginx}\n"
         "    platfor: {os: linux, arch: amd64}\n",
         "services.web.platfor",
         "unknown field `platfor`, did you mean `platform`? (line 6, column 5)"},
        {"version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: nginx}\n"
         "    zzzzqqq: 1\n",
         "services.web.zzzzqqq", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct http_req req = post_req("/render", cases[i].body, NULL);
        struct http_resp resp;
        http_resp_init(&resp);
        CHECK_INT(handler_render_post(&req, &resp, &app), 0);
        CHECK_INT(resp.status, 422);
        json_t *doc = body_json(&resp);
        const json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
        const char *msg = json_string_value(json_object_get(first, "message"));
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        CHECK_STR(json_string_value(json_object_get(first, "path")), cases[i].path);
        CHECK(msg && detail);
        char want_detail[1024];
        snprintf(want_detail, sizeof(want_detail), "%s: %s", cases[i].path, msg ? msg : "");
        CHECK_STR(detail, want_detail);
        if (cases[i].msg) {
            CHECK_STR(msg, cases[i].msg);
        } else if (msg) { /* no close field: a bounded list of whole names, then the position */
            const char *head = "unknown field `zzzzqqq`, expected one of `rtype`, ";
            CHECK(strncmp(msg, head, strlen(head)) == 0);
            size_t n = strlen(msg);
            const char *tail = " more (line 6, column 5)";
            CHECK(n > strlen(tail) && strcmp(msg + n - strlen(tail), tail) == 0);
        }
        json_decref(doc);
        http_resp_release(&resp);
    }
    secrets_destroy(sec);
}

static void test_render_scopes(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    struct handler_app app;
    app_init(&app, sec);
    char code[64];
    struct http_req req = post_req("/render", web_spec, NULL);
    req.scope_allowed = deny_all;
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 403);
    CHECK_STR(problem_code(&resp, code, sizeof(code)), "FORBIDDEN");
    http_resp_release(&resp);

    /* Allowed for the request scope, not for the secret's "shop/api": 403 before any fetch. */
    req = post_req("/render", svc_secret_spec, NULL);
    req.scope_allowed = only_shop;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 403);
    json_t *doc = body_json(&resp);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(doc, "errors"), 0), "path")),
              "services.web.env.KEY");
    CHECK_CONTAINS(json_string_value(json_object_get(doc, "detail")), "shop/api");
    json_decref(doc);
    http_resp_release(&resp);

    req = post_req("/render", web_spec, NULL);
    req.scope_allowed = only_shop;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    http_resp_release(&resp);
    secrets_destroy(sec);
}

static void test_render_file_secrets(void)
{
    char dir[] = "/tmp/ocr-handlers-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/secrets.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) {
        return;
    }
    fputs("{\"shop\": {\"db\": {\"password\": \"s3cr3t-sentinel\"}}}\n", f);
    fclose(f);
    chmod(path, 0600);
    struct secrets *sec = secrets_of_kind(SECRETS_FILE, path);
    CHECK(sec != NULL);
    if (!sec) {
        return;
    }
    struct handler_app app;
    app_init(&app, sec);
    struct http_param envelope[] = {{"format", "envelope"}};
    struct http_req req = post_req("/render", secret_spec, "application/yaml");
    req.query = envelope;
    req.n_query = 1;
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    json_t *doc = body_json(&resp);
    CHECK_CONTAINS(resp.body, "DB_PASSWORD=s3cr3t-sentinel");
    json_t *list = json_object_get(doc, "secrets");
    CHECK_INT(json_array_size(list), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "ref")), "$S:db/password");
    CHECK(json_object_get(json_array_get(list, 0), "value") == NULL);
    json_decref(doc);
    http_resp_release(&resp);

    /* /validate never resolves: the value is a placeholder */
    req.query = NULL;
    req.n_query = 0;
    http_resp_init(&resp);
    CHECK_INT(handler_validate_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    CHECK(strstr(resp.body, "s3cr3t-sentinel") == NULL);
    http_resp_release(&resp);
    secrets_destroy(sec);
    unlink(path);
    rmdir(dir);
}

/* A vault nobody answers: the 503 of docs/secrets.md through the real render path, Retry-After and
 * all, without naming anything but the reference. */
static void test_render_vault_unreachable(void)
{
    struct secrets_settings s;
    struct err err;
    err_init(&err);
    CHECK_INT(secrets_settings_from_env(&s, &err), 0);
    s.kind = SECRETS_VAULT;
    s.vault_addr = "http://127.0.0.1:1";
    s.vault_allow_http = true;
    s.vault_token = "test-token";
    s.vault_max_retries = 0;
    s.vault_connect_timeout_ms = 500;
    s.vault_timeout_ms = 1000;
    s.log_level = LOG_ERROR;
    struct secrets *sec = secrets_create(&s, &err);
    if (!sec) {
        SKIP("the vault provider could not be created here");
    }
    struct handler_app app;
    app_init(&app, sec);
    struct http_req req = post_req("/render", secret_spec, NULL);
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(handler_render_post(&req, &resp, &app), 0);
    CHECK(resp.status == 503 || resp.status == 502 || resp.status == 504);
    CHECK_INT(resp.status, 503);
    CHECK_STR(resp.content_type, "application/problem+json");
    CHECK(strstr(resp.body, "test-token") == NULL);
    http_resp_release(&resp);
    http_resp_init(&resp);
    CHECK_INT(handler_readyz_get(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 503);
    http_resp_release(&resp);
    secrets_destroy(sec);
}

static void test_validate(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    struct handler_app app;
    app_init(&app, sec);
    struct {
        const char *body;
        const char *type;
        int status;
        int valid; /* -1: a problem document */
        unsigned warnings;
    } cases[] = {
        /* each valid plain spec has host_arch_assumed (no host facts) */
        {web_spec, NULL, 200, 1, 1},
        {secret_spec, NULL, 200, 1, 1}, /* no provider needed: never resolved */
        {warn_spec, "text/yaml", 200, 1, 2},
        {"version: v2\nservices: {}\n", NULL, 200, 0, 0},
        {"services: [", NULL, 200, 0, 0},
        {web_spec, "application/xml", 415, -1, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct http_req req = post_req("/validate", cases[i].body, cases[i].type);
        struct http_resp resp;
        http_resp_init(&resp);
        CHECK_INT(handler_validate_post(&req, &resp, &app), 0);
        CHECK_INT(resp.status, cases[i].status);
        json_t *doc = body_json(&resp);
        if (cases[i].valid >= 0) {
            CHECK_INT(json_is_true(json_object_get(doc, "valid")), cases[i].valid);
            CHECK_INT(json_array_size(json_object_get(doc, "errors")) > 0, !cases[i].valid);
            CHECK_INT(json_array_size(json_object_get(doc, "warnings")), cases[i].warnings);
            CHECK_INT(resp.warnings, cases[i].warnings);
        } else {
            CHECK_STR(resp.content_type, "application/problem+json");
        }
        json_decref(doc);
        http_resp_release(&resp);
    }
    struct http_req req = post_req("/validate", web_spec, NULL);
    req.scope_allowed = deny_all;
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(handler_validate_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 403);
    http_resp_release(&resp);
    secrets_destroy(sec);
}

static int fake_server_metrics(void *ctx, struct sbuf *out)
{
    (void)ctx;
    return sbuf_add(out, "fake_server_metric 1\n");
}

static void test_small_endpoints(void)
{
    struct secrets *sec = secrets_of_kind(SECRETS_NONE, NULL);
    struct handler_app app;
    app_init(&app, sec);
    app.server_metrics = fake_server_metrics;
    struct http_req req = {.method = "GET", .path = "/x"};
    struct http_resp resp;

    http_resp_init(&resp);
    CHECK_INT(handler_healthz_get(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    CHECK_CONTAINS(resp.body, "\"ok\"");
    http_resp_release(&resp);

    http_resp_init(&resp);
    CHECK_INT(handler_version_get(&req, &resp, &app), 0);
    CHECK_CONTAINS(resp.body, "\"9.9.9\"");
    CHECK_CONTAINS(resp.body, "\"ocirenderd\"");
    http_resp_release(&resp);

    http_resp_init(&resp);
    CHECK_INT(handler_readyz_get(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    http_resp_release(&resp);
    atomic_store(&app.draining, true);
    http_resp_init(&resp);
    CHECK_INT(handler_readyz_get(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 503);
    CHECK_CONTAINS(resp.body, "shutting down");
    http_resp_release(&resp);

    http_resp_init(&resp);
    CHECK_INT(handler_metrics_get(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    CHECK_CONTAINS(resp.content_type, "version=0.0.4");
    CHECK(strncmp(resp.body, "fake_server_metric 1\n", 21) == 0);
    CHECK_CONTAINS(resp.body, "ocirender_secret_requests_total");
    http_resp_release(&resp);

    http_resp_init(&resp);
    CHECK_INT(handler_bench_static_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 404);
    http_resp_release(&resp);
    app.bench_body = "{\"pad\":\"xx\"}\n";
    app.bench_body_len = strlen(app.bench_body);
    http_resp_init(&resp);
    CHECK_INT(handler_bench_static_post(&req, &resp, &app), 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(resp.body, app.bench_body);
    CHECK(http_resp_header(&resp, "ETag") && http_resp_header(&resp, "Ocirender-Warnings"));
    http_resp_release(&resp);
    secrets_destroy(sec);
}

/* ---- rendering through the handler ------------------------------------------------------------- */

static int render_once(struct handler_app *app, const char *body, const struct http_param *query,
                       size_t n_query, bool (*allowed)(const void *, const char *),
                       struct http_resp *resp)
{
    struct http_req req = post_req("/render", body, NULL);
    req.query = query;
    req.n_query = n_query;
    req.scope_allowed = allowed;
    http_resp_init(resp);
    return handler_render_post(&req, resp, app);
}

static int write_secrets(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    fprintf(f, "{\"shop\": {\"db\": {\"password\": \"%s\"}}}\n", value);
    fclose(f);
    return chmod(path, 0600);
}


/* A secret rotated in the file provider is served by the next render after a reload (SIGHUP). */
static void test_secret_rotation_after_reload(void)
{
    char dir[] = "/tmp/ocr-rotate-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/secrets.json", dir);
    CHECK_INT(write_secrets(path, "first-value"), 0);
    struct secrets *sec = secrets_of_kind(SECRETS_FILE, path);
    CHECK(sec != NULL);
    if (!sec) {
        return;
    }
    struct handler_app app;
    app_init(&app, sec);
    struct http_resp r;
    CHECK_INT(render_once(&app, secret_spec, NULL, 0, NULL, &r), 0);
    CHECK_CONTAINS(r.body, "DB_PASSWORD=first-value");
    http_resp_release(&r);
    CHECK_INT(write_secrets(path, "second-value"), 0);
    struct err err;
    err_init(&err);
    CHECK_INT(secrets_reload(sec, &err), 0);
    CHECK_INT(render_once(&app, secret_spec, NULL, 0, NULL, &r), 0);
    CHECK_CONTAINS(r.body, "DB_PASSWORD=second-value");
    http_resp_release(&r);
    secrets_destroy(sec);
    unlink(path);
    rmdir(dir);
}

/* Client bytes: valid UTF-8 stays, invalid bytes become \xNN, truncation keeps characters
 * whole; a problem built from an error quoting such bytes is valid JSON (it used to be a 500). */
static void test_text_sanitize(void)
{
    char out[64];
    http_text_sanitize("plain /path?x=1", out, sizeof(out));
    CHECK_STR(out, "plain /path?x=1");
    http_text_sanitize("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", out, sizeof(out));
    CHECK_STR(out, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    http_text_sanitize("/x\xff", out, sizeof(out));
    CHECK_STR(out, "/x\\xff");
    /* overlong, surrogate, past U+10FFFF, truncated sequence */
    http_text_sanitize("\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82", out, sizeof(out));
    CHECK_STR(out, "\\xc0\\xaf|\\xed\\xa0\\x80|\\xf4\\x90\\x80\\x80|\\xe2\\x82");
    char small[6];
    http_text_sanitize("ab\xc3\xa9\xff", small, sizeof(small));
    CHECK_STR(small, "ab\xc3\xa9");
    http_text_sanitize("abcd\xff", small, sizeof(small));
    CHECK_STR(small, "abcd");

    struct err err;
    err_init(&err);
    err_set(&err, ERR_SPEC_INVALID, "service", "no service '\xff' in the deployment");
    struct http_resp resp;
    http_resp_init(&resp);
    CHECK_INT(http_reply_problem(&resp, &err), 0);
    json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    CHECK(doc != NULL);
    CHECK_CONTAINS(json_string_value(json_object_get(doc, "detail")), "'\\xff'");
    json_decref(doc);
    http_resp_release(&resp);
}

HARNESS_MAIN(TEST(test_text_sanitize), TEST(test_routes_lookup), TEST(test_routes_404_405), TEST(test_routes_bench_hidden),
             TEST(test_routes_table_sane), TEST(test_content_types), TEST(test_accept_envelope),
             TEST(test_query_params), TEST(test_query_params_rejected), TEST(test_request_ids),
             TEST(test_problem_status_mapping), TEST(test_problem_secret_faults_headers),
             TEST(test_problem_auth_headers), TEST(test_problem_all_issues),
             TEST(test_resp_headers), TEST(test_render_plain), TEST(test_render_errors), TEST(test_render_unknown_key_message),
             TEST(test_render_scopes), TEST(test_render_file_secrets),
             TEST(test_render_vault_unreachable), TEST(test_validate), TEST(test_small_endpoints),
             TEST(test_secret_rotation_after_reload))
