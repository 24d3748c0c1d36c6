#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/strutil.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < ARRAY_LEN(level_names) ? level_names[level] : "info";
}

int log_level_parse(const char *text, enum log_level *out, struct err *err)
{
    for (unsigned i = 0; i < ARRAY_LEN(level_names); i++) {
        if (text && str_eq_nocase(text, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (text && str_eq_nocase(text, "warning")) {
        *out = LOG_WARN;
        return 0;
    }
    return err_set(err, ERR_USAGE, "log-level",
                   "log level must be debug, info, warn or error, got '%s'", text ? text : "");
}

void log_hookv(const struct log_hook *h, enum log_level level, const char *fmt, va_list ap)
{
    if (!h || level < h->level) {
        return;
    }
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    (h->fn ? h->fn : log_hook_stderr)(h->ctx, level, msg);
}

void log_hookf(const struct log_hook *h, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_hookv(h, level, fmt, ap);
    va_end(ap);
}

void log_hook_stderr(void *ctx, enum log_level level, const char *msg)
{
    const char *who = ctx;
    bool named = who && *who;
    bool marked = level >= LOG_WARN;
    fprintf(stderr, "ocirender: %s%s%s%s%s\n", named ? who : "", named ? ": " : "",
            marked ? log_level_name(level) : "", marked ? ": " : "", msg);
}
