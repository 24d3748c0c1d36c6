/* GET /version: what is running, for operators and bug reports. */
#include "handlers/handlers.h"

#include "common/jsonx.h"
#include "secrets/secrets.h"

int handler_version_get(const struct http_req *req, struct http_resp *resp, struct handler_app *app)
{
    (void)req;
    json_t *doc = json_object();
    int rc = -1;
    if (doc && !jsonx_set_str(doc, "name", "ocirenderd") &&
        !jsonx_set_str(doc, "version", app->server_version ? app->server_version : "") &&
        !jsonx_set_str(doc, "http", app->http_library ? app->http_library : "") &&
        !jsonx_set_str(doc, "jansson", JANSSON_VERSION) &&
        !jsonx_set_str(doc, "secrets_provider", secrets_provider_name(app->secrets))) {
        rc = http_reply_json(resp, 200, doc, JSONX_PRETTY);
    }
    json_decref(doc);
    return rc;
}
