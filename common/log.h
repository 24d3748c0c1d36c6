#ifndef OCIRENDER_COMMON_LOG_H
#define OCIRENDER_COMMON_LOG_H

/*
 * One log level scale and one hook through which libraries (secrets/, the HTTP client) report.
 * A library never decides where its messages go: its owner passes a `struct log_hook`.
 * ocirenderd's hook writes JSON lines (server/log.c); the CLI's, log_hook_stderr, writes
 * "ocirender: [CTX: ][LEVEL: ]MSG" lines. Messages must never contain a secret value or a
 * credential: they name references, never values.
 */

#include <stdarg.h>
#include <stdbool.h>

#include "common/compiler.h"
#include "common/err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* "debug", "info", "warn" (or "warning"), "error", any case. 0, or -1 with ERR_USAGE. */
int log_level_parse(const char *text, enum log_level *out, struct err *err);
const char *log_level_name(enum log_level level);

typedef void (*log_hook_fn)(void *ctx, enum log_level level, const char *msg);

struct log_hook {
    log_hook_fn fn;       /* NULL: log_hook_stderr */
    void *ctx;            /* passed to fn; for log_hook_stderr a component name or NULL */
    enum log_level level; /* messages below it are dropped */
};

/* Format and deliver one message (cut at 1 KiB). `h` may be NULL: nothing is logged. */
void log_hookf(const struct log_hook *h, enum log_level level, const char *fmt, ...)
    PRINTF(3, 4);
void log_hookv(const struct log_hook *h, enum log_level level, const char *fmt, va_list ap)
    PRINTF(3, 0);

/* The CLI's writer: one line on stderr, "ocirender: " + ctx + ": " (when ctx is a non-empty
 * string) + "warn: " or "error: " (for those levels) + msg. */
void log_hook_stderr(void *ctx, enum log_level level, const char *msg);

#endif
