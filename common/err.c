#include "common/err.h"

#include <stdio.h>
#include <string.h>

struct err_code_info {
    const char *name;
    const char *title;
    int status;
};

static const struct err_code_info code_info[ERR_CODE_COUNT] = {
    [ERR_OK] = {"OK", "OK", 200},
    [ERR_NOMEM] = {"NOMEM", "Out of memory", 500},
    [ERR_TOO_LARGE] = {"TOO_LARGE", "Content too large", 413},
    [ERR_SPEC_SYNTAX] = {"SPEC_SYNTAX", "Malformed request body", 400},
    [ERR_SPEC_INVALID] = {"SPEC_INVALID", "Invalid spec", 422},
    [ERR_UNSUPPORTED_MEDIA] = {"UNSUPPORTED_MEDIA", "Unsupported media type", 415},
    [ERR_SECRET_NOT_FOUND] = {"SECRET_NOT_FOUND", "Secret not found", 422},
    [ERR_SECRET_DENIED] = {"SECRET_DENIED", "Secret store denied access", 502},
    [ERR_SECRET_BACKEND] = {"SECRET_BACKEND", "Secret store error", 502},
    [ERR_SECRET_UNAVAILABLE] = {"SECRET_UNAVAILABLE", "Secret store unavailable", 503},
    [ERR_SECRET_TIMEOUT] = {"SECRET_TIMEOUT", "Secret store timeout", 504},
    [ERR_UNAUTHORIZED] = {"UNAUTHORIZED", "Unauthorized", 401},
    [ERR_FORBIDDEN] = {"FORBIDDEN", "Forbidden", 403},
    [ERR_NOT_FOUND] = {"NOT_FOUND", "Not found", 404},
    [ERR_METHOD] = {"METHOD_NOT_ALLOWED", "Method not allowed", 405},
    [ERR_IO] = {"IO", "I/O error", 500},
    [ERR_INTERNAL] = {"INTERNAL", "Internal error", 500},
    [ERR_USAGE] = {"USAGE", "Usage error", 400},
    [ERR_BAD_REQUEST] = {"BAD_REQUEST", "Bad request", 400},
};

void err_init(struct err *e)
{
    if (e) {
        e->code = ERR_OK;
        e->sys_errno = 0;
        e->retry_after = 0;
        e->n_issues = 0;
        e->issues = NULL;
        e->first.path[0] = '\0';
        e->first.msg[0] = '\0';
    }
}

void err_init_issues(struct err *e, struct err_issues *list)
{
    err_init(e);
    if (e && list) {
        list->n = 0;
        list->n_dropped = 0;
        e->issues = list;
    }
}

static void issue_copy(struct err_issue *dst, const struct err_issue *src)
{
    memcpy(dst->path, src->path, strlen(src->path) + 1);
    memcpy(dst->msg, src->msg, strlen(src->msg) + 1);
}

int err_setv(struct err *e, enum err_code code, const char *path, const char *fmt, va_list ap)
{
    if (!e) {
        return -1;
    }
    if (e->code == ERR_OK) {
        e->code = code;
    }
    struct err_issue is;
    snprintf(is.path, sizeof(is.path), "%s", path ? path : "");
    vsnprintf(is.msg, sizeof(is.msg), fmt, ap);
    if (e->n_issues++ == 0) {
        issue_copy(&e->first, &is);
    }
    if (e->issues && e->issues->n < ERR_ISSUES_MAX) {
        issue_copy(&e->issues->item[e->issues->n++], &is);
    } else if (e->issues) {
        e->issues->n_dropped++;
    }
    return -1;
}

int err_set(struct err *e, enum err_code code, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_setv(e, code, path, fmt, ap);
    va_end(ap);
    return -1;
}

int err_nomem(struct err *e)
{
    return err_set(e, ERR_NOMEM, NULL, "out of memory");
}

static void prefix_text(char *text, size_t size, const char *prefix, const char *sep)
{
    char tmp[ERR_PATH_MAX > ERR_MSG_MAX ? ERR_PATH_MAX : ERR_MSG_MAX];
    snprintf(tmp, sizeof(tmp), "%s%s%s", prefix, text[0] ? sep : "", text);
    snprintf(text, size, "%s", tmp);
}

void err_prefix(struct err *e, const char *prefix)
{
    if (!e || !prefix || e->n_issues == 0) {
        return;
    }
    prefix_text(e->first.msg, sizeof(e->first.msg), prefix, "");
    for (unsigned i = 0; e->issues && i < e->issues->n; i++) {
        prefix_text(e->issues->item[i].msg, sizeof(e->issues->item[i].msg), prefix, "");
    }
}

void err_prefix_paths(struct err *e, const char *prefix, const char *sep)
{
    if (!e || !prefix || e->n_issues == 0) {
        return;
    }
    prefix_text(e->first.path, sizeof(e->first.path), prefix, sep);
    for (unsigned i = 0; e->issues && i < e->issues->n; i++) {
        prefix_text(e->issues->item[i].path, sizeof(e->issues->item[i].path), prefix, sep);
    }
}

unsigned err_issue_count(const struct err *e)
{
    if (!e) {
        return 0;
    }
    return e->issues ? e->issues->n : (e->n_issues ? 1 : 0);
}

const struct err_issue *err_issue_at(const struct err *e, unsigned i)
{
    return e->issues ? &e->issues->item[i] : &e->first;
}

unsigned err_issues_dropped(const struct err *e)
{
    if (!e) {
        return 0;
    }
    return e->issues ? e->issues->n_dropped : (e->n_issues > 1 ? e->n_issues - 1 : 0);
}

bool err_is_set(const struct err *e)
{
    return e && e->code != ERR_OK;
}

const char *err_message(const struct err *e)
{
    return (e && e->n_issues) ? e->first.msg : "";
}

const char *err_path(const struct err *e)
{
    return (e && e->n_issues) ? e->first.path : "";
}

const char *err_code_name(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT || !code_info[code].name) {
        return "INTERNAL";
    }
    return code_info[code].name;
}

const char *err_code_title(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT || !code_info[code].title) {
        return "Internal error";
    }
    return code_info[code].title;
}

int err_http_status(enum err_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT || !code_info[code].status) {
        return 500;
    }
    return code_info[code].status;
}
