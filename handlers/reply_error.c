/*
 * Errors as RFC 9457 problem details. The error code, not the handler, decides the
 * status (err_http_status), so a secret fault raised deep in secrets/ becomes 502/503/504 here
 * without any handler knowing about it. Messages come from struct err and never hold values.
 */
#include "handlers/handlers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/jsonx.h"

/* "urn:ocirender:problem:spec-invalid": a stable identifier per error code. */
static void problem_type(enum err_code code, char *out, size_t out_len)
{
    const char *name = err_code_name(code);
    int n = snprintf(out, out_len, "urn:ocirender:problem:");
    for (size_t i = 0; name[i] && n >= 0 && (size_t)n + 1 < out_len; i++, n++) {
        char c = name[i];
        out[n] = c == '_' ? '-' : (char)tolower((unsigned char)c);
    }
    if (n >= 0 && (size_t)n < out_len) {
        out[n] = '\0';
    }
}

/* Messages and paths may quote client bytes (a query value, a header, a spec key): invalid
 * UTF-8 is escaped so the document can always be built. */
static int set_text(json_t *obj, const char *key, const char *text)
{
    char safe[4 * (ERR_PATH_MAX + ERR_MSG_MAX) + 8];
    http_text_sanitize(text, safe, sizeof(safe));
    return jsonx_set_str(obj, key, safe);
}

json_t *http_err_issues_new(const struct err *err)
{
    json_t *list = json_array();
    for (unsigned i = 0; list && i < err_issue_count(err); i++) {
        const struct err_issue *is = err_issue_at(err, i);
        json_t *item = json_object();
        if (!item || json_array_append_new(list, item) || set_text(item, "path", is->path) ||
            set_text(item, "message", is->msg)) {
            json_decref(list);
            return NULL;
        }
    }
    if (list && err_issues_dropped(err)) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%u more issues not shown", err_issues_dropped(err));
        json_t *item = json_object();
        if (!item || json_array_append_new(list, item) || jsonx_set_str(item, "path", "") ||
            jsonx_set_str(item, "message", msg)) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* "path: message" of the first issue, or the title when the error carries none. */
static void problem_detail(const struct err *err, char *out, size_t out_len)
{
    const char *path = err_path(err);
    const char *msg = err_message(err);
    if (!*msg) {
        snprintf(out, out_len, "%s", err_code_title(err->code));
    } else if (*path) {
        snprintf(out, out_len, "%s: %s", path, msg);
    } else {
        snprintf(out, out_len, "%s", msg);
    }
}

json_t *http_problem_new(int status, const struct err *err)
{
    char type[96], detail[ERR_PATH_MAX + ERR_MSG_MAX + 4];
    enum err_code code = err->code == ERR_OK ? ERR_INTERNAL : err->code;
    problem_type(code, type, sizeof(type));
    problem_detail(err, detail, sizeof(detail));
    json_t *doc = json_object();
    if (!doc || jsonx_set_str(doc, "type", type) ||
        jsonx_set_str(doc, "title", err_code_title(code)) || jsonx_set_int(doc, "status", status) ||
        set_text(doc, "detail", detail) || jsonx_set_str(doc, "code", err_code_name(code)) ||
        json_object_set_new(doc, "errors", http_err_issues_new(err))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Headers some statuses require: WWW-Authenticate (RFC 6750 3) and Retry-After. */
static int problem_headers(struct http_resp *resp, int status, const struct err *err)
{
    int rc = 0;
    if (status == 401) {
        rc |= http_resp_set_header(resp, "WWW-Authenticate", "Bearer realm=\"ocirender\"");
    } else if (status == 403 && err->code == ERR_FORBIDDEN) {
        rc |= http_resp_set_header(resp, "WWW-Authenticate",
                                   "Bearer realm=\"ocirender\", error=\"insufficient_scope\"");
    }
    if (err->retry_after) {
        rc |= http_resp_set_header(resp, "Retry-After", "%u", err->retry_after);
    }
    return rc;
}

int http_reply_problem_status(struct http_resp *resp, int status, const struct err *err)
{
    json_t *doc = http_problem_new(status, err);
    if (!doc) {
        return -1;
    }
    int rc = http_reply_json(resp, status, doc, JSONX_PRETTY);
    json_decref(doc);
    if (rc) {
        return -1;
    }
    resp->content_type = "application/problem+json";
    resp->error_name = err_code_name(err->code == ERR_OK ? ERR_INTERNAL : err->code);
    return problem_headers(resp, status, err);
}

int http_reply_problem(struct http_resp *resp, const struct err *err)
{
    return http_reply_problem_status(resp, err_http_status(err->code), err);
}

int http_reply_error(struct http_resp *resp, enum err_code code, const char *path, const char *fmt,
                     ...)
{
    struct err err;
    err_init(&err);
    va_list ap;
    va_start(ap, fmt);
    err_setv(&err, code, path, fmt, ap);
    va_end(ap);
    return http_reply_problem(resp, &err);
}
