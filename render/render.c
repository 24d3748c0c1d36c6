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
    if (res->config) {
        json_decref(res->config->linux_extra);
        json_decref(res->config->cdi_edits);
        arena_release(&res->config->arena);
        free(res->config);
    }
    json_decref(res->files);
    jsonx_wipe_strings(res->secret_files);
    json_decref(res->secret_files);
    memset(res, 0, sizeof(*res));
}

json_t *render_result_warnings_json(const struct render_result *res)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < res->n_warnings; i++) {
        const struct render_warning *w = &res->warnings[i];
        if (json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "code", w->code, "message",
                                                  w->message, "path", w->path))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
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
static int render_hostname(struct rctx *c)
{
    const char *h = c->req->hostname;
    const char *field = "hostname";
    if (!h) {
        h = c->svc->hostname;
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
    c->cfg->hostname = h;
    return 0;
}

struct annotation {
    const char *key, *value;
};

static int cmp_annotations(const void *a, const void *b)
{
    return strcmp(((const struct annotation *)a)->key, ((const struct annotation *)b)->key);
}

/* labels (sorted) plus stop_signal, as annotations. */
static int render_annotations(struct rctx *c)
{
    const struct mmap *labels = &c->svc->labels;
    const char *sig = c->svc->stop_signal;
    size_t n = labels->n + (sig ? 1 : 0);
    struct annotation *ann = n ? arena_alloc(c->a, n * sizeof(*ann)) : NULL;
    const char **keys = n ? arena_alloc(c->a, n * sizeof(*keys)) : NULL;
    const char **values = n ? arena_alloc(c->a, n * sizeof(*values)) : NULL;
    if (n && (!ann || !keys || !values)) {
        return rctx_nomem(c);
    }
    for (size_t i = 0; i < labels->n; i++) {
        ann[i] = (struct annotation){labels->keys[i], mmap_str(labels, i)};
    }
    if (labels->n) {
        qsort(ann, labels->n, sizeof(*ann), cmp_annotations);
        if (!*ann[0].key) {
            return rctx_fail(c, "labels", "label names must not be empty");
        }
    }
    if (sig) {
        ann[labels->n] = (struct annotation){"org.opencontainers.image.stopSignal", sig};
    }
    for (size_t i = 0; i < n; i++) {
        keys[i] = ann[i].key;
        values[i] = ann[i].value;
    }
    c->cfg->n_annotations = n;
    c->cfg->annotation_keys = keys;
    c->cfg->annotation_values = values;
    return 0;
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

/* The members the steps do not fill, in the original's error precedence. */
static int assemble(struct rctx *c)
{
    const char *version = c->opt->oci_version;
    if (!version) {
        version = DEFAULT_OCI_VERSION;
    } else if (!valid_oci_version(version)) {
        return err_set(c->err, ERR_SPEC_INVALID, "options.oci_version",
                       "oci_version '%s' is not a SemVer version such as 1.0.2", version);
    }
    c->cfg->oci_version = version;
    c->cfg->root_path = "rootfs";
    c->cfg->root_readonly = c->svc->read_only_root_fs.set && c->svc->read_only_root_fs.v;
    return render_hostname(c) || render_annotations(c) ? -1 : 0;
}

/* The result's config: the typed config, the arena it lives in and the CDI edits it points
 * into. */
static struct render_config *config_new(void)
{
    struct render_config *rc = calloc(1, sizeof(*rc));
    if (rc) {
        arena_init(&rc->arena, RESULT_ARENA_LIMIT);
    }
    return rc;
}

int render_execute(const struct render_request *req, const struct render_settings *settings,
                   const json_t *secret_values, struct render_result *out, struct err *err)
{
    static const struct render_settings no_settings;
    struct render_config *config = config_new();
    if (!config) {
        return err_nomem(err);
    }
    struct rctx c;
    int rc = -1;
    if (rctx_init(&c, req, settings ? settings : &no_settings, secret_values, &config->arena,
                  err)) {
        goto done;
    }
    if (render_cdi(&c) || render_env(&c) || render_gpu_sharing_env(&c) || render_process(&c) ||
        render_mounts(&c) || render_devices(&c) || render_hooks_and_cdi_extras(&c) ||
        render_secret_files(&c) || render_linux(&c) || render_warn_unrendered(&c) ||
        assemble(&c)) {
        goto done;
    }
    if (json_object_size(c.linux_extra)) {
        c.cfg->linux_.extra = c.linux_extra;
        config->linux_extra = jsonx_steal(&c.linux_extra);
    }
    config->cdi_edits = jsonx_steal(&c.cdi_edits);
    config->oci = c.cfg;
    out->config = config;
    config = NULL;
    out->warnings = c.warnings;
    out->n_warnings = c.n_warnings;
    out->files = jsonx_steal(&c.files);
    out->secret_files = jsonx_steal(&c.secret_files);
    rc = 0;
done:
    rctx_release(&c);
    if (config) {
        arena_release(&config->arena);
        free(config);
    }
    return rc;
}
