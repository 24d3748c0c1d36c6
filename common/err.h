#ifndef OCIRENDER_COMMON_ERR_H
#define OCIRENDER_COMMON_ERR_H

/*
 * The project's error value.
 *
 * A `struct err` is caller-owned, usually on the stack, small (one code and the first issue),
 * and never allocates, so reporting works under memory pressure. Fallible functions take it
 * last and return 0/-1 or pointer/NULL; they write out-parameters only on success and the
 * error only on failure. An issue is a spec path plus a message; the code decides the HTTP
 * status.
 *
 * Parsing and validation report every problem they find at once. A caller that wants them
 * all (the /render and /validate handlers, the CLI commands) attaches a `struct err_issues`
 * list with err_init_issues(); every issue is then also kept there, up to ERR_ISSUES_MAX (the
 * rest are counted). Without a list an error keeps its first issue and counts the others.
 * An err with a list must not be copied; the list must outlive it.
 *
 * Codes are append-only: never renumber or reuse one.
 */

#include <stdarg.h>
#include <stdbool.h>

#include "common/compiler.h"

enum err_code {
    ERR_OK = 0,
    ERR_NOMEM = 1,
    ERR_TOO_LARGE = 2,          /* 413: a body or document over its limit */
    ERR_SPEC_SYNTAX = 3,        /* 400: malformed YAML/JSON, or a construct we refuse */
    ERR_SPEC_INVALID = 4,       /* 422: well-formed, but not a valid spec or request */
    ERR_UNSUPPORTED_MEDIA = 5,  /* 415 */
    ERR_SECRET_NOT_FOUND = 6,   /* 422: a reference names a secret or field that does not exist */
    ERR_SECRET_DENIED = 7,      /* 502: the vault refused us (403) */
    ERR_SECRET_BACKEND = 8,     /* 502: the vault answered with an error or garbage */
    ERR_SECRET_UNAVAILABLE = 9, /* 503: sealed, unreachable, rate-limited */
    ERR_SECRET_TIMEOUT = 10,    /* 504 */
    ERR_UNAUTHORIZED = 11,      /* 401 */
    ERR_FORBIDDEN = 12,         /* 403 */
    ERR_NOT_FOUND = 13,         /* 404 */
    ERR_METHOD = 14,            /* 405 */
    ERR_IO = 15,                /* local I/O failure (500 on the server) */
    ERR_INTERNAL = 16,          /* a bug: 500 */
    ERR_USAGE = 17,             /* command-line usage error */
    ERR_BAD_REQUEST = 18,       /* 400: malformed request other than the body syntax */
    ERR_CODE_COUNT
};

#define ERR_ISSUES_MAX 16
#define ERR_PATH_MAX 192
#define ERR_MSG_MAX 384

struct err_issue {
    char path[ERR_PATH_MAX]; /* spec path ("services.web.env.DB"), "line 3, column 7", or "" */
    char msg[ERR_MSG_MAX];
};

/* Every issue of one parse/validate run, owned by the caller that reports them. */
struct err_issues {
    unsigned n;
    unsigned n_dropped; /* issues beyond ERR_ISSUES_MAX, counted but not kept */
    struct err_issue item[ERR_ISSUES_MAX];
};

struct err {
    enum err_code code;   /* the first code set wins */
    int sys_errno;        /* errno behind ERR_IO, else 0 */
    unsigned retry_after; /* seconds for Retry-After (503), 0 when not applicable */
    unsigned n_issues;    /* issues recorded, kept or not */
    struct err_issues *issues; /* optional: where every issue is kept */
    struct err_issue first;
};

void err_init(struct err *e);
/* err_init plus an (emptied) list that keeps every issue. */
void err_init_issues(struct err *e, struct err_issues *list);

/* Record an issue; sets the code if none is set yet. Returns -1 so callers can
 * `return err_set(...)`. `e` may be NULL; `path` may be NULL. */
int err_set(struct err *e, enum err_code code, const char *path, const char *fmt, ...)
    PRINTF(4, 5);
int err_setv(struct err *e, enum err_code code, const char *path, const char *fmt, va_list ap)
    PRINTF(4, 0);
int err_nomem(struct err *e);

/* Prefix the message of every issue with `prefix` (adds context on the way up). */
void err_prefix(struct err *e, const char *prefix);
/* Prefix every issue's path with `prefix`, joined by `sep` to a path that is not empty
 * ("spec" and ", ": "line 3, column 7" becomes "spec, line 3, column 7"). */
void err_prefix_paths(struct err *e, const char *prefix, const char *sep);

/* The issues to show: all kept ones with a list, else the first. err_issues_dropped() counts
 * the ones recorded but not kept. */
unsigned err_issue_count(const struct err *e);
const struct err_issue *err_issue_at(const struct err *e, unsigned i);
unsigned err_issues_dropped(const struct err *e);

bool err_is_set(const struct err *e);
const char *err_message(const struct err *e); /* first issue's message, "" if none */
const char *err_path(const struct err *e);    /* first issue's path, "" if none */

/* Static tables: stable name ("SPEC_INVALID"), human title, HTTP status (500 if unmapped). */
const char *err_code_name(enum err_code code);
const char *err_code_title(enum err_code code);
int err_http_status(enum err_code code);

#endif
