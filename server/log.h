#ifndef OCIRENDER_SERVER_LOG_H
#define OCIRENDER_SERVER_LOG_H

/*
 * One JSON object per line on stderr: {"ts", "level", "event", ...}. Every line
 * is written with a single write(2), so lines from concurrent workers never interleave.
 *
 * What may be logged: methods, paths, statuses, sizes, durations, request ids, error codes and
 * messages of struct err (which never hold secret values). Never bodies, environment values,
 * tokens or secret values.
 *
 * Thread-safety: log_set_level() once at start-up, before the workers start; the rest is
 * thread-safe.
 */

#include <stdbool.h>

#include <jansson.h>

#include "common/compiler.h"
#include "common/err.h"
#include "common/log.h"

/* Levels and their parser are common/log.h's. */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Emit {"ts", "level", "event", <members of fields in order>}. `fields` is borrowed, may be
 * NULL. */
void log_event(enum log_level level, const char *event, const json_t *fields);

/* Emit {"ts", "level", "event", <the members `fill` writes>}: for lines written on every
 * request, without building a document per line. `fill` writes whole members (keys and values)
 * into the open object, compact; `ctx` is its own. */
struct jw;
typedef void (*log_fields_fn)(struct jw *w, const void *ctx);
void log_event_with(enum log_level level, const char *event, log_fields_fn fill,
                    const void *ctx);

/* Emit {"ts", "level", "event", "msg"}. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...) PRINTF(3, 4);

/* A common/log.h hook that writes {"ts", "level", "event": ctx, "msg"}: how libraries
 * (secrets/) log into this process's stream. `ctx` is the event name (a string). */
void log_hook_json(void *ctx, enum log_level level, const char *msg);

/* RFC 3339 UTC timestamp with milliseconds, "2026-11-29T10:04:05.123Z". */
void log_timestamp(char out[32]);

#endif
