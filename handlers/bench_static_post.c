/*
 * POST /bench/static, only with the hidden --bench-static-route flag (bench/README.md): the
 * baseline of bench/render_vs_static. It goes through the same daemon, limits, body handling
 * and auth as POST /render, then answers a fixed body of the rendered config's size with the
 * same headers, so the ratio measures what rendering itself costs.
 */
#include "handlers/handlers.h"

int handler_bench_static_post(const struct http_req *req, struct http_resp *resp,
                              struct handler_app *app)
{
    (void)req;
    if (!app->bench_body) {
        return http_reply_error(resp, ERR_NOT_FOUND, NULL, "no such route");
    }
    /* A copy per request, as a render allocates its body too. */
    if (http_reply_text(resp, 200, "application/json", app->bench_body, app->bench_body_len)) {
        return -1;
    }
    return http_resp_set_header(resp, "ETag",
                                "\"sha256-0000000000000000000000000000000000000000000000000000"
                                "000000000000\"") ||
           http_resp_set_header(resp, "Ocirender-Warnings", "0");
}
