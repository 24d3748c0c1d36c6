/* Helpers shared by the secrets providers: logging, value extraction, wiping, credential files. */
#include "secrets/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void secrets_logf(const struct secrets_log *log, enum secrets_log_level level, const char *fmt,
                  ...)
{
    if (!log || level < log->level) {
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log->fn) {
        log->fn(log->ctx, level, msg);
        return;
    }
    fprintf(stderr, "ocirender: secrets: %s: %s\n", level_names[level], msg);
}

int secrets_log_level_parse(const char *text, enum secrets_log_level *out, struct err *err)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++) {
        if (text && str_eq_nocase(text, level_names[i])) {
            *out = (enum secrets_log_level)i;
            return 0;
        }
    }
    if (text && str_eq_nocase(text, "warning")) {
        *out = SECRETS_LOG_WARN;
        return 0;
    }
    return err_set(err, ERR_SPEC_INVALID, "log-level",
                   "unknown log level '%s' (expected debug, info, warn or error)",
                   text ? text : "");
}

uint64_t secrets_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int secrets_parse_duration_ms(const char *text, unsigned *out)
{
    if (!text || !*text) {
        return -1;
    }
    size_t n = strlen(text), digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 9) {
        return -1;
    }
    char num[16];
    memcpy(num, text, digits);
    num[digits] = '\0';
    uint64_t v;
    if (str_to_u64(num, &v)) {
        return -1;
    }
    const char *unit = text + digits;
    uint64_t mult;
    if (!*unit || strcmp(unit, "s") == 0) {
        mult = 1000;
    } else if (strcmp(unit, "ms") == 0) {
        mult = 1;
    } else if (strcmp(unit, "m") == 0) {
        mult = 60000;
    } else if (strcmp(unit, "h") == 0) {
        mult = 3600000;
    } else {
        return -1;
    }
    (void)n;
    v *= mult;
    if (v > UINT32_MAX) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

uint32_t secrets_jitter(void)
{
    static _Thread_local uint32_t state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&state ^ (uint32_t)getpid();
        if (state == 0) {
            state = 0x9e3779b9u;
        }
    }
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

/* ---- wiping ---- */

static void wipe_tree(json_t *v)
{
    if (json_is_string(v)) {
        /* jansson keeps its own copy of the text; it is ours alone when the refcount is 1. */
        mem_wipe((void *)(uintptr_t)json_string_value(v), json_string_length(v));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            if (m->refcount == 1) {
                wipe_tree(m);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m)
        {
            if (m->refcount == 1) {
                wipe_tree(m);
            }
        }
    }
}

void secret_json_decref(json_t *v)
{
    if (!v) {
        return;
    }
    if (v->refcount == 1) {
        wipe_tree(v);
    }
    json_decref(v);
}

void secret_str_free(char *s)
{
    if (s) {
        mem_wipe(s, strlen(s));
        free(s);
    }
}

/* ---- extraction (contract 6) ---- */

/* One JSON value as env text: strings as-is, null as "", the rest as compact JSON. */
static char *value_text(const json_t *v, const char *what, struct err *err)
{
    char *out;
    if (json_is_string(v)) {
        out = str_ndup(json_string_value(v), json_string_length(v));
    } else if (json_is_null(v)) {
        out = str_dup("");
    } else {
        size_t len;
        out = jsonx_dump(v, JSONX_COMPACT, &len);
    }
    if (!out) {
        err_nomem(err);
        return NULL;
    }
    if (strlen(out) > LIMIT_SECRET_VALUE) {
        secret_str_free(out);
        err_set(err, ERR_SECRET_BACKEND, NULL, "the value of %s is longer than %u bytes", what,
                LIMIT_SECRET_VALUE);
        return NULL;
    }
    return out;
}

/* `value` as an object: itself when it is one, else its text parsed as a JSON object. */
static json_t *value_object(const json_t *value)
{
    if (json_is_object(value) && !jsonx_is_u64_box(value)) {
        return json_incref((json_t *)(uintptr_t)value);
    }
    if (!json_is_string(value)) {
        return NULL;
    }
    json_error_t jerr;
    json_t *obj = jsonx_loadb(json_string_value(value), json_string_length(value), &jerr);
    mem_wipe(jerr.text, sizeof(jerr.text)); /* jansson may quote the offending input */
    if (obj && (!json_is_object(obj) || jsonx_is_u64_box(obj))) {
        secret_json_decref(obj);
        return NULL;
    }
    return obj;
}

char *secret_extract(const json_t *data, const char *field, const char *what, struct err *err)
{
    if (!json_is_object(data)) {
        err_set(err, ERR_SECRET_BACKEND, NULL, "%s: the secret's data is not an object", what);
        return NULL;
    }
    const json_t *value = json_object_get(data, "value");
    if (!field) {
        if (!value) {
            err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: the secret has no 'value' key", what);
            return NULL;
        }
        return value_text(value, what, err);
    }
    const json_t *direct = json_object_get(data, field);
    if (direct) {
        return value_text(direct, what, err);
    }
    if (!value) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                "%s: the secret has no key '%s' and no 'value' to take it from", what, field);
        return NULL;
    }
    json_t *obj = value_object(value);
    if (!obj) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                "%s: the secret has no key '%s' and its 'value' is not a JSON object", what,
                field);
        return NULL;
    }
    const json_t *member = json_object_get(obj, field);
    char *out = NULL;
    if (!member) {
        err_set(err, ERR_SECRET_NOT_FOUND, NULL, "%s: the secret has no field '%s'", what, field);
    } else {
        out = value_text(member, what, err);
    }
    secret_json_decref(obj);
    return out;
}

/* ---- credential files ---- */

char *secret_file_read(const char *path, size_t max, size_t *len, const char *what,
                       struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        err_set(err, ERR_IO, NULL, "cannot open %s %s: %s", what, path, strerror(e));
        if (err) {
            err->sys_errno = e;
        }
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        err_set(err, ERR_IO, NULL, "cannot stat %s %s: %s", what, path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        err_set(err, ERR_SPEC_INVALID, NULL, "%s %s is not a regular file", what, path);
    } else if (st.st_mode & 077) {
        err_set(err, ERR_SPEC_INVALID, NULL,
                "%s %s is readable or writable by group or others (mode %04o); refusing it: "
                "chmod 600 it",
                what, path, (unsigned)(st.st_mode & 07777));
    } else if ((uint64_t)st.st_size > max) {
        err_set(err, ERR_SPEC_INVALID, NULL, "%s %s is larger than %zu bytes", what, path, max);
    } else {
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
            err_nomem(err);
        }
    }
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            err_set(err, ERR_IO, NULL, "cannot read %s %s: %s", what, path,
                    n < 0 ? strerror(errno) : "short read");
            mem_wipe(buf, got);
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (buf) {
        buf[got] = '\0';
        *len = got;
    }
    return buf;
}
