/*
 * Secrets as files (docs/secrets.md): an env var `NAME_FILE` whose value is a `$S:` reference
 * is the `_FILE` convention of official images. The value travels in the envelope's
 * `secret_files` (never in `files`, which the node writes into the on-disk bundle), the env
 * entry becomes NAME_FILE=/run/secrets/NAME, and the node's secret directory is bound
 * read-only at /run/secrets. The bind source rendered here is a default the node rewrites to
 * the tmpfs directory it actually wrote (client/bundle_secrets.c).
 */
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"

#define FILE_SUFFIX "_FILE"
#define FILE_SUFFIX_LEN (sizeof(FILE_SUFFIX) - 1)
#define SECRETS_DEST "/run/secrets"
#define SECRETS_DEFAULT_SOURCE "/run/ocirender/secrets/"
#define SECRET_FILE_MODE 0400

bool secret_file_key(const char *key, const char *value)
{
    size_t n = strlen(key);
    return str_has_prefix(value, "$S:") && n > FILE_SUFFIX_LEN &&
           strcmp(key + n - FILE_SUFFIX_LEN, FILE_SUFFIX) == 0;
}

/* The file name is the key without _FILE: it must be usable as one name in /run/secrets. */
static const char *file_name_problem(const char *name, size_t n)
{
    if (n > 255) {
        return "is longer than 255 bytes";
    }
    if (memchr(name, '/', n)) {
        return "contains '/'";
    }
    if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.')) {
        return "is '.' or '..'";
    }
    return NULL;
}

int secret_file_add(struct rctx *c, const char *key, const char *value, const char *path)
{
    size_t n = strlen(key) - FILE_SUFFIX_LEN;
    const char *problem = file_name_problem(key, n);
    if (problem) {
        return err_set(c->err, ERR_SPEC_INVALID, path,
                       "'%s' names a secret file '%.*s' (the name without _FILE) that %s", key,
                       (int)n, key, problem);
    }
    char name[256];
    memcpy(name, key, n);
    name[n] = '\0';
    char target[sizeof(SECRETS_DEST "/") + sizeof(name)];
    snprintf(target, sizeof(target), SECRETS_DEST "/%s", name);
    /* The value goes only into the secret_files document (wiped when released). */
    json_t *entry = json_object();
    if (!entry || json_object_set_new(entry, "value", json_string(value))) {
        json_decref(entry);
        return rctx_nomem(c);
    }
    json_t *secret_files = rctx_document(c, &c->secret_files);
    if (!secret_files) {
        json_decref(entry);
        return -1;
    }
    if (json_object_set_new(secret_files, name, entry)) { /* frees entry */
        return rctx_nomem(c);
    }
    return env_set(c, key, strlen(key), target);
}

/* The default source names the container: operators of a plain config.json put the files
 * there themselves; `ocirender` points it at the directory it wrote. */
static int secrets_mount(struct rctx *c)
{
    static const char *const options[] = {"rbind", "ro", "nosuid", "nodev", "noexec"};
    struct oci_mount *m = oci_mounts_push(c->a, &c->cfg->mounts);
    if (!m) {
        return rctx_nomem(c);
    }
    m->destination = SECRETS_DEST;
    m->type = "bind";
    m->source =
        rctx_printf(c, SECRETS_DEFAULT_SOURCE "%s", render_request_container_id(c->req));
    if (!m->source) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strv_push(c->a, &m->options, options[i])) {
            return rctx_nomem(c);
        }
    }
    return 0;
}

int render_secret_files(struct rctx *c)
{
    if (json_object_size(c->secret_files) == 0) {
        return 0;
    }
    const char *name;
    json_t *entry;
    json_object_foreach(c->secret_files, name, entry)
    {
        if (jsonx_set_int(entry, "uid", c->uid) || jsonx_set_int(entry, "gid", c->gid) ||
            jsonx_set_int(entry, "mode", SECRET_FILE_MODE)) {
            return rctx_nomem(c);
        }
    }
    /* One directory is mounted at /run/secrets: a volume the spec put there gives way. */
    struct oci_mounts *mounts = &c->cfg->mounts;
    for (size_t i = mounts->n; i-- > 0;) {
        if (str_eq(mounts->v[i].destination, SECRETS_DEST)) {
            if (rctx_warn(c, "secrets_mount_replaced", "env",
                          "the mount at " SECRETS_DEST " is replaced by the secret files "
                          "directory (env keys ending in _FILE with a $S: value)")) {
                return -1;
            }
            oci_mounts_remove(mounts, i);
        }
    }
    /* The directory is bound last, after every mount of the spec and of CDI. */
    return secrets_mount(c);
}
