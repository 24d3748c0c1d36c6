/* GET /healthz: liveness. The process answers, so it is alive; nothing else is checked. */
#include "handlers/handlers.h"

#include "common/jsonx.h"

int handler_healthz_get(const struct http_req *req, struct http_resp *resp, struct handler_app *app)
{
    (void)req;
    (void)app;
    json_t *doc = json_object();
    int rc = -1;
    if (doc && !jsonx_set_str(doc, "status", "ok")) {
        rc = http_reply_json(resp, 200, doc, JSONX_PRETTY);
    }
    json_decref(doc);
    return rc;
}
