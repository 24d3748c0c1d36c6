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
        memset(e, 0, sizeof(*e));
    }
}

int err_setv(struct err *e, enum err_code code, const char *path, const char *fmt, va_list ap)
{
    if (!e) {
        return -1;
    }
    if (e->code == ERR_OK) {
        e->code = code;
    }
    if (e->n_issues >= ERR_ISSUES_MAX) {
        e->n_dropped++;
        return -1;
    }
    struct err_issue *is = &e->issue[e->n_issues++];
    snprintf(is->path, sizeof(is->path), "%s", path ? path : "");
    vsnprintf(is->msg, sizeof(is->msg), fmt, ap);
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

void err_prefix(struct err *e, const char *prefix)
{
    if (!e || !prefix) {
        return;
    }
    for (unsigned i = 0; i < e->n_issues; i++) {
        char tmp[ERR_MSG_MAX];
        snprintf(tmp, sizeof(tmp), "%s%s", prefix, e->issue[i].msg);
        memcpy(e->issue[i].msg, tmp, sizeof(tmp));
    }
}

bool err_is_set(const struct err *e)
{
    return e && e->code != ERR_OK;
}

const char *err_message(const struct err *e)
{
    return (e && e->n_issues) ? e->issue[0].msg : "";
}

const char *err_path(const struct err *e)
{
    return (e && e->n_issues) ? e->issue[0].path : "";
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
