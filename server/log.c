#include "server/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/jsonx.h"
#include "common/jw.h"
#include "common/sbuf.h"

static atomic_int current_level = LOG_INFO;

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&current_level);
}

void log_timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* The whole line in one write(2): lines stay whole even with many writers. */
static void write_line(const char *text, size_t len)
{
    if (file_write_all(STDERR_FILENO, text, len) != 0) {
        return; /* stderr is gone: there is nowhere left to say so */
    }
}

static json_t *line_new(enum log_level level, const char *event, const json_t *fields)
{
    char ts[32];
    log_timestamp(ts);
    json_t *line = json_object();
    if (!line || jsonx_set_str(line, "ts", ts) ||
        jsonx_set_str(line, "level", log_level_name(level)) ||
        jsonx_set_str(line, "event", event)) {
        json_decref(line);
        return NULL;
    }
    const char *key;
    json_t *value;
    /* json_object_foreach needs a non-const object; the members are only read. */
    json_object_foreach ((json_t *)(uintptr_t)fields, key, value) {
        if (json_object_set(line, key, value)) {
            json_decref(line);
            return NULL;
        }
    }
    return line;
}

void log_event(enum log_level level, const char *event, const json_t *fields)
{
    if (!log_enabled(level)) {
        return;
    }
    json_t *line = line_new(level, event, fields);
    /* Log lines hold no u64 boxes, so plain jansson output is exact here; six significant
     * digits keep durations readable. */
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(line);
    if (!text) {
        static const char oom[] =
            "{\"level\":\"error\",\"event\":\"log\",\"msg\":\"out of memory\"}\n";
        write_line(oom, sizeof(oom) - 1);
        return;
    }
    size_t len = strlen(text);
    char *full = realloc(text, len + 2);
    if (!full) {
        free(text);
        return;
    }
    full[len] = '\n';
    full[len + 1] = '\0';
    write_line(full, len + 1);
    free(full);
}

/* A request line is a few hundred bytes; the path in it is bounded (LOG_PATH_MAX). */
#define LOG_LINE_MAX (16u << 10)

void log_event_with(enum log_level level, const char *event, log_fields_fn fill,
                    const void *ctx)
{
    if (!log_enabled(level)) {
        return;
    }
    char ts[32];
    log_timestamp(ts);
    struct sbuf b;
    struct jw w;
    sbuf_init(&b, LOG_LINE_MAX);
    jw_init(&w, &b, true, 0);
    jw_object_open(&w);
    jw_member_string(&w, "ts", ts);
    jw_member_string(&w, "level", log_level_name(level));
    jw_member_string(&w, "event", event);
    fill(&w, ctx);
    jw_object_close(&w);
    if (jw_finish(&w) || sbuf_addc(&b, '\n')) {
        static const char oom[] =
            "{\"level\":\"error\",\"event\":\"log\",\"msg\":\"out of memory\"}\n";
        write_line(oom, sizeof(oom) - 1);
    } else {
        write_line(sbuf_str(&b), sbuf_len(&b));
    }
    sbuf_free(&b);
}

/* log_msg goes through the common hook, so every message of the process has one path. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    struct log_hook hook = {log_hook_json, (void *)(uintptr_t)event,
                            (enum log_level)atomic_load(&current_level)};
    va_list ap;
    va_start(ap, fmt);
    log_hookv(&hook, level, fmt, ap);
    va_end(ap);
}

void log_hook_json(void *ctx, enum log_level level, const char *msg)
{
    if (!log_enabled(level)) {
        return;
    }
    json_t *fields = json_object();
    if (fields && jsonx_set_str(fields, "msg", msg) == 0) {
        log_event(level, ctx ? (const char *)ctx : "log", fields);
    }
    json_decref(fields);
}
