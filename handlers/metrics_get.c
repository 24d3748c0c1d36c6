/* GET /metrics: Prometheus text exposition format 0.0.4 (server metrics, then secrets). */
#include "handlers/handlers.h"

#include <stdlib.h>

#include "common/sbuf.h"
#include "secrets/secrets.h"

#define METRICS_TEXT_MAX (1u << 20)

int handler_metrics_get(const struct http_req *req, struct http_resp *resp, struct handler_app *app)
{
    (void)req;
    struct sbuf out;
    sbuf_init(&out, METRICS_TEXT_MAX);
    if ((app->server_metrics && app->server_metrics(app->server_metrics_ctx, &out)) ||
        secrets_metrics(app->secrets, &out)) {
        sbuf_free(&out);
        return http_reply_error(resp, ERR_INTERNAL, NULL, "metrics text could not be built");
    }
    size_t len = 0;
    char *text = sbuf_take(&out, &len);
    if (!text) {
        return -1;
    }
    http_resp_release(resp);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    resp->body = text;
    resp->body_len = len;
    return 0;
}
