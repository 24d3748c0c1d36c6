/*
 * GET /readyz: readiness. Ready when the secrets provider can serve (for vault: reachable,
 * unsealed, token valid, as last seen by the background check: the probe never waits for the
 * vault) and the server is not
 * draining. The answer is a probe document, not a client error: {"ready", "provider",
 * "detail"} with 200 or 503 (plus Retry-After when the provider knows when to retry).
 */
#include "handlers/handlers.h"

#include "common/jsonx.h"
#include "secrets/secrets.h"

static int reply_readiness(struct http_resp *resp, bool ready, const char *provider,
                           const char *detail)
{
    json_t *doc = json_object();
    int rc = -1;
    if (doc && !jsonx_set_bool(doc, "ready", ready) && !jsonx_set_str(doc, "provider", provider) &&
        (!detail || !jsonx_set_str(doc, "detail", detail))) {
        rc = http_reply_json(resp, ready ? 200 : 503, doc, JSONX_PRETTY);
    }
    json_decref(doc);
    return rc;
}

int handler_readyz_get(const struct http_req *req, struct http_resp *resp, struct handler_app *app)
{
    (void)req;
    const char *provider = secrets_provider_name(app->secrets);
    if (atomic_load(&app->draining)) {
        return reply_readiness(resp, false, provider, "shutting down");
    }
    struct err err;
    err_init(&err);
    if (secrets_ready_nowait(app->secrets, &err) == 0) {
        return reply_readiness(resp, true, provider, NULL);
    }
    if (reply_readiness(resp, false, provider, err_message(&err))) {
        return -1;
    }
    resp->error_name = err_code_name(err.code);
    if (err.retry_after) {
        return http_resp_set_header(resp, "Retry-After", "%u", err.retry_after);
    }
    return 0;
}
