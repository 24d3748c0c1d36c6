/*
 * POST /render: parse the request, list its secret references, check the
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
    int rc = reply_ok(resp, &out, (unsigned)res->n_warnings);
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

/* ---- the same in two steps: the server waits for the vault without holding a thread ---- */

struct render_job {
    struct handler_app *app;
    struct render_query q;
    struct render_request *rr;
    struct render_secret_refs refs;
    struct secrets_wait *wait;
};

static void job_free(struct render_job *job)
{
    if (job) {
        render_secret_refs_release(&job->refs);
        render_request_free(job->rr);
        free(job);
    }
}

/* Render with the values in hand and answer; releases `values`. */
static int render_resolved(struct render_job *job, struct http_resp *resp, json_t *values,
                           json_t *list)
{
    struct err err;
    err_init(&err);
    struct render_result res = {0};
    int rc;
    if (render_execute(job->rr, &job->app->settings, values, &res, &err)) {
        rc = http_reply_problem(resp, &err);
    } else {
        rc = reply_rendered(resp, &res, &job->q, list);
    }
    json_decref(list);
    secrets_values_free(values);
    render_result_release(&res);
    return rc;
}

int handler_render_begin(const struct http_req *req, struct http_resp *resp,
                         struct handler_app *app, handler_wake_fn wake, void *ctx,
                         struct render_job **out)
{
    *out = NULL;
    struct err_issues issues; /* every problem the spec has, reported at once */
    struct err err;
    err_init_issues(&err, &issues);
    enum render_format fmt;
    struct render_job *job = calloc(1, sizeof(*job));
    if (!job) {
        return http_reply_error(resp, ERR_NOMEM, NULL, "out of memory");
    }
    job->app = app;
    if (http_body_format(req->content_type, &fmt, &err) || http_render_query(req, &job->q, &err) ||
        render_request_parse(req->body ? req->body : "", req->body_len, fmt, &job->q.params,
                             &job->rr, &err) ||
        render_request_secret_refs(job->rr, &job->refs, &err) ||
        handler_check_scopes(req, render_request_scope(job->rr), &job->refs, &err) ||
        secrets_wait_begin(app->secrets, &job->refs, wake, ctx, &job->wait, &err)) {
        job_free(job);
        return http_reply_problem(resp, &err);
    }
    if (secrets_wait_pending(job->wait)) {
        *out = job; /* wake(ctx) comes when the vault has answered */
        return 0;
    }
    return handler_render_finish(job, resp);
}

int handler_render_finish(struct render_job *job, struct http_resp *resp)
{
    struct err err;
    err_init(&err);
    json_t *values = NULL, *list = NULL;
    int rc;
    if (secrets_wait_finish(job->wait, &values, &list, &err)) {
        rc = http_reply_problem(resp, &err);
    } else {
        rc = render_resolved(job, resp, values, list);
    }
    job_free(job);
    return rc;
}

void handler_render_cancel(struct render_job *job)
{
    if (job) {
        struct err ignored;
        err_init(&ignored);
        secrets_wait_finish(job->wait, NULL, NULL, &ignored);
        job_free(job);
    }
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
