/* Helpers shared by the secrets providers: value extraction, wiping, credential files. */
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

#include "common/fileio.h"
#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"

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

/* ---- extraction ---- */

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

static int secret_file_mode_check(int fd, const char *path, size_t max, const char *what,
                                  struct err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return err_set(err, ERR_IO, NULL, "cannot stat %s %s: %s", what, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return err_set(err, ERR_SPEC_INVALID, NULL, "%s %s is not a regular file", what, path);
    }
    if (st.st_mode & 077) {
        return err_set(err, ERR_SPEC_INVALID, NULL,
                       "%s %s is readable or writable by group or others (mode %04o); refusing "
                       "it: chmod 600 it, or install -m 0600 a private copy (git checks files "
                       "out 0644)",
                       what, path, (unsigned)(st.st_mode & 07777));
    }
    if ((uint64_t)st.st_size > max) {
        return err_set(err, ERR_SPEC_INVALID, NULL, "%s %s is larger than %zu bytes", what, path,
                       max);
    }
    return 0;
}

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
    char *buf = NULL;
    if (secret_file_mode_check(fd, path, max, what, err) == 0) {
        buf = file_read_fd(fd, max, FILE_READ_REGULAR | FILE_READ_SECRET, len);
        if (!buf && errno == EFBIG) {
            err_set(err, ERR_SPEC_INVALID, NULL, "%s %s is larger than %zu bytes", what, path,
                    max);
        } else if (!buf) {
            err_set(err, ERR_IO, NULL, "cannot read %s %s: %s", what, path, strerror(errno));
        }
    }
    close(fd);
    return buf;
}
