/*
 * The render context (render/ctx.h): the state one render_execute() call shares with its step
 * files, and the helpers they report through. It lives apart from render.c, which runs the
 * steps, so a step file depends on the context and never on the file that calls it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/strutil.h"
#include "render/ctx.h"
#include "render/spec_path.h"

static const struct spec_resources no_resources;

int rctx_init(struct rctx *c, const struct render_request *req, const struct render_settings *set,
              const json_t *secrets, struct arena *a, struct err *err)
{
    memset(c, 0, sizeof(*c));
    c->req = req;
    c->set = set;
    c->secret_values = secrets;
    c->err = err;
    c->a = a;
    c->svc = req->service;
    c->res = c->svc->resources ? c->svc->resources : &no_resources;
    c->gpu = c->res->gpu;
    c->host = req->host;
    c->image = req->image_config;
    c->opt = req->options;
    c->wsl = c->host->wsl;
    rctx_set_service_path(c, req);
    c->host_network = req->host_network >= 0 ? req->host_network == 1 : c->svc->host_network;
    c->privileged = c->svc->privileged.set && c->svc->privileged.v;
    c->rootless = c->host->user && c->host->user->uid.v != 0;
    c->cgroup_version =
        c->host->cgroup && c->host->cgroup->version.set ? (int)c->host->cgroup->version.v : 2;
    c->cfg = arena_calloc(a, 1, sizeof(*c->cfg));
    return c->cfg ? 0 : rctx_nomem(c);
}

json_t *rctx_document(struct rctx *c, json_t **slot)
{
    if (!*slot && !(*slot = json_object())) {
        rctx_nomem(c);
    }
    return *slot;
}

void rctx_release(struct rctx *c)
{
    json_decref(c->cdi_edits);
    json_decref(c->linux_extra);
    json_decref(c->files);
    jsonx_wipe_strings(c->secret_files);
    json_decref(c->secret_files);
}

char *rctx_strdup(struct rctx *c, const char *s)
{
    char *copy = arena_strndup(c->a, s, strlen(s));
    if (!copy) {
        rctx_nomem(c);
    }
    return copy;
}

char *rctx_printf(struct rctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = n >= 0 ? arena_alloc(c->a, (size_t)n + 1) : NULL;
    if (!out) {
        rctx_nomem(c);
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

void rctx_set_service_path(struct rctx *c, const struct render_request *req)
{
    if (req->deployment_name) {
        spec_path_of_key(c->spath, sizeof(c->spath), "services", req->service_name);
    } else {
        c->spath[0] = '\0'; /* a bare ServiceSpec: its fields are the paths */
    }
}

const char *rctx_path(struct rctx *c, char *buf, size_t size, const char *field)
{
    size_t len;
    spec_path_set(buf, size, &len, c->spath);
    if (field && *field) {
        spec_path_push_path(buf, size, &len, field);
    }
    return buf;
}

static int rctx_vfail(struct rctx *c, enum err_code code, const char *field, const char *fmt,
                      va_list ap)
{
    char path[ERR_PATH_MAX];
    return err_setv(c->err, code, rctx_path(c, path, sizeof(path), field), fmt, ap);
}

int rctx_fail(struct rctx *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rctx_vfail(c, ERR_SPEC_INVALID, field, fmt, ap);
    va_end(ap);
    return -1;
}

int rctx_fail_code(struct rctx *c, enum err_code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rctx_vfail(c, code, field, fmt, ap);
    va_end(ap);
    return -1;
}

int rctx_nomem(struct rctx *c)
{
    return err_nomem(c->err);
}

int rctx_warn_at(struct rctx *c, const char *code, const char *path, const char *message)
{
    struct render_warning *list = arena_grow(c->a, c->warnings, c->n_warnings, &c->warnings_cap,
                                             sizeof(*list), 4);
    if (!list) {
        return rctx_nomem(c);
    }
    c->warnings = list;
    struct render_warning *w = &list[c->n_warnings];
    w->code = code;
    w->message = arena_strndup(c->a, message, strlen(message));
    w->path = arena_strndup(c->a, path, strlen(path));
    if (!w->message || !w->path) {
        return rctx_nomem(c);
    }
    c->n_warnings++;
    return 0;
}

int rctx_warn(struct rctx *c, const char *code, const char *field, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX], path[ERR_PATH_MAX];
    rctx_path(c, path, sizeof(path), field);
    if (!strchr(fmt, '%')) {
        return rctx_warn_at(c, code, path, fmt); /* fixed text: nothing to format */
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rctx_warn_at(c, code, path, msg);
}

const struct host_device *rctx_device_fact(const struct rctx *c, const char *path)
{
    const struct mlist *devs = &c->host->devices;
    for (size_t i = 0; i < devs->n; i++) {
        const struct host_device *d = mlist_ptr(devs, i);
        if (str_eq(d->path, path)) {
            return d;
        }
    }
    return NULL;
}

static const struct opt_list *fact_list(const struct rctx *c, const char *list)
{
    return strcmp(list, "dirs") == 0 ? &c->host->dirs : &c->host->files;
}

bool rctx_has_facts(const struct rctx *c, const char *list)
{
    return fact_list(c, list)->set;
}

bool rctx_fact_listed(const struct rctx *c, const char *list, const char *path)
{
    const struct mlist *items = &fact_list(c, list)->list;
    for (size_t i = 0; i < items->n; i++) {
        if (str_eq(mlist_str(items, i), path)) {
            return true;
        }
    }
    return false;
}
