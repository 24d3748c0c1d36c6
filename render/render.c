/*
 * render_execute(): the original renderer's algorithm with ocirender's deliberate changes
 * (README, "What ocirender changes compared with ZLayer's renderer"). Steps run in the
 * original's error precedence: CDI, env, GPU sharing, process (user, capabilities, ulimits),
 * mounts (storage, time-slicing), devices, linux.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/limits.h"
#include "common/strutil.h"
#include "render/ctx.h"

#define DEFAULT_OCI_VERSION "1.0.2"

void render_result_release(struct render_result *res)
{
    if (!res) {
        return;
    }
    json_decref(res->config);
    json_decref(res->warnings);
    json_decref(res->files);
    jsonx_wipe_strings(res->secret_files);
    json_decref(res->secret_files);
    memset(res, 0, sizeof(*res));
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > LIMIT_HOSTNAME) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0 || h[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || (ch == '-' && label > 0);
        if (!ok) {
            return false;
        }
        label++;
    }
    return label > 0 && h[n - 1] != '-';
}

/* Builder hostname (params/options) > spec.hostname > ContainerId; none under host
 * networking unless asked for (the container keeps a private copy of the host's name). */
static int render_hostname(struct rctx *c, json_t *config)
{
    const char *h = c->req->hostname;
    const char *field = "hostname";
    if (!h) {
        h = jsonx_get_str(c->svc, "hostname");
    } else {
        field = NULL;
    }
    if (!h && c->host_network) {
        return 0;
    }
    if (!h) {
        h = c->req->container_id;
    }
    if (!valid_hostname(h)) {
        if (!field) {
            return err_set(c->err, ERR_SPEC_INVALID, "hostname",
                           "hostname '%s' is not a valid RFC 1123 host name of at most 63 characters",
                           h);
        }
        return rctx_fail(c, field,
                         "hostname '%s' is not a valid RFC 1123 host name of at most 63 characters",
                         h);
    }
    return jsonx_set_str(config, "hostname", h) ? rctx_nomem(c) : 0;
}

static int add_annotation(struct rctx *c, json_t *ann, const char *key, const char *value)
{
    return jsonx_set_str(ann, key, value) ? rctx_nomem(c) : 0;
}

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* labels (sorted) plus stop_signal, as annotations. */
static json_t *render_annotations(struct rctx *c)
{
    json_t *ann = json_object();
    const json_t *labels = json_object_get(c->svc, "labels");
    size_t n = json_object_size(labels);
    const char **keys = n ? calloc(n, sizeof(*keys)) : NULL;
    if (!ann || (n && !keys)) {
        free(keys);
        json_decref(ann);
        rctx_nomem(c);
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)labels, k, v)
    {
        keys[i++] = k;
    }
    if (n) {
        qsort(keys, n, sizeof(*keys), cmp_strings);
    }
    for (i = 0; i < n; i++) {
        if (!*keys[i]) {
            free(keys);
            json_decref(ann);
            rctx_fail(c, "labels", "label names must not be empty");
            return NULL;
        }
        if (add_annotation(c, ann, keys[i], jsonx_get_str(labels, keys[i]))) {
            free(keys);
            json_decref(ann);
            return NULL;
        }
    }
    free(keys);
    const char *sig = jsonx_get_str(c->svc, "stop_signal");
    if (sig && add_annotation(c, ann, "org.opencontainers.image.stopSignal", sig)) {
        json_decref(ann);
        return NULL;
    }
    return ann;
}

static bool valid_oci_version(const char *v)
{
    int dots = 0;
    bool digit = false;
    for (const char *p = v; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            digit = true;
        } else if (*p == '.' && digit && dots < 2) {
            dots++;
            digit = false;
        } else if ((*p == '-' || *p == '+') && dots == 2 && digit) {
            return p[1] != '\0';
        } else {
            return false;
        }
    }
    return dots == 2 && digit;
}

static json_t *render_root(struct rctx *c)
{
    json_t *root = json_object();
    if (!root || jsonx_set_str(root, "path", "rootfs") ||
        jsonx_set_bool(root, "readonly", json_is_true(json_object_get(c->svc,
                                                                     "read_only_root_fs")))) {
        json_decref(root);
        rctx_nomem(c);
        return NULL;
    }
    return root;
}

static json_t *assemble(struct rctx *c, json_t *process, json_t *linux_obj)
{
    const char *version = jsonx_get_str(c->req->options, "oci_version");
    if (!version) {
        version = DEFAULT_OCI_VERSION;
    } else if (!valid_oci_version(version)) {
        err_set(c->err, ERR_SPEC_INVALID, "options.oci_version",
                "oci_version '%s' is not a SemVer version such as 1.0.2", version);
        return NULL;
    }
    /* Groups are complete only now: CDI edits may add to them after the process was built. */
    json_t *user = json_object_get(process, "user");
    if (json_array_size(c->additional_gids) &&
        json_object_set(user, "additionalGids", c->additional_gids)) {
        rctx_nomem(c);
        return NULL;
    }
    json_t *config = json_object();
    json_t *root = render_root(c);
    if (!config || !root || jsonx_set_str(config, "ociVersion", version) ||
        json_object_set_new(config, "root", jsonx_steal(&root)) ||
        json_object_set(config, "mounts", c->mounts) ||
        json_object_set(config, "process", process)) {
        json_decref(root);
        json_decref(config);
        rctx_nomem(c);
        return NULL;
    }
    if (render_hostname(c, config)) {
        json_decref(config);
        return NULL;
    }
    if (json_object_size(c->hooks) && json_object_set(config, "hooks", c->hooks)) {
        json_decref(config);
        rctx_nomem(c);
        return NULL;
    }
    json_t *ann = render_annotations(c);
    if (!ann || json_object_set_new(config, "annotations", ann) ||
        json_object_set(config, "linux", linux_obj)) {
        json_decref(config);
        if (!err_is_set(c->err)) {
            rctx_nomem(c);
        }
        return NULL;
    }
    return config;
}

int render_execute(const struct render_request *req, const struct render_settings *settings,
                   const json_t *secret_values, struct render_result *out, struct err *err)
{
    static const struct render_settings no_settings;
    struct rctx c;
    json_t *process = NULL, *linux_obj = NULL, *config = NULL;
    int rc = -1;
    if (rctx_init(&c, req, settings ? settings : &no_settings, secret_values, err)) {
        goto done;
    }
    if (render_cdi(&c) || render_env(&c) || render_gpu_sharing_env(&c)) {
        goto done;
    }
    process = render_process(&c);
    if (!process || render_mounts(&c) || render_devices(&c) || render_hooks_and_cdi_extras(&c) ||
        render_secret_files(&c)) {
        goto done;
    }
    linux_obj = render_linux(&c);
    if (!linux_obj || render_warn_unrendered(&c)) {
        goto done;
    }
    config = assemble(&c, process, linux_obj);
    if (!config) {
        goto done;
    }
    out->config = jsonx_steal(&config);
    out->warnings = jsonx_steal(&c.warnings);
    out->files = jsonx_steal(&c.files);
    out->secret_files = jsonx_steal(&c.secret_files);
    rc = 0;
done:
    json_decref(process);
    json_decref(linux_obj);
    rctx_release(&c);
    return rc;
}
