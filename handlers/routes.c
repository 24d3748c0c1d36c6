/* The static route table and its lookup: 404 for unknown paths, 405 + Allow. */
#include "handlers/handlers.h"

#include <stdio.h>
#include <string.h>

static const struct route route_table[] = {
    {"POST", "/render", "render", handler_render_post, ROUTE_BODY | ROUTE_AUTH, handler_render_begin},
    {"POST", "/validate", "validate", handler_validate_post, ROUTE_BODY | ROUTE_AUTH, NULL},
    {"GET", "/healthz", "healthz", handler_healthz_get, 0, NULL},
    {"GET", "/readyz", "readyz", handler_readyz_get, 0, NULL},
    {"GET", "/metrics", "metrics", handler_metrics_get, 0, NULL},
    {"GET", "/version", "version", handler_version_get, 0, NULL},
    /* Same body handling and auth as /render, so the benchmark compares like with like. */
    {"POST", "/bench/static", "bench_static", handler_bench_static_post,
     ROUTE_BODY | ROUTE_AUTH | ROUTE_BENCH, NULL},
};

const struct route *routes_table(size_t *n)
{
    *n = ARRAY_LEN(route_table);
    return route_table;
}

/* HEAD is GET without a body (libmicrohttpd drops the body), so GET routes answer it. */
static bool method_matches(const struct route *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static void append_allow(char *allow, size_t allow_len, const char *method)
{
    size_t used = strlen(allow);
    snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", method);
}

const struct route *routes_lookup(const char *method, const char *path, bool bench, char *allow,
                                  size_t allow_len, int *status)
{
    bool path_known = false;
    if (allow_len) {
        allow[0] = '\0';
    }
    for (size_t i = 0; i < ARRAY_LEN(route_table); i++) {
        const struct route *r = &route_table[i];
        if ((r->flags & ROUTE_BENCH) && !bench) {
            continue;
        }
        if (strcmp(r->path, path) != 0) {
            continue;
        }
        if (method_matches(r, method)) {
            return r;
        }
        path_known = true;
        if (allow_len) {
            append_allow(allow, allow_len, r->method);
            if (strcmp(r->method, "GET") == 0) {
                append_allow(allow, allow_len, "HEAD");
            }
        }
    }
    *status = path_known ? 405 : 404;
    return NULL;
}
