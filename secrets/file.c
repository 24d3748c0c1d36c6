/*
 * The file provider: {"<scope>": {"<name>": "<value>" | {<data object>}}} from a JSON file that
 * only its owner may read (development, CI and `make run`).
 *
 * A string is the secret's `value` (so `$S:db/password` parses it as a JSON object, as with
 * vault); an object is the secret's data object, exactly as a vault KV v2 secret would hold it.
 * Other JSON values become the `value`. The file has no versions.
 */
#include "secrets/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/sbuf.h"
#include "common/strutil.h"

struct file_provider {
    char *path;
    pthread_mutex_t lock;
    json_t *doc; /* guarded by lock; replaced whole on reload */
    const struct log_hook *log;
};

/* Load and check the whole file; the old document stays in place if anything is wrong. */
static json_t *file_load(const char *path, struct err *err)
{
    size_t len = 0;
    char *text = secret_file_read(path, LIMIT_FILE_READ, &len, "secrets file", err);
    if (!text) {
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = jsonx_loadb(text, len, &jerr);
    mem_wipe(text, len);
    free(text);
    if (!doc) {
        /* Only the position: jansson's text may quote the (secret) input. */
        mem_wipe(jerr.text, sizeof(jerr.text));
        err_set(err, ERR_SPEC_INVALID, NULL,
                "secrets file %s is not valid JSON (line %d, column %d)", path, jerr.line,
                jerr.column);
        return NULL;
    }
    if (!json_is_object(doc)) {
        secret_json_decref(doc);
        err_set(err, ERR_SPEC_INVALID, NULL,
                "secrets file %s must hold an object {\"<scope>\": {\"<name>\": value}}", path);
        return NULL;
    }
    const char *scope;
    json_t *names;
    json_object_foreach(doc, scope, names)
    {
        if (!json_is_object(names) || jsonx_is_u64_box(names)) {
            err_set(err, ERR_SPEC_INVALID, NULL,
                    "secrets file %s: scope '%s' must map secret names to values", path, scope);
            secret_json_decref(doc); /* after the message: `scope` points into doc */
            return NULL;
        }
    }
    return doc;
}

void *file_provider_create(const struct secrets_settings *s, const struct log_hook *log,
                           struct err *err)
{
    if (!s->file_path || !*s->file_path) {
        err_set(err, ERR_SPEC_INVALID, "secrets-file",
                "the file secrets provider needs a file (OCIRENDER_SECRETS_FILE or "
                "--secrets-file)");
        return NULL;
    }
    struct file_provider *fp = calloc(1, sizeof(*fp));
    if (!fp || !(fp->path = str_dup(s->file_path))) {
        free(fp);
        err_nomem(err);
        return NULL;
    }
    fp->log = log;
    pthread_mutex_init(&fp->lock, NULL);
    fp->doc = file_load(fp->path, err);
    if (!fp->doc) {
        pthread_mutex_destroy(&fp->lock);
        free(fp->path);
        free(fp);
        return NULL;
    }
    log_hookf(log, LOG_INFO, "secrets file %s loaded (%zu scopes)", fp->path,
                 json_object_size(fp->doc));
    return fp;
}

static int file_get(void *impl, const char *scope, const char *name, unsigned version,
                    struct secret_doc *out, struct err *err)
{
    struct file_provider *fp = impl;
    if (version) {
        return err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                       "secret %s/%s@%u: the file provider has no versions to pin", scope, name,
                       version);
    }
    pthread_mutex_lock(&fp->lock);
    json_t *entry = json_object_get(json_object_get(fp->doc, scope), name);
    json_t *data = NULL;
    if (entry && json_is_object(entry) && !jsonx_is_u64_box(entry)) {
        data = json_deep_copy(entry);
    } else if (entry) {
        json_t *copy = json_deep_copy(entry);
        data = json_object();
        if (!copy || !data || json_object_set_new(data, "value", copy)) {
            secret_json_decref(data);
            data = NULL;
        }
    }
    pthread_mutex_unlock(&fp->lock);
    if (!entry) {
        return err_set(err, ERR_SECRET_NOT_FOUND, NULL,
                       "secret '%s' does not exist in scope '%s' of the secrets file", name,
                       scope);
    }
    if (!data) {
        return err_nomem(err);
    }
    out->data = data;
    out->version = -1;
    return 0;
}

static int file_reload(void *impl, struct err *err)
{
    struct file_provider *fp = impl;
    json_t *doc = file_load(fp->path, err);
    if (!doc) {
        log_hookf(fp->log, LOG_WARN, "secrets file %s not reloaded: %s", fp->path,
                     err_message(err));
        return -1;
    }
    pthread_mutex_lock(&fp->lock);
    json_t *old = fp->doc;
    fp->doc = doc;
    pthread_mutex_unlock(&fp->lock);
    secret_json_decref(old);
    log_hookf(fp->log, LOG_INFO, "secrets file %s reloaded", fp->path);
    return 0;
}

static int file_ready(void *impl, struct err *err)
{
    (void)impl;
    (void)err;
    return 0;
}

static void file_destroy(void *impl)
{
    struct file_provider *fp = impl;
    if (!fp) {
        return;
    }
    secret_json_decref(fp->doc);
    pthread_mutex_destroy(&fp->lock);
    free(fp->path);
    free(fp);
}

const struct provider_ops file_provider_ops = {
    .name = "file",
    .remote = false,
    .get = file_get,
    .reload = file_reload,
    .ready = file_ready,
    .destroy = file_destroy,
};
