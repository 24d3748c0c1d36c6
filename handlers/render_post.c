/*
 * POST /render (contract 3, 4): parse the request, list its secret references, check the
 * caller's scopes, resolve the secrets, render, and answer config.json or the envelope.
 */
#include "handlers/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/secrets.h"

/* 200 with the rendered text (moved into the response, which wipes it), its ETag and the
 * warning count. */
static int reply_ok(struct http_resp *resp, struct render_output *out, unsigned warnings)
{
    http_resp_release(resp);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = out->text;
    resp->body_len = out->len;
    resp->body_secret = true;
    resp->warnings = warnings;
    out->text = NULL;
    out->len = 0;
    if (http_resp_set_header(resp, "ETag", "\"sha256-%s\"", out->etag) ||
        http_resp_set_header(resp, "Ocirender-Warnings", "%u", warnings)) {
        return -1;
    }
    return 0;
}

static int reply_rendered(struct http_resp *resp, const struct render_result *res,
                          const struct render_query *q, const json_t *secrets_list)
{
    struct err err;
    err_init(&err);
    unsigned flags =
        (q->envelope ? RENDER_OUT_ENVELOPE : 0) | (q->compact ? RENDER_OUT_COMPACT : 0);
    struct render_output out;
    if (render_output_text(res, flags, secrets_list, &out, &err)) {
        return http_reply_problem(resp, &err);
    }
    int rc = reply_ok(resp, &out, (unsigned)json_array_size(res->warnings));
    render_output_release(&out);
    return rc;
}

/* Parse, check scopes, resolve the secrets, render, answer. */
static int render_and_reply(const struct http_req *req, struct http_resp *resp,
                            struct handler_app *app, enum render_format fmt,
                            const struct render_query *q)
{
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    struct render_request *rr = NULL;
    struct render_secret_refs refs = {0};
    struct render_result res = {0};
    json_t *values = NULL, *list = NULL;
    int rc;
    if (render_request_parse(req->body ? req->body : "", req->body_len, fmt, &q->params, &rr,
                             &err) ||
        render_request_secret_refs(rr, &refs, &err) ||
        handler_check_scopes(req, render_request_scope(rr), &refs, &err) ||
        secrets_resolve(app->secrets, &refs, &values, &list, &err) ||
        render_execute(rr, &app->settings, values, &res, &err)) {
        rc = http_reply_problem(resp, &err);
    } else {
        rc = reply_rendered(resp, &res, q, list);
    }
    json_decref(list);
    secrets_values_free(values);
    render_result_release(&res);
    render_secret_refs_release(&refs);
    render_request_free(rr);
    return rc;
}

int handler_render_post(const struct http_req *req, struct http_resp *resp, struct handler_app *app)
{
    struct err err;
    err_init(&err);
    enum render_format fmt;
    struct render_query q;
    if (http_body_format(req->content_type, &fmt, &err) || http_render_query(req, &q, &err)) {
        return http_reply_problem(resp, &err);
    }
    return render_and_reply(req, resp, app, fmt, &q);
}
