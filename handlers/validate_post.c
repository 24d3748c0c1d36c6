/*
 * POST /validate: parse, validate and render without resolving secrets ($S:
 * values become placeholders). The verdict on the spec is the answer, so an invalid spec is a
 * 200 {"valid": false, "errors": [...], "warnings": [...]}; problems with the request itself
 * (media type, query parameters, scopes) stay problem+json errors, as on /render.
 */
#include "handlers/handlers.h"

#include "common/jsonx.h"

/* Errors that describe the spec (a verdict), as opposed to the request or the server. */
static bool is_spec_verdict(enum err_code code)
{
    return code == ERR_SPEC_SYNTAX || code == ERR_SPEC_INVALID || code == ERR_SECRET_NOT_FOUND;
}

/* Render with placeholder secrets. 0 when the spec is valid, -1 with err otherwise. */
static int render_placeholders(const struct http_req *req, const struct handler_app *app,
                               const struct render_query *q, enum render_format fmt,
                               struct render_result *res, struct err *err)
{
    struct render_settings settings = app->settings;
    settings.placeholder_secrets = true;
    struct render_request *rr = NULL;
    struct render_secret_refs refs = {0};
    int rc = -1;
    if (render_request_parse(req->body ? req->body : "", req->body_len, fmt, &q->params, &rr,
                             err) == 0 &&
        render_request_secret_refs(rr, &refs, err) == 0 &&
        handler_check_scopes(req, render_request_scope(rr), &refs, err) == 0) {
        rc = render_execute(rr, &settings, NULL, res, err);
    }
    render_secret_refs_release(&refs);
    render_request_free(rr);
    return rc;
}

/* {"valid", "errors", "warnings"}; `err` NULL means valid (and `res` holds the render). */
static int reply_verdict(struct http_resp *resp, const struct err *err,
                         const struct render_result *res)
{
    json_t *doc = json_object();
    int rc = -1;
    if (doc && !jsonx_set_bool(doc, "valid", err == NULL) &&
        !json_object_set_new(doc, "errors", err ? http_err_issues_new(err) : json_array()) &&
        !json_object_set_new(doc, "warnings",
                             err ? json_array() : render_result_warnings_json(res))) {
        rc = http_reply_json(resp, 200, doc, JSONX_PRETTY);
    }
    json_decref(doc);
    if (rc == 0) {
        resp->warnings = err ? 0 : (unsigned)res->n_warnings;
        rc = http_resp_set_header(resp, "Ocirender-Warnings", "%u", resp->warnings);
    }
    return rc;
}

int handler_validate_post(const struct http_req *req, struct http_resp *resp,
                          struct handler_app *app)
{
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    enum render_format fmt;
    struct render_query q;
    struct render_result res = {0};
    int rc;
    if (http_body_format(req->content_type, &fmt, &err) || http_render_query(req, &q, &err)) {
        rc = http_reply_problem(resp, &err);
    } else if (render_placeholders(req, app, &q, fmt, &res, &err)) {
        rc = is_spec_verdict(err.code) ? reply_verdict(resp, &err, NULL)
                                       : http_reply_problem(resp, &err);
    } else {
        rc = reply_verdict(resp, NULL, &res);
    }
    render_result_release(&res);
    return rc;
}
